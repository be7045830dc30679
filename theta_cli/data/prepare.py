"""`theta data prepare`: raw pairs -> the training layout of DOMAIN.md.

Two passes over the raw files, one file in memory at a time:
  1. scan: validate every file (nothing is written if one is bad) and count each agent's
     finite fixes, so the agent split and the size of every output file are known up front;
  2. build: per file, sort each agent's fixes by time, cut chunks (``chunking``), turn them
     into samples (``samples``: ENU, V, t, X_t) and append those to the split's output file
     (``splitfiles``), which is written as soon as it holds its planned chunks.
Memory is bounded by the largest raw file, one output file per split, the per-agent carry
(< K fixes for agents that continue in a later file) and the train noise magnitudes used for
the Huber delta (8 bytes per train point).

Everything is written into a hidden build directory beside ``processed/`` and swapped in at
the end (``staging``), so a failed or interrupted run leaves the previous dataset untouched.

Layout of a split file: chunk-major, ``repeats`` consecutive samples per chunk, chunks in
(raw file, agent name, time) order; ``state/chunks.csv`` maps every chunk back to its agent,
start time and ENU origin. The training loader shuffles within an epoch.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BYTE, DATASET_OUTPUTS, SPLITS, DatasetLayout
from theta_cli.data import defaults as D
from theta_cli.data import staging
from theta_cli.data.chunking import FIELDS, AgentChunks, Carry, cut, n_chunks
from theta_cli.data.rawio import RawTable, list_raw_files, read_raw
from theta_cli.data.samples import build_samples, huber_delta, point_magnitudes
from theta_cli.data.split import split_agents
from theta_cli.data.splitfiles import SplitWriter, plan_files, write_quick_val

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class PrepareOptions:
    k: int = D.K
    overlap: int = D.OVERLAP
    repeats: int = D.REPEATS
    split: tuple[float, float, float] = D.SPLIT
    seed: int = D.SEED
    quick_val: int = D.QUICK_VAL
    files_per_split: int = D.FILES_PER_SPLIT
    min_file_samples: int = D.MIN_FILE_SAMPLES

    def validate(self) -> None:
        """Raise ThetaError naming the CLI option that is wrong."""
        if self.k <= 0 or self.k % BYTE:
            raise ThetaError(f"--k: {self.k} is not a positive multiple of {BYTE}")
        if not 0 <= self.overlap < self.k:
            raise ThetaError(f"--overlap: {self.overlap} must be >= 0 and smaller than K={self.k}")
        if self.repeats < 1:
            raise ThetaError(f"--repeats: {self.repeats} must be >= 1")
        if len(self.split) != 3 or any(not math.isfinite(f) or f < 0 for f in self.split):
            raise ThetaError(f"--split: {self.split} must be three fractions >= 0")
        if abs(sum(self.split) - 1.0) > 1e-6:
            raise ThetaError(f"--split: fractions {self.split} sum to {sum(self.split):g}, not 1")
        if self.split[0] <= 0:
            raise ThetaError("--split: the train fraction must be positive")
        if self.quick_val < 0:
            raise ThetaError(f"--quick-val: {self.quick_val} must be >= 0")
        if self.files_per_split < 1:
            raise ThetaError(f"--files-per-split: {self.files_per_split} must be >= 1")
        if self.min_file_samples < 1:
            raise ThetaError(f"--min-file-samples: {self.min_file_samples} must be >= 1")


@dataclass
class SplitStats:
    agents: int = 0
    chunks: int = 0
    samples: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class PrepareSummary:
    out: Path
    raw_files: list[Path]
    options: PrepareOptions
    fixes: int = 0  # rows read, before dropping non-finite ones
    dropped_rows: int = 0
    splits: dict[str, SplitStats] = field(default_factory=lambda: {s: SplitStats() for s in SPLITS})
    skipped_agents: list[str] = field(default_factory=list)
    out_of_order_agents: list[str] = field(default_factory=list)
    delta: dict[str, float] = field(default_factory=dict)
    quick_val: int = 0
    fix_interval_s: float = 1.0  # median seconds between fixes (typical_interval)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage

    def tick(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


@dataclass
class _Scan:
    rows: dict[str, int]  # finite fixes per agent over all files
    last_file: dict[str, int]  # index of the last raw file holding the agent


def agent_codes(agent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique agent names, code of each row): a hash factorize, far faster than
    np.unique's sort on Python strings."""
    import pandas as pd

    codes, uniques = pd.factorize(agent)
    by_name = np.argsort(uniques.astype(str), kind="stable")
    rank = np.empty_like(by_name)
    rank[by_name] = np.arange(len(by_name))
    return np.asarray(uniques, dtype=object)[by_name], rank[codes]


