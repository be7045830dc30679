"""`theta data ...`: make, prepare and check datasets.

Thin: each command parses its options, validates them and calls one engine function in
``theta_cli.data``. numpy, pydantic, torch and pandas load inside the commands; the option
defaults come from ``theta_cli.data.defaults``, plain constants the engine's models share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from theta_cli.commands import base
from theta_cli.commands.base import ThetaTyper
from theta_cli.core import logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import DatasetLayout
from theta_cli.data import defaults as D

app = ThetaTyper(help="Make, prepare and check datasets (synth, pairs, prepare, check).")


def _quiet() -> bool:
    """No live progress bar when stdout is not a terminal (CI logs, pipes, test runners)."""
    return not logs.console.is_terminal


def _validated(model: Any, where: str, **values: Any) -> Any:
    """Build a Pydantic model; a validation error becomes one line naming the CLI option."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as err:
        first = err.errors()[0]
        loc = first.get("loc") or ()
        option = "--" + str(loc[0]).replace("_", "-") if loc else where
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ThetaError(f"{option}: {msg}") from None


# The noise options, shared by synth and pairs (one NoiseModel, one set of flags).
_WHITE_SIGMA = typer.Option(D.WHITE_SIGMA_M, "--white-sigma", help="White jitter std per axis, m.")
_DRIFT_SIGMA = typer.Option(D.DRIFT_SIGMA_M, "--drift-sigma", help="AR(1) drift std per axis, m.")
_DRIFT_TAU = typer.Option(D.DRIFT_TAU_S, "--drift-tau", help="Drift time constant, s.")
_OUTLIER_RATE = typer.Option(
    D.OUTLIER_RATE, "--outlier-rate", help="Chance that a multipath jump starts at a fix."
)
_OUTLIER_MIN = typer.Option(D.OUTLIER_MIN_M, "--outlier-min", help="Smallest jump, m.")
_OUTLIER_MAX = typer.Option(D.OUTLIER_MAX_M, "--outlier-max", help="Largest jump, m.")
_OUTLIER_MAX_FIXES = typer.Option(
    D.OUTLIER_MAX_FIXES, "--outlier-max-fixes", help="A jump lasts 1..this many fixes."
)
_VARY_NOISE = typer.Option(
    0.0, "--vary-noise", help="Per-agent receiver spread F: white/drift sigma, drift tau and "
    "outlier rate each scaled by a log-uniform factor in [1/(1+F), 1+F] (0: off).",
)


def _noise_model(**values: Any) -> Any:
    from theta_cli.data.noise import NoiseModel

    return _validated(NoiseModel, "noise", **values)


def _notice_foreign(summary: Any) -> None:
    """--force left tables theta did not write beside its own: say so, once."""
    if summary.foreign:
        from theta_cli.data.rawout import foreign_notice

        logs.get_logger().warning(foreign_notice(summary.out, summary.foreign))


