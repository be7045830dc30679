"""`theta bench` on the tiny dataset and run: the table, --json, bench.csv, the charts, --pairs,
the rule that nothing scored is tuned or trained on, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_refused, invoke, reset_theta_globals

from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout
from theta_cli.eval import bench
from theta_cli.eval.bench_data import read_dataset, read_pairs, read_tracks, track_class
from theta_cli.eval.trajectory import latlon_error

METHODS = ("raw (noisy)", "RTS", "robust RTS", "Savitzky-Golay")  # and any new baseline


@pytest.fixture
def models(theta_env: Path, tiny_run: RunLayout) -> Path:
    """A models dir holding a copy of the tiny run (bench appends to its bench.csv)."""
    out = theta_env / "models"
    shutil.copytree(tiny_run.root, out / tiny_run.name)
    return out


def _manifest(tiny_data: Path) -> dict:
    return json.loads((tiny_data / "state" / "prepare.json").read_text())


def _raw_rows(tiny_data: Path, agents: list[str]) -> pd.DataFrame:
    """The raw rows of ``agents``, straight from the files prepare read (not through bench)."""
    files = _manifest(tiny_data)["raw_files"]
    frames = [pd.read_parquet(f) if f.endswith(".parquet") else pd.read_csv(f) for f in files]
    raw = pd.concat(frames, ignore_index=True)
    return raw[raw["agent"].astype(str).isin(agents)]


def _synth(out: Path, seed: int, agents: int = 3, points: int = 400) -> Path:
    res = invoke("data", "synth", "--out", out, "--agents", agents, "--points", points,
                 "--files", 1, "--seed", seed, "--format", "csv")  # fmt: skip
    reset_theta_globals()
    assert res.exit_code == 0, res.output + res.stderr
    return out


# ---- units ----------------------------------------------------------------------------------


def test_parse_steps() -> None:
    assert bench.parse_steps("10") == [10]
    assert bench.parse_steps(" 1, 2,4,10,2") == [1, 2, 4, 10]
    for bad in ("", "1,,2", "a", "1.5", "0", "2,-1"):
        with pytest.raises(ThetaError, match="--steps"):
            bench.parse_steps(bad)


def test_track_class() -> None:
    assert [track_class(a) for a in ("walk_3", "cycle_0012", "drive_7", "car_1", "walk")] == [
        "walk",
        "cycle",
        "drive",
        None,
        None,
    ]


def test_tracks_are_whole_agents_in_time_order(tmp_path: Path) -> None:
    """An agent split over two files, out of order, with a non-finite row: one track, sorted,
    the bad row dropped; its identity names both files."""
    rows = {"agent": ["walk_1"] * 4, "timestamp": [3.0, 1.0, 2.0, 4.0],
            "longitude": [11.0, 11.0, 11.0, 11.0], "latitude": [48.0, 48.0, 48.0, np.nan],
            "longitude_n": [11.00003, 11.00001, 11.00002, 11.0],
            "latitude_n": [48.0, 48.0, 48.0, 48.0]}  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.iloc[:2].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[2:].to_csv(tmp_path / "b.csv", index=False)
    got = read_pairs(tmp_path, "--pairs")
    assert got.ids == ["walk_1"] and got.dropped == 1 and got.n_points == 3
    np.testing.assert_array_equal(got.time, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(got.lon, [11.00001, 11.00002, 11.00003])
    assert got.tracks[0].cls == "walk" and list(got.cls) == ["walk"] * 3
    assert sorted(got.keys()) == sorted(f"walk_1@{(tmp_path / f).resolve()}" for f in
                                        ("a.csv", "b.csv"))  # fmt: skip
    # ENU and back: the track's own frame round-trips to well under a millimetre.
    lat, lon = got.to_latlon([got.tracks[0].xy])
    assert latlon_error(lat, lon, got.lat, got.lon).max() < 1e-6


# ---- the tiny run, end to end ---------------------------------------------------------------


def test_bench_tiny_run_table_csv_charts(models: Path, tiny_run: RunLayout, tiny_data: Path):
    run = RunLayout(models / tiny_run.name)
    res = invoke("--models-dir", models, "bench", "--no-builtin", run.name, "--steps", "1,2")
    assert res.exit_code == 0, res.output + res.stderr
    out = res.stdout
    for needle in (
        *METHODS,
        "theta (1 step)",
        "theta (2 steps)",
        "median",
        "p95",
        "GSDC",
        "pts/s",
        "against the best baseline",
        "time (s)",
        "tuning",
        "baselines",
    ):
        assert needle in out, needle
    # The chosen parameters of each tuned baseline are printed.
    assert "q=" in out and "r=" in out and "gate=" in out and "window=" in out
    # Tiny data has walk/cycle/drive agents in its test split only as far as the split goes:
    # the per-class table is there whenever a class is.
    test_agents = _manifest(tiny_data)["splits"]["test"]["agents"]
    classes = {track_class(a) for a in test_agents} - {None}
    for c in classes:
        assert f"{c}\n" in out or f" {c} " in out

    rows = csvlog.read_bench_rows(run)
    assert [r.steps for r in rows] == [1, 2]
    best = bench.load_models([run.name])[0]
    for r in rows:
        assert r.ckpt_name == best.ckpt_name and r.ckpt_name.startswith("ckpt_epoch")
        assert r.data == f"test split of {tiny_data.resolve()}"
        assert r.points == len(_raw_rows(tiny_data, test_agents))
        assert r.p95 >= r.median > 0 and r.max >= r.p95 and r.points_per_s > 0
        assert r.gsdc == pytest.approx((r.median + r.p95) / 2)
        assert r.median_gain_pct == pytest.approx(
            100 * (r.best_baseline_median - r.median) / r.best_baseline_median
        )
    for name in bench.CHART_NAMES:
        path = run.fig_dir / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert str(path) in res.stdout


def test_bench_json_scores_what_denoise_writes(
    models: Path, tiny_run: RunLayout, tiny_data: Path, tmp_path: Path
) -> None:
    """--json: JSON only on stdout. The raw row is the raw files' own error on the test agents,
    and the theta row is exactly `theta denoise`'s output on the same tracks, scored."""
    run = RunLayout(models / tiny_run.name)
    res = invoke(
        "--models-dir", models, "bench", "--no-builtin", run.name, "--steps", "1", "--json"
    )
    assert res.exit_code == 0, res.output + res.stderr
    data = json.loads(res.stdout)
    assert data["data"] == f"test split of {tiny_data.resolve()}"
    assert data["tune_data"] == f"val split of {tiny_data.resolve()}"
    by = {r["method"]: r for r in data["rows"]}
    from theta_cli.eval.tuning import METHODS as TUNED

    assert set(by) == {*TUNED, "theta"}
    assert set(data["tuned"]) == set(TUNED)
    assert data["tuning"] == "pooled" and "pooled" in data["tuning_text"]
    for g in data["gains"].values():  # each gain has its interval and its word
        assert g["resamples"] >= 300 and g["low"] <= g["high"]
        assert g["verdict"] in ("better", "worse", "level")
    assert set(data["situations"]) == {"near_outlier", "stop", "turn", "cruise"}
    assert sum(data["situations"].values()) == data["points"]
    assert by["rts"]["params"] == data["tuned"]["rts"]["params"]
    assert set(data["timings"]) >= {"tuning", "baselines", "theta", "total"}
    assert len(data["charts"]) == len(bench.CHART_NAMES)
    assert data["bench_csv"] == [str(run.bench_csv)]

    agents = _manifest(tiny_data)["splits"]["test"]["agents"]
    raw = _raw_rows(tiny_data, agents)
    noisy = latlon_error(raw["latitude_n"].to_numpy(), raw["longitude_n"].to_numpy(),
                         raw["latitude"].to_numpy(), raw["longitude"].to_numpy())  # fmt: skip
    assert by["raw"]["points"] == len(raw)
    assert by["raw"]["median"] == pytest.approx(float(np.median(noisy)), abs=1e-9)
    assert by["raw"]["p95"] == pytest.approx(float(np.percentile(noisy, 95)), abs=1e-9)

    src = tmp_path / "test_tracks.csv"
    raw.to_csv(src, index=False)
    out = tmp_path / "denoised.csv"
    reset_theta_globals()
    res = invoke("--models-dir", models, "denoise", src, "--model", run.name, "--out", out,
                 "--steps", "1")  # fmt: skip
    assert res.exit_code == 0, res.output + res.stderr
    den = pd.read_csv(out)
    err = latlon_error(den["latitude_n"].to_numpy(), den["longitude_n"].to_numpy(),
                       den["latitude"].to_numpy(), den["longitude"].to_numpy())  # fmt: skip
    theta = by["theta"]
    assert theta["steps"] == 1 and theta["points"] == len(err)
    for key, value in (("mean", err.mean()), ("median", np.median(err)),
                       ("p95", np.percentile(err, 95)), ("max", err.max())):  # fmt: skip
        assert theta[key] == pytest.approx(float(value), abs=1e-6), key
    gain = data["gains"]["median"]
    best_base = min(by[m]["median"] for m in TUNED if m != "raw")
    assert gain["baseline_value"] == best_base
    assert gain["pct"] == pytest.approx(100 * (best_base - theta["median"]) / best_base)


