"""eval-bytes refuses a byte_wise_err.csv with another K's header before it evaluates anything,
and leaves the run exactly as it was (no lock file, no runtime.log line, no chart)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _runfab import invoke, make_quick_val, make_run, reset_cli_state

from theta_cli.core.layout import RunLayout
from theta_cli.eval import bytewise

K16_HEADER = "ckpt_name,Q1,Q2,mode,buckle_head,byte_1_mean,byte_2_mean"


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    make_quick_val(tmp_path / "quick_val.pt")
    return make_run(tmp_path / "models")  # K = 32: four bytes


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*")}  # fmt: skip


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("the evaluation ran before the CSV header was checked")


@pytest.mark.parametrize(
    "text",
    [
        K16_HEADER + "\n",  # the repro: the header alone, for K = 16
        K16_HEADER + "\nckpt_epoch0_step10.pt,1,0,velocity,1.0,1.0,2.0\n",  # a whole K=16 log
        "a,b,c\n",  # not a byte log at all
    ],
)
def test_other_k_header_is_refused_before_evaluating(
    run: RunLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    run.byte_csv.parent.mkdir(parents=True, exist_ok=True)
    run.byte_csv.write_text(text)
    monkeypatch.setattr(bytewise, "byte_means_of", _never)
    before = _snapshot(run.root)
    res = invoke(tmp_path / "models", "eval-bytes", run.name)
    assert res.exit_code == 2, res.output + res.stderr
    err = res.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "byte_wise_err.csv" in err and "header" in err, err
    assert _snapshot(run.root) == before  # nothing on disk changed: no lock, no log line
    assert not (run.byte_csv.parent / ".byte_wise_err.csv.lock").exists()
    assert run.byte_csv.read_text() == text
