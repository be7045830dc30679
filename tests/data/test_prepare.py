"""theta_cli.data.prepare: the training layout, exactly (DOMAIN.md "Data files")."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pymap3d
import pytest
import torch

from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import EPOCH_LIMIT
from theta_cli.data import epochfile
from theta_cli.data.chunking import n_chunks
from theta_cli.data.prepare import PrepareOptions, prepare
from theta_cli.data.samples import huber_delta, point_magnitudes
from theta_cli.data.split import split_agents, split_counts
from theta_cli.data.splitfiles import plan_files, select_quick_val
from theta_cli.data.synth import SynthConfig, synthesize
from theta_cli.flow import interpolate, recover_endpoints

K, OVERLAP, R = 32, 8, 3
OPTS = PrepareOptions(k=K, overlap=OVERLAP, repeats=R, seed=5, quick_val=40, min_file_samples=64)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("raw")
    # 20 agents of varied length; two are shorter than K and must be skipped.
    synthesize(SynthConfig(agents=18, points=300, files=3, seed=2), d)
    short = pd.read_parquet(d / "part-0000.parquet").head(K - 1).assign(agent="short_a")
    short2 = short.head(5).assign(agent="short_b")
    pd.concat([short, short2]).to_csv(d / "part-0003.csv", index=False)
    return d


@pytest.fixture(scope="module")
def built(raw: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ds")
    summary = prepare(raw, out, OPTS)
    return out, summary


def _raw_frame(raw: Path) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted(raw.glob("*.parquet"))]
    parts += [pd.read_csv(p, dtype={"agent": str}) for p in sorted(raw.glob("*.csv"))]
    return pd.concat(parts, ignore_index=True).sort_values(["agent", "timestamp"], kind="stable")


def _index(out: Path) -> list[dict[str, str]]:
    with open(out / "state" / "chunks.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _load_split(out: Path, split: str) -> dict[str, torch.Tensor]:
    files = epochfile.list_files(out / "processed" / split)
    parts = [epochfile.load(f)[0] for f in files]
    return {k: torch.cat([p[k] for p in parts]) for k in epochfile.KEYS}


def test_shapes_dtypes_and_layout(built) -> None:
    out, summary = built
    assert (out / "state" / "huber_delta.json").is_file() and (out / "quick_val.pt").is_file()
    total = 0
    for split, st in summary.splits.items():
        files = epochfile.list_files(out / "processed" / split)
        assert [f.name for f in files] == st.files
        n = 0
        for f in files:
            data, info = epochfile.load(f, expect_k=K)
            assert data["X_t"].shape == (info.n, K, 4) and data["V"].shape == (info.n, K, 2)
            assert data["t"].shape == (info.n, 1) and info.n % R == 0
            assert all(data[k].dtype == torch.float32 for k in epochfile.KEYS)
            assert bool((data["t"] >= 0).all() and (data["t"] < 1).all())
            n += info.n
        assert n == st.samples == st.chunks * R
        total += st.chunks
    assert len(summary.splits["train"].files) > 1  # several epoch files where data allows
    assert total == len(_index(out))
    assert sorted(summary.skipped_agents) == ["short_a", "short_b"]


def test_xt_is_x0_plus_t_v_exactly_and_enu_round_trip(raw: Path, built) -> None:
    out, _ = built
    df = _raw_frame(raw)
    groups = {a: g.reset_index(drop=True) for a, g in df.groupby("agent")}
    data = {s: _load_split(out, s) for s in ("train", "val", "test")}
    offsets: dict[tuple[str, str], int] = {}
    for s in data:  # first sample of each file within the concatenated split
        pos = 0
        for f in epochfile.list_files(out / "processed" / s):
            offsets[(s, f.name)] = pos
            pos += epochfile.load(f)[1].n
    rows = _index(out)
    for row in rows[:: max(1, len(rows) // 40)]:  # a spread of chunks over all splits
        g = groups[row["agent"]]
        i0 = int(np.flatnonzero(g["timestamp"].to_numpy() == float(row["t0"]))[0])
        c = g.iloc[i0 : i0 + K]
        lat0, lon0 = c["latitude_n"].iloc[0], c["longitude_n"].iloc[0]
        assert (float(row["origin_lat"]), float(row["origin_lon"])) == (lat0, lon0)
        e0, n0, _ = pymap3d.geodetic2enu(c["latitude"], c["longitude"], 0, lat0, lon0, 0)
        e1, n1, _ = pymap3d.geodetic2enu(c["latitude_n"], c["longitude_n"], 0, lat0, lon0, 0)
        x0 = np.stack([e0, n0], axis=1)
        x1 = np.stack([e1, n1], axis=1)
        start = offsets[(row["split"], row["file"])] + int(row["first_sample"])
        d = data[row["split"]]
        x_t, v, t = (d[k][start : start + R] for k in ("X_t", "V", "t"))
        # Stored V is the float64 noise rounded once; X_t = X0 + t V in float32, bit for bit.
        assert torch.equal(v, torch.from_numpy((x1 - x0).astype(np.float32)).expand(R, K, 2))
        x0_32 = torch.from_numpy(x0.astype(np.float32)).expand(R, K, 2)
        assert torch.equal(x_t[..., :2], interpolate(x0_32, v, t))
        # Back to lat/lon from the stored tensors alone: within 1 cm of the raw fixes.
        rx0, rx1 = recover_endpoints(x_t[..., :2], v, t)
        ends = ((rx0, ("latitude", "longitude")), (rx1, ("latitude_n", "longitude_n")))
        for rec, (la, lo) in ends:
            lat, lon, _ = pymap3d.enu2geodetic(
                rec[..., 0].double().numpy(), rec[..., 1].double().numpy(), 0, lat0, lon0, 0
            )
            de, dn, _ = pymap3d.geodetic2enu(lat, lon, 0, c[la].to_numpy(), c[lo].to_numpy(), 0)
            assert np.hypot(de, dn).max() < 0.01
        # Timestamps survive, relative to the chunk start.
        rel = c["timestamp"].to_numpy() - float(row["t0"])
        assert np.abs(x_t[..., 2].double().numpy() - rel).max() < 1e-3
        # is_start marks the overlap with the agent's previous chunk.
        first_of_agent = i0 == 0
        expect = np.zeros(K, dtype=np.float32)
        expect[:OVERLAP] = 0.0 if first_of_agent else 1.0
        assert (x_t[..., 3].numpy() == expect).all()


def test_no_agent_in_two_splits(built) -> None:
    out, summary = built
    rows = _index(out)
    by_split = {s: {r["agent"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"]
                or by_split["val"] & by_split["test"])
    manifest = json.loads((out / "state" / "prepare.json").read_text())
    for s, names in by_split.items():
        assert set(manifest["splits"][s]["agents"]) == names
        assert summary.splits[s].agents == len(names) > 0


def test_huber_delta_is_the_numpy_percentile_formula(built) -> None:
    out, _ = built
    v = _load_split(out, "train")["V"][::R]  # one copy of each train chunk
    mags = np.hypot(v[..., 0].double().numpy(), v[..., 1].double().numpy()).reshape(-1)
    q1, q3 = np.percentile(mags, 25), np.percentile(mags, 75)
    stored = json.loads((out / "state" / "huber_delta.json").read_text())
    assert stored == {"delta": q3 + 1.5 * (q3 - q1), "q1": q1, "q3": q3, "iqr": q3 - q1}
    assert huber_delta(point_magnitudes(v.numpy()))["delta"] == stored["delta"]


def _sample_set(d: dict[str, torch.Tensor]) -> set[tuple[float, ...]]:
    return {
        tuple(torch.cat([x.flatten(), tt]).tolist())
        for x, tt in zip(d["X_t"], d["t"], strict=True)
    }


def test_quick_val_is_a_deduplicated_val_sample(built) -> None:
    out, summary = built
    qv, info = epochfile.load(out / "quick_val.pt", expect_k=K)
    val = _load_split(out, "val")
    assert info.n == min(OPTS.quick_val, summary.splits["val"].samples) == summary.quick_val
    rows = _sample_set(qv)
    assert len(rows) == info.n  # no sample twice
    vals = _sample_set(val)
    assert rows <= vals  # every sample comes from val
    distinct_chunks = {tuple(v.flatten().tolist()) for v in qv["V"]}
    assert len(distinct_chunks) == min(info.n, summary.splits["val"].chunks)


def test_select_quick_val_rounds_over_chunks() -> None:
    opts = PrepareOptions(repeats=5, quick_val=7, seed=1)
    picks = select_quick_val(4, opts)  # 4 chunks x 5 repeats, 7 wanted
    assert len(set(picks.tolist())) == 7
    per_chunk = np.bincount(picks // 5, minlength=4)
    assert per_chunk.min() >= 1 and per_chunk.max() == 2  # second round only after the first
    everything = select_quick_val(4, PrepareOptions(repeats=5, quick_val=999))
    assert everything.tolist() == list(range(20))


def test_deterministic_per_seed(raw: Path, built, tmp_path: Path) -> None:
    out, _ = built
    prepare(raw, tmp_path, OPTS)
    for split in ("train", "val", "test"):
        a, b = _load_split(out, split), _load_split(tmp_path, split)
        assert all(torch.equal(a[k], b[k]) for k in epochfile.KEYS)
    assert (tmp_path / "state" / "huber_delta.json").read_bytes() == (
        out / "state" / "huber_delta.json"
    ).read_bytes()


def _one_agent_csv(raw: Path, path: Path) -> pd.DataFrame:
    df = pd.read_parquet(raw / "part-0000.parquet")
    one = df[df["agent"] == df["agent"].iloc[0]]
    one.to_csv(path, index=False)
    return one


def test_agent_spanning_two_raw_files_is_chunked_as_one_track(raw: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    one = _one_agent_csv(raw, whole / "a.csv")
    cut = tmp_path / "cut"
    cut.mkdir()
    one.iloc[:130].to_csv(cut / "a.csv", index=False)  # 130 is not on a chunk boundary
    one.iloc[130:].to_csv(cut / "b.csv", index=False)
    opts = PrepareOptions(k=K, overlap=OVERLAP, repeats=2, split=(1.0, 0.0, 0.0), quick_val=0)
    s1 = prepare(whole, tmp_path / "o1", opts)
    s2 = prepare(cut, tmp_path / "o2", opts)
    assert s1.splits["train"].chunks == s2.splits["train"].chunks == n_chunks(len(one), K, OVERLAP)
    a, b = _load_split(tmp_path / "o1", "train"), _load_split(tmp_path / "o2", "train")
    assert all(torch.equal(a[k], b[k]) for k in epochfile.KEYS)
    assert not s2.out_of_order_agents
    # Files in the wrong time order for an agent: still prepared, and reported.
    rev = tmp_path / "rev"
    rev.mkdir()
    one.iloc[130:].to_csv(rev / "a.csv", index=False)
    one.iloc[:130].to_csv(rev / "b.csv", index=False)
    s3 = prepare(rev, tmp_path / "o3", opts)
    assert s3.out_of_order_agents == [str(one["agent"].iloc[0])]


def test_non_finite_rows_are_dropped_and_datetimes_accepted(raw: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    one = _one_agent_csv(raw, tmp_path / "tmp.csv").reset_index(drop=True)
    one.loc[[3, 50], "latitude_n"] = np.nan
    one.loc[7, "longitude"] = np.inf
    iso = one.assign(timestamp=pd.to_datetime(one["timestamp"], unit="s", utc=True))
    iso.to_csv(src / "a.csv", index=False)  # ISO 8601 strings with sub-second parts
    opts = PrepareOptions(k=K, overlap=OVERLAP, repeats=1, split=(1.0, 0.0, 0.0), quick_val=0)
    summary = prepare(src, tmp_path / "out", opts)
    assert summary.dropped_rows == 3 and summary.fixes == len(one)
    assert summary.splits["train"].chunks == n_chunks(len(one) - 3, K, OVERLAP)
    x = _load_split(tmp_path / "out", "train")["X_t"]
    ts = one["timestamp"].drop(index=[3, 7, 50]).to_numpy()
    assert np.abs(x[0, :, 2].double().numpy() - (ts[:K] - ts[0])).max() < 1e-3


def test_force_swaps_without_mixing_and_failure_keeps_old(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    prepare(raw, out, OPTS)
    old = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    with pytest.raises(ThetaError, match="already holds a prepared dataset"):
        prepare(raw, out, OPTS)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.csv").write_text("agent,timestamp\n1,2\n")
    digest = {p: hashlib.sha256((out / p).read_bytes()).hexdigest() for p in old}
    with pytest.raises(ThetaError, match="missing column"):
        prepare(bad, out, OPTS, force=True)
    assert {p: hashlib.sha256((out / p).read_bytes()).hexdigest() for p in old} == digest
    small = PrepareOptions(k=64, overlap=0, repeats=1, quick_val=0, files_per_split=1)
    prepare(raw, out, small, force=True)
    new = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert "quick_val.pt" not in new  # not re-made, so the old one is gone too
    assert [p for p in new if p.startswith("processed")] == [
        "processed/test/test_000.pt", "processed/train/train_000.pt", "processed/val/val_000.pt"
    ]
    assert not list(out.glob(".theta-*"))
    assert epochfile.load(out / "processed/train/train_000.pt", expect_k=64)


def test_plan_files_respects_epoch_cap_and_minimum() -> None:
    opts = PrepareOptions(repeats=5, files_per_split=4, min_file_samples=512)
    assert plan_files(0, opts) == [0]
    assert plan_files(50, opts) == [0, 50]  # 250 samples: one file
    assert plan_files(714, opts) == [0, 178, 357, 536, 714]
    many = plan_files(100_000, opts)  # 500k samples need more than 4 files of <= 37000
    sizes = np.diff(many) * 5
    assert sizes.max() <= EPOCH_LIMIT and len(many) - 1 == 14


def test_split_counts_and_seeded_assignment() -> None:
    assert split_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert split_counts(6, (0.8, 0.1, 0.1)) == [4, 1, 1]  # every wanted split gets an agent
    assert split_counts(2, (0.8, 0.1, 0.1)) == [1, 1, 0]
    assert split_counts(2, (0.1, 0.45, 0.45)) == [1, 1, 0]  # train is never left empty
    assert split_counts(1, (0.1, 0.45, 0.45)) == [1, 0, 0]
    assert split_counts(3, (0.1, 0.45, 0.45)) == [1, 1, 1]
    assert split_counts(7, (0.9, 0.0, 0.1)) == [6, 0, 1]
    agents = [f"a{i}" for i in range(30)]
    a = split_agents(agents, (0.8, 0.1, 0.1), seed=0)
    assert a == split_agents(list(reversed(agents)), (0.8, 0.1, 0.1), seed=0)
    assert a != split_agents(agents, (0.8, 0.1, 0.1), seed=1)
    assert sorted(a.values()).count("val") == 3


@pytest.mark.parametrize(
    ("opts", "match"),
    [
        (PrepareOptions(k=30), "--k"),
        (PrepareOptions(k=32, overlap=32), "--overlap"),
        (PrepareOptions(split=(0.5, 0.2, 0.2)), "--split"),
        (PrepareOptions(split=(0.0, 0.5, 0.5)), "--split"),
        (PrepareOptions(repeats=0), "--repeats"),
        (PrepareOptions(quick_val=-1), "--quick-val"),
    ],
)
def test_bad_options_are_refused(opts: PrepareOptions, match: str) -> None:
    with pytest.raises(ThetaError, match=match):
        opts.validate()


def test_all_agents_too_short(raw: Path, tmp_path: Path) -> None:
    with pytest.raises(ThetaError, match="no agent has K=512 fixes"):
        prepare(raw, tmp_path / "ds", PrepareOptions(k=512))
    assert not (tmp_path / "ds").exists()


def test_prepare_removes_build_dirs_of_killed_runs_not_live_ones(tmp_path: Path) -> None:
    from filelock import FileLock

    from theta_cli.data import staging

    raw, out = tmp_path / "raw", tmp_path / "ds"
    synthesize(SynthConfig(agents=4, points=300, files=1, seed=0), raw)
    stale = out / f"{staging.BUILD_PREFIX}killed"
    (stale / "processed").mkdir(parents=True)
    (stale / "processed" / "half.pt").write_bytes(b"x" * 100)
    live = out / f"{staging.BUILD_PREFIX}running"
    live.mkdir()
    held = FileLock(str(live / staging.BUILD_LOCK), timeout=0)
    held.acquire()  # another prepare, still running
    try:
        prepare(raw, out, PrepareOptions(k=32, quick_val=8), force=True)
    finally:
        held.release()
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in out.glob(".theta-*")) == [live.name]


def test_several_raw_sources_prepare_as_one_dataset(tmp_path: Path) -> None:
    base = {"points": 200, "seed": 3}
    synthesize(SynthConfig(**base, agents=6, files=2), tmp_path / "one")
    synthesize(SynthConfig(**base, agents=3, files=1), tmp_path / "a")
    synthesize(SynthConfig(**base, agents=3, files=1, first_agent=3), tmp_path / "b")
    prepare(tmp_path / "one", tmp_path / "o1", OPTS)
    s2 = prepare([tmp_path / "a", tmp_path / "b"], tmp_path / "o2", OPTS)
    assert [p.parent.name for p in s2.raw_files] == ["a", "b"]
    for split in ("train", "val", "test"):
        a, b = _load_split(tmp_path / "o1", split), _load_split(tmp_path / "o2", split)
        assert all(torch.equal(a[k], b[k]) for k in epochfile.KEYS), split
    # a file named twice (itself and through its directory) would double its agents' fixes
    with pytest.raises(ThetaError, match="given twice"):
        prepare([tmp_path / "a", tmp_path / "a" / "part-0000.parquet"], tmp_path / "o3", OPTS)
    assert not (tmp_path / "o3").exists()
    with pytest.raises(ThetaError, match="at least one"):
        prepare([], tmp_path / "o4", OPTS)


def test_several_sources_are_read_interleaved_so_every_epoch_file_mixes_them(
    tmp_path: Path,
) -> None:
    from theta_cli.data.prepare import _list_files

    synthesize(SynthConfig(points=64, seed=3, agents=4, files=4), tmp_path / "big")
    synthesize(SynthConfig(points=64, seed=3, agents=2, files=2, first_agent=4), tmp_path / "s")
    order = [f"{p.parent.name}/{p.stem[-1]}" for p in _list_files([tmp_path / "big",
                                                                    tmp_path / "s"])]  # fmt: skip
    # in proportion: the small source's two files land a quarter and three quarters in
    assert order == ["big/0", "s/0", "big/1", "big/2", "s/1", "big/3"]
    # and a prepared dataset's first and last train files both hold agents of each source
    synthesize(SynthConfig(points=400, seed=3, agents=8, files=4), tmp_path / "r")
    synthesize(SynthConfig(points=100, seed=3, agents=8, files=4, sampling="filled",
                           first_agent=8), tmp_path / "f")  # fmt: skip
    opts = PrepareOptions(k=K, overlap=OVERLAP, repeats=1, split=(1.0, 0.0, 0.0), quick_val=0,
                          files_per_split=2, min_file_samples=8)  # fmt: skip
    prepare([tmp_path / "r", tmp_path / "f"], tmp_path / "o", opts)
    rows = _index(tmp_path / "o")
    for name in {r["file"] for r in rows}:
        agents = {int(r["agent"][-4:]) for r in rows if r["file"] == name}
        assert min(agents) < 8 <= max(agents), (name, sorted(agents))
