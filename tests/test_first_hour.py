"""The first hour with theta: what a new user sees after the demo, with no arguments, in --help."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_refused, invoke

from theta_cli import demo


def test_info_with_no_runs_says_where_it_looked_and_how_to_point_there(theta_env: Path) -> None:
    result = invoke("info")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "no runs found: models does not exist" in out
    assert "--models-dir DIR" in out and "THETA_MODELS_DIR" in out
    assert "theta --models-dir theta-demo/models info" in out
    (theta_env / "empty").mkdir()
    out = " ".join(invoke("--models-dir", "empty", "info").stdout.split())
    assert "empty holds no runs" in out


def test_info_json_with_no_runs_stays_json(theta_env: Path) -> None:
    import json

    assert json.loads(invoke("info", "--json").stdout)["runs"] == []


def test_bench_without_arguments_says_what_it_needs(theta_env: Path) -> None:
    result = invoke("bench")
    assert_refused(result, "bench needs a model to score", "theta bench RUN", "--pairs")
    assert "required when no model is a run" not in result.stderr


def _stub_steps(monkeypatch: pytest.MonkeyPatch, seen: dict) -> None:
    for step in ("_synth", "_prepare", "_eval_bytes", "_bench", "_denoise_sample"):
        monkeypatch.setattr(demo, step, lambda *args: None)
    monkeypatch.setattr(demo, "_train", lambda root, data, result: seen.update(
        threads=result.threads))  # fmt: skip


def test_demo_counts_one_sequence_and_passes_threads(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}
    _stub_steps(monkeypatch, seen)
    result = invoke("demo", "--dir", theta_env / "d", "--threads", "3")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert seen == {"threads": 3}
    assert "[1/7]" in result.stdout and "[6/7]" in result.stdout
    assert "[7/7] where everything is" in result.stdout
    assert "theta --models-dir" in result.stdout and "info" in result.stdout


def test_denoise_help_is_plain(theta_env: Path) -> None:
    from typer.testing import CliRunner

    from theta_cli.cli import app

    text = CliRunner().invoke(app, ["denoise", "--help"], terminal_width=200).stdout
    assert "INPUT...}..." not in text and "INPUT" in text
    assert "bytes" not in text and "buckle" not in text.lower()
    assert "Required." not in text
    assert "--stop-on-error" in text


def test_epoch_line_without_a_terminal_prints_progress_every_minute(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from theta_cli.core import live, logs

    printed: list[str] = []
    monkeypatch.setattr(logs.get_logger(), "info", lambda msg, **kw: printed.append(msg))
    monkeypatch.setattr(live, "PIPED_EVERY_S", 0.0)
    with live.EpochLine(0, 1, 10, 4, 0) as line:
        line.update(3, 0.5, 1e-3)
        line.update(10, 0.4, 1e-3)
    assert printed[0].startswith("epoch 1/1  step 3/10") and "ETA" in printed[0]
    assert len(printed) == 2 and "took" in printed[1]


def test_piped_output_does_not_fold_paths(theta_env: Path) -> None:
    from rich.table import Table

    from theta_cli.core import logs

    name = "rides/" * 12 + "Mojstrovka.gpx"
    con = logs.SafeConsole(file=__import__("io").StringIO())  # not a terminal: a file
    table = Table()
    table.add_column("file", overflow="fold")
    table.add_row(name)
    con.print(table, soft_wrap=False)
    assert name in con.file.getvalue()  # type: ignore[attr-defined]
