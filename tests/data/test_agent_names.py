"""Agent names are repeated on every raw row: an absurd GPX track name must not blow a
50-point track up to hundreds of megabytes. Names over MAX_AGENT_CHARS are cut (with a hash,
so distinct names stay distinct, and one warning), and readers keep one copy of each name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from theta_cli.data.pairs import PairsConfig, make_pairs
from theta_cli.data.rawio import read_raw
from theta_cli.data.synth import write_table

MB = 1_000_000
MAX_AGENT_CHARS = 200


def _gpx(path: Path, names: list[str], n: int = 50) -> Path:
    t0 = np.datetime64("2026-01-01T00:00:00")
    trks = []
    for k, name in enumerate(names):
        pts = "".join(
            f'<trkpt lat="{48.1 + k * 0.01 + i * 1e-4:.6f}" lon="11.5"><time>'
            f"{t0 + np.timedelta64(1000 * k + i, 's')}Z</time></trkpt>"
            for i in range(n)
        )
        trks.append(f"<trk><name>{name}</name><trkseg>{pts}</trkseg></trk>")
    path.write_text('<?xml version="1.0"?><gpx version="1.1" creator="t" '
                    f'xmlns="http://www.topografix.com/GPX/1/1">{"".join(trks)}</gpx>')
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_megabyte_track_name_gives_a_small_output(tmp_path: Path, fmt: str) -> None:
    # Two names that differ only past the cut, and one repeated: three agents all the same.
    names = ["x" * MB + "a", "x" * MB + "b", "x" * MB + "b"]
    gpx = _gpx(tmp_path / "ride.gpx", names)
    summary = make_pairs([gpx], tmp_path / "raw", PairsConfig(format=fmt))
    size = sum(p.stat().st_size for p in (tmp_path / "raw").iterdir())
    assert size < 100_000, size
    agents = sorted(set(read_raw(summary.files[0]).agent.tolist()))
    assert len(agents) == 3 and all(len(a) <= MAX_AGENT_CHARS for a in agents), agents
    assert all(a.startswith("ride:xxxx") for a in agents)
    assert summary.cut_names == 3


def test_cut_names_give_one_warning_line(theta_env: Path) -> None:
    _gpx(theta_env / "ride.gpx", ["y" * 5000, "z" * 5000])
    result = invoke("data", "pairs", "ride.gpx", "--out", "raw")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "2 track name(s)" in lines[0] and "200" in lines[0], lines


def test_short_names_are_kept_as_they_are(tmp_path: Path) -> None:
    gpx = _gpx(tmp_path / "ride.gpx", ["Morning ride"])
    summary = make_pairs([gpx], tmp_path / "raw", PairsConfig(format="csv"))
    assert set(read_raw(summary.files[0]).agent.tolist()) == {"ride:Morning ride"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_reading_keeps_one_copy_of_each_agent_name(tmp_path: Path, fmt: str) -> None:
    n = 2000
    cols = {"agent": np.array(["a" * 150] * (n // 2) + ["b" * 150] * (n // 2), dtype=object),
            "timestamp": np.arange(n, dtype=np.float64)}  # fmt: skip
    cols |= {c: np.zeros(n) for c in ("longitude", "latitude", "longitude_n", "latitude_n")}
    write_table(tmp_path / f"raw.{fmt}", cols, fmt)
    table = read_raw(tmp_path / f"raw.{fmt}")
    assert len({id(a) for a in table.agent}) == 2  # not one string object per row
    assert table.agent[0] == "a" * 150 and table.agent[-1] == "b" * 150
