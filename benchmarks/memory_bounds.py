"""Peak memory of theta's user-facing commands on large and hostile inputs (issue 18).

Each case runs ``theta`` in a fresh subprocess and reads the child's peak resident set size
(``ru_maxrss``), so the number is the whole process: interpreter, torch, model and data.

    python benchmarks/memory_bounds.py                 # every case, this checkout's theta
    python benchmarks/memory_bounds.py --theta /other/venv/bin/theta   # another build
    python benchmarks/memory_bounds.py --points 200000 --cases gpx-1m

Cases:
  gpx-1m       ``denoise`` a GPX of N points (default 1,000,000; 1 Hz, one track) with the
               built-in model, 1 Euler step (memory, not quality, is measured here)
  pairs-1m     ``data pairs`` on the same GPX (raw pairs written as parquet)
  nul-csv      ``denoise`` a file of NUL bytes named .csv (default 256 MiB)
  long-name    ``data pairs`` on a 50-point GPX whose track name is 10 MB
  tiny-grid    ``denoise`` 20 fixes 3e7 s apart with --max-gap 1e12 (grid bound)
  fragments    ``denoise`` 5,235 fixes in 2-point pieces 60 s apart (issue 20): pieces under
               8 fixes pass through (short_segment) instead of costing a 256-point chunk each

It measures; it asserts nothing. Wall seconds are printed for orientation only: compare them
only between builds measured in the same invocation on the same machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GPX_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gpx version="1.1" creator="theta-bench" xmlns="http://www.topografix.com/GPX/1/1">\n'
    "<trk><name>{name}</name><trkseg>\n"
)
GPX_TAIL = "</trkseg></trk>\n</gpx>\n"


def write_gpx(
    path: Path, n: int, name: str = "big", step_s: float = 1.0, piece: int = 0
) -> None:
    """A 1 Hz ride around a slow circle (about 8 m/s), written in blocks (bounded memory).
    ``piece`` > 0: a 60 s gap after every ``piece`` fixes (a track cut into fragments)."""
    import math
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lat0, lon0, r = 47.0, 8.0, 0.02
    with path.open("w", encoding="utf-8") as fh:
        fh.write(GPX_HEAD.format(name=name))
        block: list[str] = []
        for i in range(n):
            a = i * 4e-4
            s = i * step_s + (60.0 * (i // piece) if piece else 0.0)
            t = (t0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")
            block.append(
                f'<trkpt lat="{lat0 + r * math.sin(a):.7f}" '
                f'lon="{lon0 + r * math.cos(a):.7f}"><time>{t}</time></trkpt>\n'
            )
            if len(block) == 10000:
                fh.write("".join(block))
                block.clear()
        fh.write("".join(block))
        fh.write(GPX_TAIL)


def run(theta: str, args: list[str], cwd: Path) -> tuple[int, float, float, str]:
    """(exit code, peak RSS MiB, wall s, last stderr line) of one theta call."""
    t0 = time.perf_counter()
    proc = subprocess.run([theta, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    # RUSAGE_CHILDREN is the max over all children so far: run each case in its own
    # interpreter (main() does) so the number is this call's own.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return proc.returncode, peak / 1024.0, wall, (lines[-1] if lines else "")[:160]


def case_gpx(theta: str, d: Path, n: int) -> list[str]:
    write_gpx(d / "big.gpx", n)
    return ["denoise", "big.gpx", "--out", "big_clean.gpx", "--steps", "1"]


def case_pairs(theta: str, d: Path, n: int) -> list[str]:
    write_gpx(d / "big.gpx", n)
    return ["data", "pairs", "big.gpx", "--out", "pairs"]


def case_nul(theta: str, d: Path, n: int) -> list[str]:
    with (d / "nul.csv").open("wb") as fh:
        block = b"\0" * (1 << 20)
        for _ in range(256):
            fh.write(block)
    return ["denoise", "nul.csv", "--out", "nul_clean.csv"]


def case_long_name(theta: str, d: Path, n: int) -> list[str]:
    write_gpx(d / "named.gpx", 50, name="x" * 10_000_000)
    return ["data", "pairs", "named.gpx", "--out", "named_pairs"]


def case_grid(theta: str, d: Path, n: int) -> list[str]:
    write_gpx(d / "sparse.gpx", 20, step_s=3e7)
    return ["denoise", "sparse.gpx", "--out", "sparse_clean.gpx", "--max-gap", "1e12"]


def case_fragments(theta: str, d: Path, n: int) -> list[str]:
    write_gpx(d / "frag.gpx", 5235, piece=2)
    return ["denoise", "frag.gpx", "--out", "frag_clean.gpx"]


CASES: dict[str, Callable[[str, Path, int], list[str]]] = {
    "gpx-1m": case_gpx,
    "pairs-1m": case_pairs,
    "nul-csv": case_nul,
    "long-name": case_long_name,
    "tiny-grid": case_grid,
    "fragments": case_fragments,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--theta", default=shutil.which("theta") or "theta")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case, print a row
    ns = ap.parse_args()
    if ns.one:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            args = CASES[ns.one](ns.theta, d, ns.points)
            code, peak, wall, last = run(ns.theta, args, d)
        print(f"{ns.one:<10} {code:>4} {peak:>10.0f} {wall:>8.1f}  {last}")
        return
    print(f"theta: {ns.theta}  points: {ns.points:,}")
    print(f"{'case':<10} {'exit':>4} {'peak MiB':>10} {'wall s':>8}  last stderr line")
    for name in ns.cases.split(","):
        # One interpreter per case: ru_maxrss of RUSAGE_CHILDREN only ever grows.
        subprocess.run(
            [sys.executable, __file__, "--theta", ns.theta, "--points", str(ns.points),
             "--one", name],
            env={**os.environ},
        )


if __name__ == "__main__":
    main()
