"""Several inputs: one bad file is reported on its own row, the good ones are written, exit 1;
--stop-on-error refuses the whole batch (nothing written); one input keeps its one-line refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _infer_helpers import ZeroModel, fake_loader, gpx_text, invoke, track
from conftest import assert_refused

WAYPOINTS_ONLY = (
    '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
    '<wpt lat="48.1" lon="11.5"><name>Hut</name></wpt></gpx>'
)


@pytest.fixture
def folder(theta_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_loader(monkeypatch, ZeroModel())
    d = theta_env / "rides"
    d.mkdir()
    (d / "a.gpx").write_text(gpx_text([track(60, seed=1)]))
    (d / "b.gpx").write_text(gpx_text([track(40, seed=2)]))
    (d / "w.gpx").write_text(WAYPOINTS_ONLY)
    return d


def written(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("*")) if root.exists() else []


def test_one_bad_file_does_not_stop_the_others(folder: Path) -> None:
    result = invoke("denoise", folder, "--model", "m", "--out", "cleaned")
    assert result.exit_code == 1, result.output + result.stderr
    assert written(Path("cleaned")) == ["a.gpx", "b.gpx"]
    assert "w.gpx: no track points" in result.stderr
    assert "FAILED" in result.stdout and "written" in result.stdout
    assert "w.gpx: FAILED:" in result.stdout
    assert "1 of 3 file(s) failed" in result.stderr


def test_json_has_a_per_file_error(folder: Path) -> None:
    result = invoke("denoise", folder, "--model", "m", "--out", "cleaned", "--json")
    assert result.exit_code == 1
    files = {Path(f["input"]).name: f for f in json.loads(result.stdout)["files"]}
    assert files["a.gpx"]["error"] is None and files["a.gpx"]["points"] == 60
    assert "no track points" in files["w.gpx"]["error"]


def test_stop_on_error_writes_nothing(folder: Path) -> None:
    result = invoke("denoise", folder, "--model", "m", "--out", "cleaned", "--stop-on-error")
    assert_refused(result, "w.gpx", "no track points")
    assert written(Path("cleaned")) == []


def test_a_single_bad_input_is_still_one_line_exit_2(folder: Path) -> None:
    result = invoke("denoise", folder / "w.gpx", "--model", "m", "--out", "o.gpx")
    assert_refused(result, "w.gpx", "no track points")
    assert not Path("o.gpx").exists()


def test_every_input_bad_is_refused(folder: Path) -> None:
    (folder / "a.gpx").write_text(WAYPOINTS_ONLY)
    (folder / "b.gpx").write_text("<gpx><trk")
    result = invoke("denoise", folder, "--model", "m", "--out", "cleaned")
    assert result.exit_code == 2
    assert "none of the 3 inputs could be read" in result.stderr
    assert written(Path("cleaned")) == []
