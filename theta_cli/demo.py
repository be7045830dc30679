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
installed wheel has it). A directory made by the demo carries a marker file, so ``--force``
only ever deletes a previous demo, never anything else.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from theta_cli.core import layout, logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import DatasetLayout, RunLayout

MARKER = ".theta-demo"
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


def claim_dir(root: Path, force: bool) -> None:
    """An empty (or new) directory for the demo; a previous demo only with ``force``."""
    if root.exists() and not root.is_dir():
        raise ThetaError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not (root / MARKER).is_file():
            raise ThetaError(
                f"{root}: not empty and not a theta demo directory; choose another --dir"
            )
        if not force:
            raise ThetaError(f"{root}: holds a previous demo; pass --force to start again")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by theta demo\n", encoding="utf-8")


def run_demo(
    root: Path,
    force: bool = False,
    on_step: Callable[[int, int, str], None] | None = None,
    on_done: Callable[[int, str, float], None] | None = None,
) -> DemoResult:
    """Run the seven steps in ``root``; ``on_step(i, n, what)``/``on_done(i, what, seconds)``
    let the command show progress."""
    # Absolute: the run's config records the dataset paths, and bench or resume may be run
    # from another directory later.
    root = Path(root).resolve()
    claim_dir(root, force)
    result = DemoResult(root)
    data = DatasetLayout(root / "dataset")
    raw = data.root / "raw"
    steps: list[tuple[str, Callable[[], None]]] = [
        ("synthesize a dataset", lambda: _synth(raw)),
        ("prepare it", lambda: _prepare(raw, data)),
        ("train the quick demo model", lambda: _train(root, data, result)),
        ("byte-wise error of the last checkpoint", lambda: _eval_bytes(result)),
        ("bench against raw, RTS and Savitzky-Golay", lambda: _bench(result)),
        ("denoise one test track to GPX", lambda: _denoise_sample(root, data, result)),
    ]
    for i, (what, fn) in enumerate(steps, start=1):
        if on_step is not None:
            on_step(i, len(steps), what)
        t0 = time.perf_counter()
        fn()
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
        },
        f"theta_cli/recipes/{RECIPE}",
    )
    layout.set_models_dir(root / "models")
    outcome = run_training(NewRequest(cfg, f"the demo recipe ({RECIPE})"))
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
    res = bench.run(bench.BenchRequest(models=[str(result.run.root)], steps=list(BENCH_STEPS)))
    result.bench = res
    for chart in res.charts:
        result.paths[f"bench chart {chart.stem}"] = chart


def _denoise_sample(root: Path, data: DatasetLayout, result: DemoResult) -> None:
    """The dataset's first test track, as its noisy fixes in a CSV, denoised to GPX."""
    import pandas as pd

    from theta_cli.data.rawio import read_raw
    from theta_cli.eval.bench_data import read_dataset
    from theta_cli.infer import engine, outputs

    assert result.run is not None
    dataset = read_dataset(data.root)  # the manifest's splits and raw files, as bench reads them
    first = sorted(dataset.splits["test"])[0]
    for path in dataset.raw_files:
        t = read_raw(path)
        keep = t.agent == first
        if keep.any():
            break
    sample = root / "sample" / f"{first}.csv"
    sample.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "time": t.timestamp[keep], "latitude": t.lat_n[keep], "longitude": t.lon_n[keep],
    }).to_csv(sample, index=False)
    out = sample.with_name(f"{first}_clean.gpx")
    jobs = outputs.plan_jobs([sample], out, "gpx", force=True)
    report = engine.denoise_with_model(jobs, str(result.run.root), steps=10)
    f = report.files[0]
    log.info(f"denoised {f.points} fixes of test track {first} to {out}")
    result.paths["noisy sample track"] = sample
    result.paths["cleaned track (GPX)"] = out
