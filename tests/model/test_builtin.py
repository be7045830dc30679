"""The built-in default model: shipped in the package, loaded when no model is given, and
better than the raw track and a tuned RTS smoother on synthetic motion it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

from theta_cli.artifact.load import load_model
from theta_cli.artifact.resolve import builtin_dir

ROOT = Path(__file__).resolve().parents[2]


def test_the_builtin_model_loads_and_matches_its_recipe() -> None:
    loaded = load_model(None)
    assert loaded.description == "the built-in default model"
    assert loaded.source == builtin_dir()
    recipe = json.loads((ROOT / "examples" / "default-model.json").read_text())
    for key in ("model_type", "hidden", "layers", "K", "ema_decay"):
        assert getattr(loaded.config, key) == recipe[key], key
    size = (builtin_dir() / "model.safetensors").stat().st_size
    assert size <= 5 * 1024 * 1024, "the package ships at most 5 MB of weights"
    assert (builtin_dir() / "MODEL_CARD.md").is_file()


def test_denoise_without_a_model_uses_the_builtin(theta_env: Path) -> None:
    rows = ["time,lat,lon"] + [f"{1767225600 + i},{48.1 + i * 1e-5:.7f},{11.5:.7f}"
                               for i in range(300)]  # fmt: skip
    (theta_env / "t.csv").write_text("\n".join(rows) + "\n")
    result = invoke("denoise", "t.csv", "--out", "clean.csv", "--steps", "1")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "the built-in default model" in result.stdout + result.stderr
    assert len((theta_env / "clean.csv").read_text().splitlines()) == 301


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from theta_cli.data.synth import SynthConfig, synthesize

    base = tmp_path_factory.mktemp("builtin_pairs")
    # Agents with seeds the model never saw (it trained on seed 2026): one set to tune RTS on,
    # one to score.
    synthesize(SynthConfig(agents=6, points=1200, files=1, seed=1234), base / "tune")
    synthesize(SynthConfig(agents=6, points=1200, files=1, seed=4321), base / "score")
    return base / "tune", base / "score"


def test_the_builtin_beats_raw_and_a_tuned_rts(pairs: tuple[Path, Path], tmp_path: Path) -> None:
    from theta_cli.eval import bench

    tune, score = pairs
    result = bench.run(bench.BenchRequest(
        models=[], steps=[1], pairs=score, tune_pairs=tune, fig_dir=tmp_path, record=False,
        charts=False,
    ), log=lambda _m: None)  # fmt: skip
    rows = {r.method if not r.is_theta else "theta": r for r in result.rows}
    theta, raw, rts = rows["theta"], rows["raw"], rows["rts"]
    assert theta.median < 0.8 * raw.median and theta.p95 < 0.8 * raw.p95
    assert theta.median < rts.median and theta.p95 < rts.p95


def test_bench_adds_the_builtin_unless_told_not_to(
    theta_env: Path, tiny_run, tmp_path: Path
) -> None:
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_run.root, models / tiny_run.name)
    with_it = invoke("--models-dir", models, "bench", tiny_run.name, "--steps", "1", "--json")
    assert with_it.exit_code == 0, with_it.stderr
    described = [m["description"] for m in json.loads(with_it.stdout)["models"]]
    assert described[-1] == "the built-in default model" and len(described) == 2
    without = invoke("--models-dir", models, "bench", tiny_run.name, "--steps", "1", "--json",
                     "--no-builtin")  # fmt: skip
    assert len(json.loads(without.stdout)["models"]) == 1
