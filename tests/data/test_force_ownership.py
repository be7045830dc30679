"""`--force` on `theta data synth|pairs` replaces only the raw files theta wrote (listed in its
own synth.json / pairs.json); a .csv or .parquet it did not write is never deleted, and the
refusal without --force points to another --out, not to --force."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_refused, invoke

from theta_cli.data.pairs import PAIRS_FILE
from theta_cli.data.synth import SYNTH_FILE, SynthConfig, synthesize

SYNTH = ("data", "synth", "--agents", "3", "--points", "40", "--files", "3")
NOTES = "my,own,data\n1,2,3\n"


def _gpx(path: Path, n: int = 30) -> Path:
    t0 = np.datetime64("2026-01-01T00:00:00")
    pts = "".join(
        f'<trkpt lat="{48.1 + i * 1e-4:.6f}" lon="11.5"><time>{t0 + np.timedelta64(i, "s")}Z'
        "</time></trkpt>"
        for i in range(n)
    )
    path.write_text('<?xml version="1.0"?><gpx version="1.1" creator="t" '
                    'xmlns="http://www.topografix.com/GPX/1/1">'
                    f"<trk><name>Ride</name><trkseg>{pts}</trkseg></trk></gpx>")  # fmt: skip
    return path


def _hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir() if p.is_file()}


def test_issue_repro_pairs_force_keeps_the_users_csv(theta_env: Path) -> None:
    (theta_env / "userdata").mkdir()
    (theta_env / "userdata" / "notes.csv").write_text(NOTES)
    _gpx(theta_env / "ride.gpx")
    result = invoke("data", "pairs", "ride.gpx", "--out", "userdata", "--force")
    assert result.exit_code == 0, result.stderr
    assert (theta_env / "userdata" / "notes.csv").read_text() == NOTES
    assert (theta_env / "userdata" / "part-0000.parquet").is_file()
    # The notice says the file is left alone and that prepare would take it for raw data.
    assert "notes.csv" in result.stderr and "theta data prepare" in result.stderr


@pytest.mark.parametrize("command", ["synth", "pairs"])
def test_first_refusal_names_foreign_files_and_suggests_another_out(
    theta_env: Path, command: str
) -> None:
    out = theta_env / "userdata"
    assert invoke(*SYNTH, "--out", out).exit_code == 0  # theta's own raw data ...
    (out / "notes.csv").write_text(NOTES)  # ... and a table of the user's beside it
    before = _hashes(out)
    _gpx(theta_env / "ride.gpx")
    args = SYNTH if command == "synth" else ("data", "pairs", "ride.gpx")
    result = invoke(*args, "--out", out)
    assert_refused(result, "notes.csv", "not written by theta", "another --out")
    assert "--force" not in result.stderr  # --force must not look like the way out
    assert _hashes(out) == before


def test_only_theta_raw_data_still_says_force(theta_env: Path) -> None:
    assert invoke(*SYNTH, "--out", "raw").exit_code == 0
    assert_refused(invoke(*SYNTH, "--out", "raw", "--seed", "3"), "already holds raw data",
                   "--force")


def test_synth_force_replaces_only_the_files_synth_json_lists(tmp_path: Path) -> None:
    synthesize(SynthConfig(agents=3, points=40, files=3), tmp_path)
    record = json.loads((tmp_path / SYNTH_FILE).read_text())
    assert record["written_files"] == [f"part-{i:04d}.parquet" for i in range(3)]
    # Named like theta's parts, but not listed: the user's.
    (tmp_path / "part-0007.csv").write_text(NOTES)
    (tmp_path / "mine.parquet").write_bytes(b"PAR1 not really")
    synthesize(SynthConfig(agents=2, points=40, files=1, format="csv"), tmp_path, force=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["mine.parquet", "noise_model.json", "part-0000.csv", "part-0007.csv",
                     SYNTH_FILE]  # fmt: skip
    assert (tmp_path / "part-0007.csv").read_text() == NOTES


@pytest.mark.parametrize("manifest", [SYNTH_FILE, PAIRS_FILE])
def test_older_manifest_without_a_file_list_owns_only_its_own_part_names(
    theta_env: Path, manifest: str
) -> None:
    out = theta_env / "raw"
    if manifest == SYNTH_FILE:
        synthesize(SynthConfig(agents=3, points=40, files=2), out)
        record = json.loads((out / SYNTH_FILE).read_text())
        record.pop("written_files", None)  # as an older theta wrote it
    else:
        _gpx(theta_env / "ride.gpx")
        assert invoke("data", "pairs", "ride.gpx", "--out", out).exit_code == 0
        record = json.loads((out / PAIRS_FILE).read_text())
        record.pop("files")
    (out / manifest).write_text(json.dumps(record))
    (out / "part-0005.parquet").write_text("the user's")  # beyond what that config wrote
    result = invoke(*SYNTH, "--out", out, "--files", "1", "--force")
    assert result.exit_code == 0, result.stderr
    assert (out / "part-0005.parquet").read_text() == "the user's"
    # What the older config did write (files=2 for synth) is theta's and goes.
    assert sorted(p.name for p in out.glob("part-*")) == ["part-0000.parquet", "part-0005.parquet"]


def test_pairs_force_replaces_its_own_earlier_parts(theta_env: Path) -> None:
    _gpx(theta_env / "ride.gpx")
    assert invoke("data", "pairs", "ride.gpx", "--out", "raw", "--format", "csv").exit_code == 0
    result = invoke("data", "pairs", "ride.gpx", "--out", "raw", "--force")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (theta_env / "raw").iterdir()) == [
        "noise_model.json", PAIRS_FILE, "part-0000.parquet"]
    assert result.stderr == ""  # nothing foreign: no notice


@pytest.mark.parametrize(
    ("command", "record"), [("synth", SYNTH_FILE), ("pairs", "noise_model.json")]
)
def test_a_record_file_theta_did_not_write_is_not_replaced(
    theta_env: Path, command: str, record: str
) -> None:
    out = theta_env / "mine"
    out.mkdir()
    (out / record).write_text('{"my": "settings"}\n')
    _gpx(theta_env / "ride.gpx")
    args = SYNTH if command == "synth" else ("data", "pairs", "ride.gpx")
    assert_refused(invoke(*args, "--out", out, "--force"), record, "not a file theta wrote",
                   "another --out")  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [record]
    assert (out / record).read_text() == '{"my": "settings"}\n'