@app.command()
def synth(
    out: Path = typer.Option(Path(D.RAW_DIR), "--out", help="Directory for the raw files."),
    format: str = typer.Option(D.FORMAT, "--format", help="parquet or csv."),
    agents: int = typer.Option(D.AGENTS, "--agents", help="Number of agents (trajectories)."),
    points: int = typer.Option(D.POINTS, "--points", help="Fixes per agent (before any filling)."),
    files: int = typer.Option(D.FILES, "--files", help="Raw files (agents spread over them)."),
    seed: int = typer.Option(D.SEED, "--seed", help="Same seed, byte-identical files."),
    center_lat: float = typer.Option(D.CENTER_LAT, "--center-lat", help="Centre latitude, deg."),
    center_lon: float = typer.Option(D.CENTER_LON, "--center-lon", help="Centre longitude, deg."),
    radius: float = typer.Option(D.RADIUS_M, "--radius", help="Agents start within this many m."),
    jitter: float = typer.Option(D.JITTER_S, "--jitter", help="Fix-time jitter std, seconds."),
    missing_rate: float = typer.Option(
        D.MISSING_RATE, "--missing-rate", help="Fraction of lost fixes."
    ),
    motion: str = typer.Option(
        D.MOTION, "--motion", help=f"Motion model: {' or '.join(D.MOTIONS)} (curvy: smooth "
        "random curvature and speed wander; legs: the older near-straight legs)."
    ),
    sampling: str = typer.Option(
        "regular", "--sampling", help="regular: 1 Hz fixes (jitter, lost fixes); smart: a fix "
        "every 1-8 s, like a Garmin on smart recording; filled: smart, each step filled to 1 s "
        "as theta denoise fills it, clean rows on the true path (training data)."
    ),
    first_agent: int = typer.Option(
        0, "--first-agent", help="Index of the first agent: a second set with another value "
        "adds new agents (own names and noise) to prepare beside the first."
    ),
    white_sigma: float = _WHITE_SIGMA,
    drift_sigma: float = _DRIFT_SIGMA,
    drift_tau: float = _DRIFT_TAU,
    outlier_rate: float = _OUTLIER_RATE,
    outlier_min: float = _OUTLIER_MIN,
    outlier_max: float = _OUTLIER_MAX,
    outlier_max_fixes: int = _OUTLIER_MAX_FIXES,
    vary_noise: float = _VARY_NOISE,
    force: bool = typer.Option(
        False, "--force", help="Replace theta's own raw files in --out (never other tables)."
    ),
) -> None:
    """Write synthetic raw pairs (clean + noisy GPS tracks) and noise_model.json.

    Example: theta data synth --agents 32 --points 1800 --seed 1 --format csv
    """
    from rich.progress import Progress

    from theta_cli.data.synth import SynthConfig, synthesize

    noise = _noise_model(
        white_sigma=white_sigma, drift_sigma=drift_sigma, drift_tau=drift_tau,
        outlier_rate=outlier_rate, outlier_min=outlier_min, outlier_max=outlier_max,
        outlier_max_fixes=outlier_max_fixes, vary_noise=vary_noise,
    )
    cfg = _validated(
        SynthConfig, "synth", agents=agents, points=points, files=files, seed=seed,
        format=format, center_lat=center_lat, center_lon=center_lon, radius=radius,
        jitter=jitter, missing_rate=missing_rate, motion=motion, sampling=sampling,
        first_agent=first_agent,
    )
    with Progress(console=logs.console, transient=True, disable=_quiet()) as bar:
        task = bar.add_task("synth", total=cfg.agents)
        summary = synthesize(
            cfg, out, noise=noise, force=force, progress=lambda n: bar.advance(task, n)
        )
    _notice_foreign(summary)
    modes = ", ".join(f"{m} {c}" for m, c in sorted(summary.modes.items()))
    logs.get_logger().info(
        f"wrote {summary.fixes:,} fixes of {summary.agents} agents ({modes}) "
        f"in {len(summary.files)} {cfg.format} files to {summary.out} ({summary.seconds:.1f} s)"
    )


