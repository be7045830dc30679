"""Early stopping: a real plateau test on acc_mean from train_data.csv."""

from __future__ import annotations

from pathlib import Path

from theta_cli.core.csvlog import TrainRow, append_train_row
from theta_cli.core.layout import RunLayout
from theta_cli.engine.converge import converge_detector, plateau


def _rows(accs: list[float]) -> list[TrainRow]:
    return [
        TrainRow(f"ckpt_epoch0_step{i}.pt", 0, i, 1.0, a, a, 0.1, 1e-4, 8.0)
        for i, a in enumerate(accs, start=1)
    ]


def test_patience_zero_never_stops() -> None:
    assert not plateau(_rows([5.0] * 50), 0).stop


def test_stops_after_patience_checkpoints_without_improvement() -> None:
    accs = [5.0, 4.0, 3.0, 3.1, 3.05]
    assert not plateau(_rows(accs), 3).stop  # best was 2 checkpoints ago
    verdict = plateau(_rows([*accs, 3.2]), 3)
    assert verdict.stop
    assert "not improved for 3 checkpoints" in verdict.reason
    assert "ckpt_epoch0_step3.pt" in verdict.reason


def test_an_improvement_resets_the_count() -> None:
    assert not plateau(_rows([5.0, 4.0, 4.5, 4.6, 3.9]), 3).stop


def test_noise_level_gains_do_not_count_as_improvement() -> None:
    # a 1e-6 relative gain is below MIN_REL_IMPROVEMENT: the run is flat
    flat = [3.0, 3.0 * (1 - 1e-6), 3.0 * (1 - 2e-6), 3.0 * (1 - 3e-6)]
    assert plateau(_rows(flat), 3).stop


def test_detector_reads_the_runs_csv(tmp_path: Path) -> None:
    run = RunLayout(tmp_path / "run")
    run.make_dirs()
    assert not converge_detector(run, 2).stop
    for row in _rows([2.0, 2.5, 2.4]):
        append_train_row(run, row)
    assert converge_detector(run, 2).stop
    assert not converge_detector(run, 3).stop
