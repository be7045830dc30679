"""Throughput and peak memory of `theta data prepare` on >= 1,000,000 synthetic fixes.

Prints, for each dataset size:
  * fixes/second of the whole prepare (scan + build + quick_val + swap; median of --runs
    runs, each in a fresh process), and the per-stage split (scan = validating pass, read,
    chunk, enu = ENU + samples, save = epoch files, quick_val and the swap);
  * peak memory: ``ru_maxrss`` of a fresh child process that only imports and runs prepare,
    next to the ru_maxrss of a child that only does the imports (the baseline);
and, on a sample of chunks, the vectorised ENU conversion against a naive row-wise one
(one pymap3d call per fix), interleaved repeats, medians.

Doubling the data while keeping the raw file size fixed shows what memory grows with: not the
raw data (one raw file at a time) but the output file being filled (a split's files grow with
the data up to the 37,000-sample epoch cap) and the train noise magnitudes (8 B per point).

    python benchmarks/prepare_throughput.py            # 1.0M and 2.0M fixes
    python benchmarks/prepare_throughput.py --agents 280 --sizes 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
from pathlib import Path
import numpy, pandas, pyarrow.parquet, pymap3d, torch  # noqa: F401  (same imports as prepare)
from theta_cli.data.prepare import PrepareOptions, prepare
raw, out, run = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
result = {}
if run:
    t0 = time.perf_counter()
    s = prepare(raw, out, PrepareOptions(), force=True)
    result = {"seconds": time.perf_counter() - t0, "fixes": s.fixes, "stages": s.seconds,
              "samples": {k: v.samples for k, v in s.splits.items()}}
result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(result))
"""


def child(raw: Path, out: Path, run: bool) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(raw), str(out), "1" if run else "0"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def enu_naive_vs_vectorised(raw: Path, chunks: int, repeats: int) -> tuple[float, float]:
    import pandas as pd
    import pymap3d

    from theta_cli.data.samples import enu_chunks

    df = pd.read_parquet(sorted(raw.glob("*.parquet"))[0])
    k = 256
    rows = df.iloc[: chunks * k]
    cols = {
        "lat": rows["latitude"].to_numpy().reshape(chunks, k),
        "lon": rows["longitude"].to_numpy().reshape(chunks, k),
        "lat_n": rows["latitude_n"].to_numpy().reshape(chunks, k),
        "lon_n": rows["longitude_n"].to_numpy().reshape(chunks, k),
    }

    def naive() -> np.ndarray:
        out = np.empty((chunks, k, 4))
        for c in range(chunks):
            lat0, lon0 = cols["lat_n"][c, 0], cols["lon_n"][c, 0]
            for i in range(k):
                e0, n0, _ = pymap3d.geodetic2enu(cols["lat"][c, i], cols["lon"][c, i], 0,
                                                 lat0, lon0, 0)
                e1, n1, _ = pymap3d.geodetic2enu(cols["lat_n"][c, i], cols["lon_n"][c, i], 0,
                                                 lat0, lon0, 0)
                out[c, i] = (e0, n0, e1, n1)
        return out

    ref = naive()
    x0, x1 = enu_chunks(cols)
    assert np.allclose(ref[..., :2], x0, atol=1e-6) and np.allclose(ref[..., 2:], x1, atol=1e-6)
    t_naive, t_vec = [], []
    for _ in range(repeats):  # interleaved
        t0 = time.perf_counter()
        naive()
        t_naive.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        enu_chunks(cols)
        t_vec.append(time.perf_counter() - t0)
    return statistics.median(t_naive), statistics.median(t_vec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=280, help="agents per 1x (x 3600 fixes)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2], help="multiples of 1x")
    ap.add_argument("--runs", type=int, default=3, help="prepare runs per size (median)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the ENU comparison")
    args = ap.parse_args()

    from theta_cli.data.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory(prefix="theta-bench-") as tmp:
        root = Path(tmp)
        base = child(root / "none", root / "none", run=False)["maxrss_kb"]
        print(f"baseline (imports only) ru_maxrss: {base / 1024:.0f} MiB")
        for m in args.sizes:
            raw = root / f"raw{m}"
            t0 = time.perf_counter()
            # 35 agents per raw file, so the raw file size is the same at every scale.
            s = synthesize(SynthConfig(agents=args.agents * m, points=3600,
                                       files=max(1, args.agents * m // 35)), raw)
            synth_s = time.perf_counter() - t0
            runs = [child(raw, root / f"ds{m}", run=True) for _ in range(args.runs)]
            r = runs[0]
            r["seconds"] = statistics.median(x["seconds"] for x in runs)
            r["maxrss_kb"] = max(x["maxrss_kb"] for x in runs)
            stages = ", ".join(
                f"{k} {statistics.median(x['stages'][k] for x in runs):.2f} s" for k in r["stages"]
            )
            print(f"\n{r['fixes']:,} fixes in {len(s.files)} raw files "
                  f"(synth {synth_s:.1f} s, {s.fixes / synth_s:,.0f} fixes/s)")
            print(f"  prepare (median of {args.runs}): {r['seconds']:.2f} s = "
                  f"{r['fixes'] / r['seconds']:,.0f} fixes/s")
            print(f"  stages: {stages}")
            print(f"  samples: {r['samples']}")
            print(f"  peak ru_maxrss: {r['maxrss_kb'] / 1024:.0f} MiB "
                  f"({(r['maxrss_kb'] - base) / 1024:.0f} MiB above the import baseline)")
            if m == args.sizes[0]:
                naive_s, vec_s = enu_naive_vs_vectorised(raw, chunks=8, repeats=args.repeats)
                print(f"  ENU on 8 chunks x 256 fixes: row-wise {naive_s * 1e3:.1f} ms, "
                      f"vectorised {vec_s * 1e3:.2f} ms, ratio {naive_s / vec_s:,.0f}x")


if __name__ == "__main__":
    main()