@app.command()
def pairs(
    sources: list[Path] | None = typer.Option(
        None, "--from", help="Track file (.gpx, .fit, .csv, .parquet) or directory; repeat it, "
        "or list more files after it.", show_default=False,
    ),
    more: list[Path] | None = typer.Argument(
        None, metavar="INPUT", help="More track files or directories (so that "
        "--from rides/*.gpx works).", show_default=False,
    ),
    out: Path = typer.Option(Path(D.RAW_DIR), "--out", help="Directory for the raw files."),
    format: str = typer.Option(D.FORMAT, "--format", help="parquet or csv."),
    files: int = typer.Option(1, "--files", help="Raw files (agents spread over them)."),
    seed: int = typer.Option(D.SEED, "--seed", help="Same seed, byte-identical files."),
    white_sigma: float = _WHITE_SIGMA,
    drift_sigma: float = _DRIFT_SIGMA,
    drift_tau: float = _DRIFT_TAU,
    outlier_rate: float = _OUTLIER_RATE,
    outlier_min: float = _OUTLIER_MIN,
    outlier_max: float = _OUTLIER_MAX,
    outlier_max_fixes: int = _OUTLIER_MAX_FIXES,
    vary_noise: float = _VARY_NOISE,
    lat_col: str | None = base.LAT_COL,
    lon_col: str | None = base.LON_COL,
    time_col: str | None = base.TIME_COL,
    track_col: str | None = base.TRACK_COL,
    force: bool = typer.Option(
        False, "--force", help="Replace theta's own raw files in --out (never other tables)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse a damaged FIT file (truncated, bad CRC, garbage) "
        "[default: keep the records before the damage, with a warning].",
    ),
) -> None:
    """Make raw pairs from your own tracks: each track is one agent, noised like synth.

    Example: theta data pairs --from rides/ --out dataset/raw --vary-noise 0.5
    """
    from theta_cli.data.pairs import PairsConfig, make_pairs
    from theta_cli.tracks.table import ColumnNames

    inputs = [*(sources or []), *(more or [])]
    if not inputs:
        raise ThetaError("no input given: name track files or directories with --from")
    noise = _noise_model(
        white_sigma=white_sigma, drift_sigma=drift_sigma, drift_tau=drift_tau,
        outlier_rate=outlier_rate, outlier_min=outlier_min, outlier_max=outlier_max,
        outlier_max_fixes=outlier_max_fixes, vary_noise=vary_noise,
    )
    cfg = _validated(PairsConfig, "pairs", files=files, seed=seed, format=format)
    columns = ColumnNames(lat_col, lon_col, time_col, track_col)
    summary = make_pairs(inputs, out, cfg, noise=noise, columns=columns, force=force,
                         strict=strict)  # fmt: skip
    # After the work: a refused run shows its one error line, not this notice first.
    base.warn_unused_columns(
        {"--lat-col": lat_col, "--lon-col": lon_col, "--time-col": time_col,
         "--track-col": track_col},
        [(s.path, s.kind) for s in summary.sources],
    )  # fmt: skip
    _notice_foreign(summary)
    log = logs.get_logger()
    if summary.cut_names:
        from theta_cli.data.rawio import MAX_AGENT_CHARS

        log.warning(
            f"{summary.cut_names} track name(s) longer than {MAX_AGENT_CHARS} characters cut to "
            f"{MAX_AGENT_CHARS} (the agent name is on every row); a hash suffix keeps them apart"
        )
    found = summary.agents + summary.skipped_tracks
    dropped = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in summary.dropped.items())
    log.info(
        f"read {len(summary.sources)} file(s): {found} track(s), {summary.agents} kept, "
        f"{summary.skipped_tracks} skipped (< 2 usable fixes); fixes dropped: {dropped}"
    )
    log.info(
        f"wrote {summary.fixes:,} fixes of {summary.agents} agents in {len(summary.files)} "
        f"{cfg.format} file(s) to {summary.out} ({summary.seconds:.1f} s)"
    )


_SPLIT_TEXT = ",".join(f"{f:g}" for f in D.SPLIT)