def test_bench_pairs(models: Path, tiny_run: RunLayout, tiny_data: Path, tmp_path: Path):
    """--pairs scores other raw pairs (tuning stays on the model's val split); raw pairs that
    hold the val (or train) tracks are refused."""
    pairs = _synth(tmp_path / "other", seed=7)
    run = RunLayout(models / tiny_run.name)
    res = invoke(
        "--models-dir", models, "bench", "--no-builtin", run.name, "--pairs", pairs, "--json"
    )
    assert res.exit_code == 0, res.output + res.stderr
    data = json.loads(res.stdout)
    assert data["data"] == str(pairs) and data["tracks"] == 3
    assert data["tune_data"] == f"val split of {tiny_data.resolve()}"
    assert csvlog.read_bench_rows(run)[-1].data == str(pairs.resolve())
    reset_theta_globals()
    res = invoke(
        "--models-dir",
        models,
        "bench",
        "--no-builtin",
        run.name,
        "--pairs",
        tiny_data.parent / "raw",
    )
    assert_refused(res, "overlap", "tuned on and scored")


def test_tuning_never_sees_scored_tracks(
    models: Path, tiny_run: RunLayout, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from theta_cli.eval import tuning

    seen: list[list[str]] = []
    real = tuning.tune_all

    def spy(val, *args, **kwargs):
        seen.append([tr.id for tr in val])
        return real(val, *args, **kwargs)

    monkeypatch.setattr(tuning, "tune_all", spy)
    run = RunLayout(models / tiny_run.name)
    result = bench.run(
        bench.BenchRequest([run.name], steps=[1], record=False, charts=False, builtin=False)
    )
    splits = _manifest(tiny_data)["splits"]
    assert seen == [sorted(splits["val"]["agents"])]
    assert not set(seen[0]) & set(splits["test"]["agents"])
    assert result.tracks == len(splits["test"]["agents"])


def test_overlapping_splits_are_refused(tiny_data: Path, tmp_path: Path) -> None:
    """A dataset whose val and test splits share an agent cannot be benched: the tuning would
    have seen a scored track."""
    manifest = _manifest(tiny_data)
    test_agent = manifest["splits"]["test"]["agents"][0]
    manifest["splits"]["val"]["agents"].append(test_agent)
    root = tmp_path / "ds"
    (root / "state").mkdir(parents=True)
    (root / "state" / "prepare.json").write_text(json.dumps(manifest))
    ds = read_dataset(root)
    got = read_tracks(ds.raw_files, {"val": ds.splits["val"], "test": ds.splits["test"]})
    data = bench._Data(scored=got["test"], tune=got["val"], data_label="x")
    with pytest.raises(ThetaError, match=f"overlap.*{test_agent}"):
        bench.check_unseen(data, [])


def test_model_scored_on_its_own_training_tracks_is_refused(
    models: Path, tiny_run: RunLayout, tiny_data: Path
) -> None:
    """Tuned elsewhere (--tune-pairs), but scored on the raw files the model trained on."""
    run = RunLayout(models / tiny_run.name)
    raw = tiny_data.parent / "raw"
    other = _synth(models.parent / "tune", seed=3)
    reset_theta_globals()
    res = invoke(
        "--models-dir",
        models,
        "bench",
        "--no-builtin",
        run.name,
        "--pairs",
        raw,
        "--tune-pairs",
        other,
    )
    assert_refused(res, "train or val split", "never saw")


# ---- bad input ------------------------------------------------------------------------------


def test_bad_input_is_one_line(models: Path, tiny_run: RunLayout, tmp_path: Path) -> None:
    run = tiny_run.name
    cases = [
        (("bench", "--no-builtin", "nobody"), ("nobody: no such run",)),
        (("bench", "--no-builtin", run, "--steps", "1,x"), ("--steps",)),
        (("bench", "--no-builtin", run, "--steps", "0"), ("--steps", "at least 1")),
        (
            ("bench", "--no-builtin", run, "--pairs", tmp_path / "missing.parquet"),
            ("--pairs", "no such file"),
        ),
        (("bench", "--no-builtin", run, run), ("named twice",)),
        (("bench", "--no-builtin", run, "--device", "tpu"), ("--device",)),
    ]
    for args, needles in cases:
        reset_theta_globals()
        assert_refused(invoke("--models-dir", models, *args), *needles)
    assert not RunLayout(models / run).bench_csv.exists()


def test_model_without_dataset(models: Path, tiny_run: RunLayout, tmp_path: Path) -> None:
    """An exported model whose dataset is gone: --pairs is needed, then --tune-pairs (no val
    split), then --fig-dir (no run to hold the charts); with all three it runs."""
    exp = tmp_path / "exp"
    assert invoke("--models-dir", models, "export", tiny_run.name, "--out", exp).exit_code == 0
    cfg_path = exp / "log" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["train_dir"] = str(tmp_path / "gone" / "processed" / "train")
    cfg_path.write_text(json.dumps(cfg))
    pairs = _synth(tmp_path / "pairs", seed=11)
    tune = _synth(tmp_path / "tune", seed=12)
    figs = tmp_path / "figs"
    steps = [
        (("bench", "--no-builtin", exp, "--fig-dir", figs), ("dataset was not found", "--pairs")),
        (("bench", "--no-builtin", exp, "--pairs", pairs, "--fig-dir", figs), ("--tune-pairs",)),
        (("bench", "--no-builtin", exp, "--pairs", pairs, "--tune-pairs", tune), ("--fig-dir",)),
    ]
    for args, needles in steps:
        reset_theta_globals()
        assert_refused(invoke(*args), *needles)
    reset_theta_globals()
    res = invoke("bench", "--no-builtin", exp, "--pairs", pairs, "--tune-pairs", tune,
                 "--fig-dir", figs, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output + res.stderr
    data = json.loads(res.stdout)
    assert data["bench_csv"] == [] and data["tune_data"] == str(tune)
    assert sorted(p.name for p in figs.iterdir()) == sorted(bench.CHART_NAMES)
