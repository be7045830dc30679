"""`theta compare`: runs side by side; the best run of each column is marked (lower errors, higher
gains), the newest bench.csv row of a run counts, the chart is written, bad runs are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _runfab import invoke, make_run, reset_cli_state

from theta_cli.core import csvlog
from theta_cli.core.layout import RunLayout
from theta_cli.runs import compare


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


def _bench_row(median: float, p95: float, median_gain: float, p95_gain: float) -> csvlog.BenchRow:
    return csvlog.BenchRow(
        time="2026-12-01 12:00:00", ckpt_name="ckpt_epoch1_step10.pt", steps=10,
        data="test split of /data", points=1000, mean=median * 1.1, median=median, p95=p95,
        rmse=median * 1.2, max=p95 * 3, gsdc=(median + p95) / 2, points_per_s=5e4,
        best_baseline_median=3.8, best_baseline_p95=8.0, median_gain_pct=median_gain,
        p95_gain_pct=p95_gain,
    )


@pytest.fixture
def three_runs(tmp_path: Path) -> list[RunLayout]:
    """a: best median and median gain; b: best acc, p95, GSDC and p95 gain; c: never benched."""
    models = tmp_path / "models"
    a = make_run(models, "mlp_20260101_000000", acc=[9.0, 8.0, 7.0])
    b = make_run(models, "mlp_20260102_000000", acc=[6.0, 5.0, 4.5], seed=10)
    c = make_run(models, "mlp_20260103_000000", acc=[9.5, 9.4, 9.3], seed=20)
    csvlog.append_bench_row(a, _bench_row(4.5, 9.0, -10.0, -10.0))  # superseded: older
    csvlog.append_bench_row(a, _bench_row(3.0, 8.0, 5.0, -2.0))
    csvlog.append_bench_row(b, _bench_row(3.5, 7.0, 2.0, 3.0))
    return [a, b, c]


EXPECTED_BEST = {
    "best_acc_mean": "mlp_20260102_000000",
    "bench_median": "mlp_20260101_000000",
    "bench_p95": "mlp_20260102_000000",
    "bench_gsdc": "mlp_20260102_000000",  # (3.5 + 7) / 2 = 5.25 < (3 + 8) / 2
    "median_gain_pct": "mlp_20260101_000000",  # higher is better
    "p95_gain_pct": "mlp_20260102_000000",
}


def test_json_marks_the_best_run_per_column(tmp_path: Path, three_runs) -> None:
    names = [r.name for r in three_runs]
    out = tmp_path / "cmp.png"
    res = invoke(tmp_path / "models", "compare", *names, "--out", str(out), "--json")
    assert res.exit_code == 0, res.output + res.stderr
    data = json.loads(res.stdout)
    assert [d["name"] for d in data["runs"]] == names
    assert data["best"] == EXPECTED_BEST
    a, b, c = data["runs"]
    assert (a["bench_median"], a["bench_p95"], a["median_gain_pct"]) == (3.0, 8.0, 5.0)  # newest
    assert a["best_acc_mean"] == 7.0 and b["best_acc_mean"] == 4.5
    assert c["bench_median"] is None and c["bench_ckpt"] is None
    assert a["steps_trained"] == 20 + 10  # epoch 0 ended at step 20; then 10 steps of epoch 1
    assert data["chart"] == str(out) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_marks_the_best_cells(tmp_path: Path, three_runs) -> None:
    from theta_cli.commands.bench import _COMPARE_ROWS, _compare_table

    data = compare.compare(three_runs)
    table = _compare_table(data)
    names = [r.name for r in three_runs]
    assert [c.header for c in table.columns[1:]] == names
    labels = list(table.columns[0]._cells)
    for label, key, _ in _COMPARE_ROWS:
        row = labels.index(label)
        bold = [names[j] for j, col in enumerate(table.columns[1:])
                if "bold" in str(col._cells[row].style)]  # fmt: skip
        assert bold == ([EXPECTED_BEST[key]] if key in EXPECTED_BEST else []), label
    # Cells without a value show "-" (the run that was never benched).
    median_row = labels.index("bench median (m)")
    assert str(table.columns[3]._cells[median_row]) == "-"


def test_text_output_and_default_chart(tmp_path: Path, three_runs, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # whole run names (at 80 columns Rich folds them)
    names = [r.name for r in three_runs]
    res = invoke(tmp_path / "models", "compare", *names)
    assert res.exit_code == 0, res.output + res.stderr
    for needle in (*names, "bench median (m)", "3.00", "+5.0", "theta-compare.png"):
        assert needle in res.stdout, needle
    assert (tmp_path / "theta-compare.png").is_file()


def test_bad_runs_are_refused(tmp_path: Path, three_runs) -> None:
    a = three_runs[0].name
    res = invoke(tmp_path / "models", "compare", a, "nobody")
    assert res.exit_code == 2 and "nobody: no such run" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = invoke(tmp_path / "models", "compare", a, str(three_runs[0].root))
    assert res.exit_code == 2 and "named twice" in res.stderr
    assert not (tmp_path / "theta-compare.png").exists()


def test_global_steps_across_epochs() -> None:
    rows = [csvlog.TrainRow(f"c{i}", e, s, 1.0, 1.0, 1.0, 0.0, 1e-3, 1.0)
            for i, (e, s) in enumerate([(0, 10), (0, 20), (1, 10), (1, 20), (2, 5)])]  # fmt: skip
    assert compare.global_steps(rows) == [10, 20, 30, 40, 45]
