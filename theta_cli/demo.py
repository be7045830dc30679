"""``theta demo``: the whole job end to end, on built-in defaults, in one directory.

    1. synthesize a dataset          data.synth.synthesize          DIR/dataset/raw
    2. prepare it                    data.prepare.prepare           DIR/dataset
    3. train the quick demo model    engine.recipe.run_training     DIR/models/<run>
    4. byte-wise error               eval.bytewise.evaluate         on its last checkpoint
    5. bench against the smoothers   eval.bench.run                 on the test tracks
    6. denoise one track to GPX      infer.engine                   DIR/sample/track_clean.gpx
    7. say where everything is

Every step calls the engine of the real command, never a copy. The quick demo model is
``recipes/cpu-small.json`` (the same file as ``examples/cpu-small.json``, packaged so that an
installed wheel has it).

A directory used by the demo carries a marker file that is also its manifest: every file the
demo wrote (with the size and mtime it had then) and every directory it created, rewritten
atomically after each step. ``--force`` removes exactly those files, if unchanged, then those
directories if empty, and says which other files it kept. A marker without a manifest (an
older theta's, or one made by hand) proves nothing, so ``--force`` then removes nothing.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from theta_cli.core import atomic, jsonfile, logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import DatasetLayout, RunLayout

MARKER = ".theta-demo"
#: Where the steps write, relative to the demo's directory: the manifest records files there.
OUTPUT_DIRS = ("dataset", "models", "sample")
#: Files the demo rebuilds from scratch; a foreign file there would be read as demo data.
REBUILT_DIR = "dataset"
MANIFEST_MADE_BY = "theta demo"
KEPT_SHOWN = 5
RECIPE = "cpu-small.json"
#: Euler steps the demo benches: the posterior mean (1) and the default sampler (10).
BENCH_STEPS = (1, 10)

log = logs.get_logger()


def recipe() -> dict[str, Any]:
    """The packaged quick demo model config."""
    return json.loads(resources.files("theta_cli.recipes").joinpath(RECIPE).read_text())


@dataclass
class DemoResult:
    root: Path
    run: RunLayout | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds)
    bench: Any = None  # the bench engine's result
    paths: dict[str, Path] = field(default_factory=dict)  # what -> where
    threads: int | None = None  # torch CPU threads for training (--threads; None: torch's)


@dataclass
class Manifest:
    """What the demo wrote in ``root`` (relative POSIX paths), kept in the marker file."""

    root: Path
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (size, mtime_ns)
    dirs: set[str] = field(default_factory=set)
    # Paths under OUTPUT_DIRS that were there before this demo began (files it kept): never
    # recorded, so a later --force cannot take them for the demo's.
    foreign: set[str] = field(default_factory=set)

    def record(self) -> None:
        """Add every file and directory the steps have written so far; save atomically."""
        for rel, st in _walk_outputs(self.root):
            if rel in self.foreign:
                continue
            if stat.S_ISDIR(st.st_mode):
                self.dirs.add(rel)
            else:
                self.files[rel] = (st.st_size, st.st_mtime_ns)
        self.save()

    def save(self) -> None:
        atomic.write_json(self.root / MARKER, {
            "made_by": MANIFEST_MADE_BY,
            "files": {rel: list(v) for rel, v in sorted(self.files.items())},
            "dirs": sorted(self.dirs),
        })  # fmt: skip


def _walk_outputs(root: Path) -> list[tuple[str, os.stat_result]]:
    """Regular files and real directories under OUTPUT_DIRS (symlinks are never followed)."""
    found: list[tuple[str, os.stat_result]] = []
    for top in OUTPUT_DIRS:
        if not (root / top).is_dir() or (root / top).is_symlink():
            continue
        found.append((top, os.lstat(root / top)))
        for dirpath, dirnames, filenames in os.walk(root / top):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                st = os.lstat(path)
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    found.append((path.relative_to(root).as_posix(), st))
    return found


def load_manifest(root: Path) -> Manifest | None:
    """The marker's manifest, or None when the marker holds none (older theta, or by hand)."""
    try:
        data = jsonfile.loads((root / MARKER).read_text(encoding="utf-8"), root / MARKER)
    except (OSError, ValueError, ThetaError):
        return None
    if not isinstance(data, dict) or data.get("made_by") != MANIFEST_MADE_BY:
        return None
    files, dirs = data.get("files"), data.get("dirs")
    if not isinstance(files, dict) or not isinstance(dirs, list):
        return None
    ok = all(
        isinstance(v, list) and len(v) == 2 and all(type(x) is int for x in v)
        for v in files.values()
    )
    if not ok or not all(isinstance(d, str) for d in dirs):
        return None
    return Manifest(root, {k: (v[0], v[1]) for k, v in files.items()}, set(dirs))


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` if that names a path inside ``root`` through real directories, else None:
    an entry never reaches outside, even in an edited manifest or through a symlink."""
    p = Path(rel)
    if not p.parts or p.is_absolute() or ".." in p.parts:
        return None
    target = root / p
    return target if target.parent.resolve() == root.resolve() / p.parent else None


def _removable(old: Manifest) -> list[Path]:
    """The manifest's files that are still exactly what the demo wrote."""
    out = []
    for rel, written in old.files.items():
        path = _inside(old.root, rel)
        if path is None:
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue  # already gone (theta prune, or by hand)
        if stat.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) == written:
            out.append(path)
    return out


def _kept(root: Path, demo_dirs: set[str], removable: set[Path]) -> list[str]:
    """What stays after removal: every entry that is not removable, seen through the demo's own
    directories (a foreign directory is listed whole, as ``name/``, and not walked)."""
    kept: list[str] = []

    def visit(rel_dir: str) -> None:
        with os.scandir(root / rel_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            is_dir = e.is_dir(follow_symlinks=False)
            if rel == MARKER:
                continue
            if is_dir and rel in demo_dirs:
                visit(rel)
            elif Path(e.path) not in removable:
                kept.append(rel + "/" if is_dir else rel)

    visit("")
    return sorted(kept)


def clear_previous(root: Path) -> Manifest:
    """Remove a previous demo's own files and empty directories; keep (and name) the rest.

    Refuses, removing nothing, when the marker holds no manifest, or when a kept file lies in
    the dataset directory that the new demo rebuilds. Returns the new demo's manifest."""
    old = load_manifest(root)
    if old is None:
        raise ThetaError(
            f"{root}: holds a {MARKER} marker but no record of the files theta demo wrote "
            "there (an older theta's demo, or a hand-made marker), so --force removes nothing; "
            "delete the old demo yourself or choose another --dir"
        )
    removable = _removable(old)
    demo_dirs = {d for d in old.dirs if (p := _inside(root, d)) is not None and p.is_dir()}
    kept = _kept(root, demo_dirs, set(removable))
    blocking = [k for k in kept if k == REBUILT_DIR or k.startswith(f"{REBUILT_DIR}/")]
    if blocking:
        raise ThetaError(
            f"{root / blocking[0]}: not written by theta demo, and the new demo rebuilds "
            f"{REBUILT_DIR}/; move it out (nothing was removed) or choose another --dir"
        )
    for path in removable:
        path.unlink()
    for d in sorted(demo_dirs, key=lambda d: d.count("/"), reverse=True):  # deepest first
        try:
            (root / d).rmdir()
        except OSError:
            pass  # not empty: it holds a kept file
    if kept:
        shown = ", ".join(kept[:KEPT_SHOWN]) + (
            f" and {len(kept) - KEPT_SHOWN} more" if len(kept) > KEPT_SHOWN else ""
        )
        files = "file" if len(kept) == 1 else "files"
        log.warning(f"kept {len(kept)} {files} theta demo did not write: {shown}")
    # Surviving demo directories stay the demo's; whatever else is there now is not.
    survivors = {d for d in demo_dirs if (root / d).is_dir()}
    foreign = {rel for rel, _ in _walk_outputs(root)} - survivors
    return Manifest(root, dirs=survivors, foreign=foreign)


def claim_dir(root: Path, force: bool) -> Manifest:
    """An empty (or new) directory for the demo; a previous demo's files only with ``force``.
    Returns the manifest the steps record their files in (already saved as the marker)."""
    if root.exists() and not root.is_dir():
        raise ThetaError(f"{root}: exists and is not a directory")
    manifest = Manifest(root)
    if root.is_dir() and any(root.iterdir()):
        if not (root / MARKER).is_file():
            raise ThetaError(
                f"{root}: not empty and not a theta demo directory; choose another --dir"
            )
        if not force:
            raise ThetaError(f"{root}: holds a previous demo; pass --force to start again")
        manifest = clear_previous(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest.save()
    return manifest


def run_demo(
    root: Path,
    force: bool = False,
    on_step: Callable[[int, int, str], None] | None = None,
    on_done: Callable[[int, str, float], None] | None = None,
    threads: int | None = None,
) -> DemoResult:
    """Run the seven steps in ``root``; ``on_step(i, n, what)``/``on_done(i, what, seconds)``
    let the command show progress; ``threads``: torch CPU threads for training."""
    # Absolute: the run's config records the dataset paths, and bench or resume may be run
    # from another directory later.
    root = Path(root).resolve()
    manifest = claim_dir(root, force)
    result = DemoResult(root, threads=threads)
    data = DatasetLayout(root / "dataset")
    raw = data.root / "raw"
    steps: list[tuple[str, Callable[[], None]]] = [
        ("synthesize a dataset", lambda: _synth(raw)),
        ("prepare it", lambda: _prepare(raw, data)),
        ("train the quick demo model", lambda: _train(root, data, result)),
        ("byte-wise error of the last checkpoint", lambda: _eval_bytes(result)),
        ("bench against the tuned classic smoothers", lambda: _bench(result)),
        ("denoise one test track to GPX", lambda: _denoise_sample(root, data, result)),
    ]
    for i, (what, fn) in enumerate(steps, start=1):
        if on_step is not None:
            on_step(i, len(steps), what)
        t0 = time.perf_counter()
        try:
            fn()
        finally:  # also after a failure or Ctrl-C: a later --force must know these files
            manifest.record()
        seconds = time.perf_counter() - t0
        result.steps.append((what, seconds))
        if on_done is not None:
            on_done(i, what, seconds)
    return result


def _synth(raw: Path) -> None:
    from theta_cli.data.synth import SynthConfig, synthesize

    summary = synthesize(SynthConfig(), raw)
    log.info(f"wrote {summary.fixes:,} fixes of {summary.agents} agents to {raw}")


def _prepare(raw: Path, data: DatasetLayout) -> None:
    from theta_cli.data.prepare import prepare

    summary = prepare(raw, data.root)
    sizes = ", ".join(f"{s} {st.samples:,} samples" for s, st in summary.splits.items())
    log.info(f"prepared {data.root}: {sizes}")


def _train(root: Path, data: DatasetLayout, result: DemoResult) -> None:
    from theta_cli.core.config import validate_train
    from theta_cli.engine.recipe import NewRequest, run_training

    cfg = validate_train(
        {
            **recipe(),
            "train_dir": str(data.split_dir("train")),
            "val_dir": str(data.split_dir("val")),
            "huber_delta_path": str(data.huber_path),
            "quick_val_path": str(data.quick_val_path),
            **({} if result.threads is None else {"threads": result.threads}),
        },
        f"theta_cli/recipes/{RECIPE}",
    )
    outcome = run_training(
        NewRequest(cfg, f"the demo recipe ({RECIPE})", models_dir=root / "models")
    )
    result.run = outcome.run
    assert outcome.run is not None
    result.paths["run"] = outcome.run.root
    result.paths["training charts"] = outcome.run.fig_dir


def _eval_bytes(result: DemoResult) -> None:
    from theta_cli.eval import bytewise

    assert result.run is not None
    last = result.run.checkpoints()[-1][2]
    res = bytewise.evaluate(bytewise.EvalRequest(last, cpu=True))
    s = res.summary
    log.info(
        f"{last.name}: velocity error overall {s.overall:.3f} m, payload {s.payload:.3f} m "
        f"(head buckle {s.head if s.head is not None else float('nan'):.3f} m)"
    )
    if res.chart is not None:
        result.paths["byte-wise chart"] = res.chart


def _bench(result: DemoResult) -> None:
    from theta_cli.eval import bench

    assert result.run is not None
    res = bench.run(bench.BenchRequest(models=[str(result.run.root)], steps=list(BENCH_STEPS),
                                       models_dir=result.root / "models"))
    result.bench = res
    for chart in res.charts:
        result.paths[f"bench chart {chart.stem}"] = chart


def _denoise_sample(root: Path, data: DatasetLayout, result: DemoResult) -> None:
    """The dataset's first test track, as its noisy fixes in a CSV, denoised to GPX."""
    import pandas as pd

    from theta_cli.data.rawio import read_raw
    from theta_cli.eval.bench_data import read_dataset
    from theta_cli.infer import engine, outputs
    from theta_cli.infer.request import DenoiseOptions, DenoiseRequest

    assert result.run is not None
    dataset = read_dataset(data.root)  # the manifest's splits and raw files, as bench reads them
    first = sorted(dataset.splits["test"])[0]
    for path in dataset.raw_files:
        t = read_raw(path)
        keep = t.agent == first
        if keep.any():
            break
    sample = root / "sample" / f"{first}.csv"
    out = sample.with_name(f"{first}_clean.gpx")
    for path in (sample, out):  # a previous demo's are gone (--force): this one is not theta's
        if path.exists():
            raise ThetaError(f"{path}: exists and theta demo did not write it; move it away")
    sample.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "time": t.timestamp[keep], "latitude": t.lat_n[keep], "longitude": t.lon_n[keep],
    }).to_csv(sample, index=False)
    jobs = outputs.plan_jobs([sample], out, "gpx", force=True)
    request = DenoiseRequest(tuple(jobs), str(result.run.root), options=DenoiseOptions(steps=10))
    report = engine.denoise_with_model(request)
    f = report.files[0]
    log.info(f"denoised {f.points} fixes of test track {first} to {out}")
    result.paths["noisy sample track"] = sample
    result.paths["cleaned track (GPX)"] = out
