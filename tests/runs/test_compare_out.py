"""`theta compare --out` writes like every other writer: an existing file only with --force,
never inside a run's log/ or ckpt/, never over a device or FIFO, never over a file that
appeared while it ran; bad targets are refused before the runs are read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _runfab import invoke, make_run, reset_cli_state

from theta_cli.core.layout import RunLayout
from theta_cli.runs import compare

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    return make_run(tmp_path / "models", "mlp_20260101_000000")


def _refused(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output + res.stderr
    err = res.stderr.strip()
    assert err.startswith("theta: error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_an_existing_file_needs_force(tmp_path: Path, run: RunLayout) -> None:
    ride = tmp_path / "ride.gpx"
    ride.write_text("<gpx>the user's track</gpx>")
    res = invoke(tmp_path / "models", "compare", run.name, "--out", str(ride))
    _refused(res, str(ride), "--force")
    assert ride.read_text() == "<gpx>the user's track</gpx>"
    res = invoke(tmp_path / "models", "compare", run.name, "--out", str(ride), "--force")
    assert res.exit_code == 0, res.output + res.stderr
    assert ride.read_bytes()[:8] == PNG


def test_the_default_chart_is_not_replaced_without_force(tmp_path: Path, run: RunLayout) -> None:
    assert invoke(tmp_path / "models", "compare", run.name).exit_code == 0
    _refused(invoke(tmp_path / "models", "compare", run.name), "theta-compare.png", "--force")
    assert invoke(tmp_path / "models", "compare", run.name, "--force").exit_code == 0


@pytest.mark.parametrize("where", ["log/train_data.csv", "ckpt/ckpt_epoch0_step10.pt",
                                   "log/new.png", "ckpt/sub/new.png"])  # fmt: skip
def test_never_inside_a_runs_log_or_ckpt(tmp_path: Path, run: RunLayout, where: str) -> None:
    out = run.root / where
    before = out.read_bytes() if out.exists() else None
    res = invoke(tmp_path / "models", "compare", run.name, "--out", str(out), "--force")
    _refused(res, str(out), where.split("/")[0] + "/")
    assert (out.read_bytes() if out.exists() else None) == before


def test_a_fifo_is_refused_even_with_force(tmp_path: Path, run: RunLayout) -> None:
    fifo = tmp_path / "chart.png"
    os.mkfifo(fifo)
    res = invoke(tmp_path / "models", "compare", run.name, "--out", str(fifo), "--force")
    _refused(res, str(fifo), "not a regular file")


def test_a_file_that_appears_meanwhile_is_kept(tmp_path: Path, run: RunLayout, monkeypatch):
    out = tmp_path / "cmp.png"
    describe = compare.describe

    def rival_writes_first(r: RunLayout):
        out.write_text("another compare's chart")
        return describe(r)

    monkeypatch.setattr(compare, "describe", rival_writes_first)
    res = invoke(tmp_path / "models", "compare", run.name, "--out", str(out))
    _refused(res, str(out), "--force")
    assert out.read_text() == "another compare's chart"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "models"]


def test_bad_targets_are_refused_before_the_runs_are_read(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "afile").write_text("x")
    res = invoke(tmp_path / "models", "compare", "nobody", "--out", str(tmp_path / "afile/c.png"))
    _refused(res, "afile", "not a directory")


def test_bench_refuses_a_fifo_among_its_charts_before_scoring(tmp_path: Path) -> None:
    """`theta bench --fig-dir` is user-chosen too: its charts may replace theta's own charts,
    never a FIFO or device that sits there; refused before any model loads."""
    figs = tmp_path / "figs"
    figs.mkdir()
    os.mkfifo(figs / "bench-cdf.png")
    res = invoke(tmp_path / "models", "bench", "--no-builtin", "nobody", "--fig-dir", str(figs))
    _refused(res, "bench-cdf.png", "FIFO")