def _parse_split(text: str) -> tuple[float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ThetaError(f"--split: {text!r} is not three comma-separated fractions (0.8,0.1,0.1)")
    return values  # type: ignore[return-value]


@app.command()
def prepare(
    raw: list[Path] = typer.Option(
        [Path(D.RAW_DIR)], "--raw", help="Raw file or directory; repeat it to prepare several "
        "as one dataset (agent names must then be distinct across them)."
    ),
    out: Path = typer.Option(Path(D.DATASET_DIR), "--out", help="Dataset root to write into."),
    k: int = typer.Option(D.K, "--k", help="Points per chunk (a multiple of 8)."),
    overlap: int = typer.Option(D.OVERLAP, "--overlap", help="Points shared by neighbour chunks."),
    repeats: int = typer.Option(D.REPEATS, "--repeats", help="Samples (values of t) per chunk."),
    split: str = typer.Option(_SPLIT_TEXT, "--split", help="train,val,test agent fractions."),
    seed: int = typer.Option(D.SEED, "--seed", help="Seed for the split, t and quick_val."),
    quick_val: int = typer.Option(D.QUICK_VAL, "--quick-val", help="Samples in quick_val.pt."),
    files_per_split: int = typer.Option(
        D.FILES_PER_SPLIT, "--files-per-split",
        help="Files per split, data permitting (see --min-file-samples).",
    ),
    min_file_samples: int = typer.Option(
        D.MIN_FILE_SAMPLES, "--min-file-samples",
        help="Fewest samples per file when splitting a split.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in --out."),
) -> None:
    """Turn raw pairs into processed/{train,val,test}, state/huber_delta.json, quick_val.pt.

    Example: theta data prepare --raw dataset/raw --out dataset --k 256
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from theta_cli.data.prepare import PrepareOptions
    from theta_cli.data.prepare import prepare as run_prepare

    opts = PrepareOptions(
        k=k, overlap=overlap, repeats=repeats, split=_parse_split(split), seed=seed,
        quick_val=quick_val, files_per_split=files_per_split, min_file_samples=min_file_samples,
    )
    columns = (TextColumn("{task.description:8}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("raw files"))
    with Progress(*columns, console=logs.console, transient=True, disable=_quiet()) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        summary = run_prepare(raw, out, opts, force=force, progress=progress)
    _print_prepare(summary)


def _print_prepare(summary: Any) -> None:
    from rich.table import Table

    log = logs.get_logger()
    d = summary.delta
    table = Table(
        title=f"prepared {summary.out}  (K={summary.options.k}, "
        f"overlap={summary.options.overlap}, repeats={summary.options.repeats})",
        caption=f"skipped agents (< K fixes): {len(summary.skipped_agents)}    "
        f"huber delta: {d['delta']:.4f} m (q1 {d['q1']:.4f}, q3 {d['q3']:.4f}, "
        f"iqr {d['iqr']:.4f})",
    )
    for col in ("split", "agents", "chunks", "samples", "files"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for name, st in summary.splits.items():
        table.add_row(name, str(st.agents), f"{st.chunks:,}", f"{st.samples:,}", str(len(st.files)))
    logs.console.print(table)
    ds = DatasetLayout(summary.out)
    wrote = [ds.split_dir("train").parent, ds.huber_path, ds.manifest_path]
    if summary.quick_val:
        wrote.append(ds.quick_val_path)
    log.info(
        f"fix interval {summary.fix_interval_s:g} s (median gap between fixes); "
        f"fixes read {summary.fixes:,}, dropped (non-finite) {summary.dropped_rows:,}; "
        f"quick_val {summary.quick_val:,} samples; wrote {', '.join(map(str, wrote))}"
    )
    if summary.quick_val == 0:
        why = "--quick-val 0" if summary.options.quick_val == 0 else "the val split is empty"
        log.warning(f"no {ds.quick_val_path.name} written: {why}")
    if summary.out_of_order_agents:
        log.warning(
            f"{len(summary.out_of_order_agents)} agent(s) have rows in a later raw file that "
            "start before rows already chunked (files not in time order per agent), e.g. "
            f"{summary.out_of_order_agents[0]}; their chunks follow file order"
        )


@app.command()
def check(
    target: Path = typer.Argument(..., help="An epoch file or a directory of them."),
) -> None:
    """Validate epoch files: keys, shapes, dtypes, finite values, K, t in [0, 1).

    Example: theta data check dataset/processed
    """
    from rich.table import Table

    from theta_cli.data.check import FileReport
    from theta_cli.data.check import check as run_check

    def show(rep: FileReport) -> None:
        table = Table(title=f"{rep.path}  N={rep.n:,} K={rep.k} channels={rep.channels}",
                      title_justify="left")
        for col in ("key", "shape", "dtype", "min", "max", "mean"):
            table.add_column(col, justify="left" if col in ("key", "dtype") else "right")
        for ks in rep.keys:
            table.add_row(ks.key, str(list(ks.shape)) if ks.shape else "", ks.dtype,
                          f"{ks.min:.4g}", f"{ks.max:.4g}", f"{ks.mean:.4g}")
        logs.console.print(table)

    reports = run_check(target, on_file=show)
    logs.get_logger().info(f"ok: {len(reports)} file(s), K={reports[0].k}, "
                           f"{sum(r.n for r in reports):,} samples")