def is_prepared(out: Path) -> bool:
    return any((out / name).exists() for name in DATASET_OUTPUTS)


def _scan(files: list[Path], summary: PrepareSummary, progress: ProgressFn | None) -> _Scan:
    rows: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, path in enumerate(files):
        t0 = time.perf_counter()
        table = read_raw(path)
        summary.fixes += len(table) + table.dropped
        summary.dropped_rows += table.dropped
        names, codes = agent_codes(table.agent)
        counts = np.bincount(codes, minlength=len(names))
        for name, c in zip(names.tolist(), counts.tolist(), strict=True):
            rows[name] = rows.get(name, 0) + c
            last[name] = i
        summary.tick("scan", t0)
        if progress:
            progress("scan", i + 1, len(files))
    return _Scan(rows, last)


def _index_csv(rows: list[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("split", "file", "chunk", "first_sample", "agent", "t0", "origin_lat",
                "origin_lon"))
    for r in rows:
        w.writerow((*r[:5], repr(r[5]), repr(r[6]), repr(r[7])))
    return buf.getvalue()


def _check_paths(raws: list[Path], out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ThetaError(f"{out}: --out exists and is not a directory")
    staging.recover(out)  # a swap a killed prepare left half done: finish or undo it first
    out_abs = out.resolve()
    for raw in raws:
        raw_abs = raw.resolve()
        for name in DATASET_OUTPUTS:
            inside = out_abs / name
            if raw_abs == inside or inside in raw_abs.parents:
                raise ThetaError(f"{raw}: --raw lies inside {inside}, which prepare replaces")
    if is_prepared(out) and not force:
        raise ThetaError(
            f"{out}: already holds a prepared dataset (processed/, state/ or quick_val.pt); "
            "use --force to replace it"
        )


def raw_sources(raw: str | Path | Sequence[str | Path]) -> list[Path]:
    """One --raw or several, as paths (at least one)."""
    raws = [Path(raw)] if isinstance(raw, (str, Path)) else [Path(r) for r in raw]
    if not raws:
        raise ThetaError("--raw: give at least one raw file or directory")
    return raws


def _list_files(raws: list[Path]) -> list[Path]:
    """The raw files of every source, interleaved in proportion: source by source, file k of a
    source with n files is read at position (k + 1/2) / n. A split's epoch files are filled in
    reading order and an epoch reads one of them, so reading the sources one after another
    would train whole epochs on one source (measured: every fourth epoch on the filled smart
    agents alone, its loss twice the others'). Each file once: one named twice, directly or
    through its directory, would be read twice and its agents' fixes doubled."""
    keyed: list[tuple[float, int, Path]] = []
    seen: dict[Path, Path] = {}
    for j, raw in enumerate(raws):
        # A killed synth/pairs may have left its swap half done: read the old or the new set.
        staging.recover(raw if raw.is_dir() else raw.parent)
        files = list_raw_files(raw)
        for k, f in enumerate(files):
            key = f.resolve()
            if key in seen:
                raise ThetaError(f"{f}: given twice (also as {seen[key]}); name each raw once")
            seen[key] = f
            keyed.append(((k + 0.5) / len(files), j, f))
    return [f for _, _, f in sorted(keyed, key=lambda x: x[:2])]


def prepare(
    raw: str | Path | Sequence[str | Path],
    out: str | Path,
    opts: PrepareOptions | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> PrepareSummary:
    """Build ``out/processed/{train,val,test}``, ``out/state/huber_delta.json`` and
    ``out/quick_val.pt`` from the raw files in ``raw`` (one file or directory, or several).
    Returns what was built."""
    opts = opts or PrepareOptions()
    opts.validate()
    raws, out_p = raw_sources(raw), Path(out)
    files = _list_files(raws)
    _check_paths(raws, out_p, force)
    label = ", ".join(str(r) for r in raws)
    summary = PrepareSummary(out=out_p, raw_files=files, options=opts)
    scan = _scan(files, summary, progress)
    assign, planned = _plan_splits(label, scan, opts, summary)

    with staging.build_dir(out_p) as build:
        staged = DatasetLayout(build)
        writers = {
            s: SplitWriter(s, staged.split_dir(s), plan_files(planned[s], opts), opts)
            for s in SPLITS
        }
        train_mags, intervals = _write_splits(files, assign, scan, writers, summary, progress)
        t0 = time.perf_counter()
        summary.delta = huber_delta(np.concatenate(train_mags))
        summary.fix_interval_s = typical_interval(np.concatenate(intervals))
        atomic.write_json(staged.huber_path, summary.delta)
        summary.quick_val = write_quick_val(staged.quick_val_path, writers["val"], opts)
        index = [r for s in SPLITS for r in writers[s].index_rows]
        atomic.write_text(staged.chunks_path, _index_csv(index))
        atomic.write_json(staged.manifest_path, _manifest(summary, assign))
        staging.swap_in(build, out_p, DATASET_OUTPUTS)
        summary.tick("save", t0)
    return summary


def _plan_splits(
    label: str, scan: _Scan, opts: PrepareOptions, summary: PrepareSummary
) -> tuple[dict[str, str], dict[str, int]]:
    """Assign each agent with at least K fixes to a split; the chunks each split will get."""
    if not scan.rows:
        raise ThetaError(
            f"{label}: no usable rows: all {summary.fixes:,} rows lack a finite coordinate, "
            "a finite timestamp or an agent"
        )
    k, overlap = opts.k, opts.overlap
    eligible = [a for a, n in scan.rows.items() if n >= k]
    summary.skipped_agents = sorted(a for a, n in scan.rows.items() if n < k)
    if not eligible:
        raise ThetaError(
            f"{label}: no agent has K={k} fixes (longest has {max(scan.rows.values())}); "
            "use a smaller --k"
        )
    assign = split_agents(eligible, opts.split, opts.seed)
    planned = {s: 0 for s in SPLITS}
    for a, s in assign.items():
        planned[s] += n_chunks(scan.rows[a], k, overlap)
        summary.splits[s].agents += 1
    return assign, planned


def _write_splits(
    files: list[Path],
    assign: dict[str, str],
    scan: _Scan,
    writers: dict[str, SplitWriter],
    summary: PrepareSummary,
    progress: ProgressFn | None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read, chunk and write every raw file into the split writers, then finish them. Returns
    the training points' magnitudes (for the Huber delta) and every file's fix intervals."""
    opts = summary.options
    t_rng = np.random.default_rng([opts.seed, 1])
    carries: dict[str, Carry] = {}
    train_mags: list[np.ndarray] = []
    intervals: list[np.ndarray] = []
    for i, path in enumerate(files):
        t0 = time.perf_counter()
        table = read_raw(path)
        intervals.append(fix_intervals(table))
        t0 = summary.tick("read", t0)
        per_split = _chunk_file(table, i, assign, scan, carries, opts, summary)
        t0 = summary.tick("chunk", t0)
        for s in SPLITS:
            chunks, agents = per_split[s]
            if chunks is None:
                continue
            samples, v32 = build_samples(chunks, agents, opts.repeats, opts.overlap, t_rng)
            if s == "train":
                train_mags.append(point_magnitudes(v32))
            t0 = summary.tick("enu", t0)
            writers[s].add(samples)
            t0 = summary.tick("save", t0)
        if progress:
            progress("prepare", i + 1, len(files))
    for s, w in writers.items():
        w.finish()
        summary.splits[s].chunks = w.written
        summary.splits[s].samples = w.written * opts.repeats
        summary.splits[s].files = list(w.files)
    return train_mags, intervals


def _chunk_file(
    table: RawTable,
    file_index: int,
    assign: dict[str, str],
    scan: _Scan,
    carries: dict[str, Carry],
    opts: PrepareOptions,
    summary: PrepareSummary,
) -> dict[str, tuple[AgentChunks | None, list[str]]]:
    """Chunks of one raw file, grouped by split (agents in name order, fixes in time order)."""
    names, inverse = agent_codes(table.agent)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
    cols = {
        "timestamp": table.timestamp, "lat": table.lat, "lon": table.lon,
        "lat_n": table.lat_n, "lon_n": table.lon_n,
    }
    cols = {f: cols[f][order] for f in FIELDS}
    found: dict[str, list[AgentChunks]] = {s: [] for s in SPLITS}
    owners: dict[str, list[str]] = {s: [] for s in SPLITS}
    for j, agent in enumerate(names.tolist()):
        split = assign.get(agent)
        if split is None:  # shorter than K over all files: skipped
            continue
        rows = {f: cols[f][bounds[j] : bounds[j + 1]] for f in FIELDS}
        chunks, carry, disordered = cut(rows, carries.pop(agent, None), opts.k, opts.overlap)
        if disordered and agent not in summary.out_of_order_agents:
            summary.out_of_order_agents.append(agent)
        if scan.last_file[agent] > file_index:
            carries[agent] = carry
        if len(chunks):
            found[split].append(chunks)
            owners[split].extend([agent] * len(chunks))
    result: dict[str, tuple[AgentChunks | None, list[str]]] = {}
    for s in SPLITS:
        if not found[s]:
            result[s] = (None, [])
            continue
        merged = AgentChunks(
            cols={f: np.concatenate([c.cols[f] for c in found[s]]) for f in FIELDS},
            has_prev=np.concatenate([c.has_prev for c in found[s]]),
        )
        result[s] = (merged, owners[s])
    return result


def fix_intervals(table: RawTable) -> np.ndarray:
    """Seconds between consecutive fixes of the same agent (positive gaps only)."""
    same = table.agent[1:] == table.agent[:-1]
    dt = np.diff(table.timestamp)[same]
    return dt[dt > 0]


def typical_interval(dt: np.ndarray) -> float:
    """The dataset's fix interval: the median gap, so missing fixes and jitter do not move it.

    Recorded in state/prepare.json; a run carries it in its config (``fix_interval_s``) and
    ``theta denoise`` resamples other rates to it.
    """
    return float(np.median(dt)) if dt.size else 1.0


def _manifest(summary: PrepareSummary, assign: dict[str, str]) -> dict:
    o = summary.options
    return {
        "raw_files": [str(p) for p in summary.raw_files],
        "options": {
            "k": o.k, "overlap": o.overlap, "repeats": o.repeats, "split": list(o.split),
            "seed": o.seed, "quick_val": o.quick_val, "files_per_split": o.files_per_split,
            "min_file_samples": o.min_file_samples,
        },
        "fixes": summary.fixes,
        "dropped_rows": summary.dropped_rows,
        "splits": {
            s: {
                "agents": sorted(a for a, sp in assign.items() if sp == s),
                "chunks": st.chunks,
                "samples": st.samples,
                "files": st.files,
            }
            for s, st in summary.splits.items()
        },
        "skipped_agents": summary.skipped_agents,
        "out_of_order_agents": summary.out_of_order_agents,
        "huber_delta": summary.delta,
        "fix_interval_s": summary.fix_interval_s,
        "quick_val": summary.quick_val,
    }
