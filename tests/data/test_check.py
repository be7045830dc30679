"""`theta data check`: every kind of corruption is caught and named (file and key)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import invoke

from theta_cli.core.errors import ThetaError
from theta_cli.data import epochfile
from theta_cli.data.check import check


def _epoch(n: int = 6, k: int = 16, channels: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, k, channels, generator=g)
    if channels == 4:
        x[..., 3] = (torch.arange(k) < 8).float()
    return {"X_t": x, "V": torch.randn(n, k, 2, generator=g), "t": torch.rand(n, 1, generator=g)}


def _save(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def _drop_t(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "t"}


def _nan_v(d: dict) -> dict:
    d["V"][2, 3, 1] = float("nan")
    return d


def _t_one(d: dict) -> dict:
    d["t"][0, 0] = 1.0
    return d


def _bad_flag(d: dict) -> dict:
    d["X_t"][0, 0, 3] = 0.5
    return d


CORRUPTIONS: list[tuple[str, Callable[[dict], Any], str]] = [
    ("missing key", _drop_t, "missing key 't'"),
    ("NaN", _nan_v, "key 'V' has 1 non-finite values"),
    ("t == 1", _t_one, "key 't' has values outside [0, 1)"),
    ("float64", lambda d: {**d, "V": d["V"].double()}, "key 'V' has dtype torch.float64"),
    ("wrong K", lambda d: {**d, "X_t": d["X_t"][:, :12], "V": d["V"][:, :12]}, "K=12"),
    ("V shape", lambda d: {**d, "V": d["V"][:, :8]}, "key 'V' has shape [6, 8, 2]"),
    ("is_start", _bad_flag, "channel 3 (is_start)"),
    ("not a dict", lambda d: [d["X_t"]], "not an epoch file"),
]


@pytest.mark.parametrize(
    ("label", "corrupt", "message"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS]
)
def test_each_corruption_is_named(tmp_path: Path, label: str, corrupt, message: str) -> None:
    _save(tmp_path / "a_good.pt", _epoch())
    bad = _save(tmp_path / "b_bad.pt", corrupt(_epoch()))
    with pytest.raises(ThetaError) as err:
        check(tmp_path)
    assert str(err.value).startswith(f"{bad}:") and message in str(err.value)


def test_hidden_build_directories_are_skipped(tmp_path: Path) -> None:
    epochfile.save(tmp_path / "train" / "a.pt", _epoch())
    _save(tmp_path / ".theta-build-x" / "processed" / "b.pt", _drop_t(_epoch()))
    assert [r.path.name for r in check(tmp_path)] == ["a.pt"]


def test_mixed_k_across_files(tmp_path: Path) -> None:
    _save(tmp_path / "train" / "a.pt", _epoch(k=16))
    _save(tmp_path / "val" / "b.pt", _epoch(k=24))
    with pytest.raises(ThetaError, match=r"b\.pt: key 'X_t' has K=24 but .*a\.pt has K=16"):
        check(tmp_path)


def test_good_files_pass_and_two_channel_files_are_allowed(tmp_path: Path) -> None:
    epochfile.save(tmp_path / "x" / "a.pt", _epoch())
    epochfile.save(tmp_path / "y" / "b.pt", _epoch(channels=2))
    reports = check(tmp_path)
    assert [r.channels for r in reports] == [4, 2] and all(r.k == 16 for r in reports)
    assert [ks.key.strip() for ks in reports[0].keys][:5] == ["X_t", "e", "n", "timestamp",
                                                               "is_start"]


def test_cli_prints_a_table_per_file_and_fails_with_one_line(theta_env: Path) -> None:
    epochfile.save(theta_env / "d" / "a.pt", _epoch())
    ok = invoke("data", "check", "d")
    assert ok.exit_code == 0, ok.stderr
    assert "N=6 K=16" in ok.stdout and "is_start" in ok.stdout and "ok: 1 file(s)" in ok.stdout
    _save(theta_env / "d" / "b.pt", _nan_v(_epoch()))
    bad = invoke("data", "check", "d")
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        f"theta: error: {Path('d') / 'b.pt'}: key 'V' has 1 non-finite values"
    ]
    assert "Traceback" not in bad.output + bad.stderr


def _truncated(p: Path) -> None:
    epochfile.save(p / "x.pt", _epoch())
    blob = (p / "x.pt").read_bytes()
    (p / "x.pt").write_bytes(blob[: len(blob) // 2])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such file or directory"),
        (lambda p: p.mkdir(), "no epoch files"),
        (lambda p: (p.mkdir(), (p / "x.pt").write_bytes(b"garbage")), f"{Path('target/x.pt')}:"),
        (_truncated, "not a readable epoch file"),
    ],
)
def test_cli_bad_targets(theta_env: Path, setup, message: str) -> None:
    setup(theta_env / "target")
    result = invoke("data", "check", "target")
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
