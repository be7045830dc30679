"""Reading and appending a run's CSV logs (train_data.csv, byte_wise_err.csv).

Rows are validated on read; a corrupted row is reported with its file and line number, so a
damaged log never turns into a silent NaN in a chart or a wrong prune decision.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import (
    BENCH_CSV_HEADER,
    BYTE,
    TRAIN_CSV_HEADER,
    RunLayout,
    byte_csv_header,
)
from theta_cli.core.metrics import with_metric_fields
from theta_cli.core.textfile import read_text


@dataclass(frozen=True)
class TrainRow:
    """One row of train_data.csv: one checkpoint."""

    ckpt_name: str
    epoch: int
    step: int
    avg_loss: float
    acc_mean: float
    acc_median: float
    acc_std: float
    lr: float
    huber_loss_delta: float


assert tuple(f.name for f in fields(TrainRow)) == TRAIN_CSV_HEADER  # one source of truth


@dataclass(frozen=True)
class ByteRow:
    """One row of byte_wise_err.csv: a checkpoint evaluated with given buckles and mode."""

    ckpt_name: str
    q1: int
    q2: int
    mode: str
    buckle_head: float | None  # None when Q1 = 0
    byte_means: tuple[float, ...]

    def values(self) -> list[object]:
        head = "" if self.buckle_head is None else _fmt(self.buckle_head)
        return [self.ckpt_name, self.q1, self.q2, self.mode, head] + [
            _fmt(v) for v in self.byte_means
        ]


def _fmt(x: float) -> str:
    return repr(float(x))


def read_table(path: Path) -> list[tuple[int, list[str]]]:
    """Every non-empty row of a CSV with its 1-based line number; [] when the file is absent.

    The one CSV reader: the text is decoded strictly (``core.textfile``), so a damaged log is a
    one-line error naming the file, never an internal error."""
    if not path.is_file():
        return []
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    return [(reader.line_num, row) for row in reader if row]


def _read(path: Path, header: Sequence[str] | None) -> list[tuple[int, list[str]]]:
    """Data rows (with line numbers) under a checked header; [] when the file is absent."""
    table = read_table(path)
    if not table:
        return []
    got = table[0][1]
    if header is not None and [h.strip() for h in got] != list(header):
        raise ThetaError(f"{path}:1: unexpected header {','.join(got)!r}")
    return table[1:]


def _num(path: Path, line: int, name: str, raw: str, kind: type) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        raise ThetaError(f"{path}:{line}: column {name!r} is {raw!r}, not a number") from None
    if isinstance(value, float) and math.isinf(value):
        raise ThetaError(f"{path}:{line}: column {name!r} is infinite")
    return value


def read_train_rows(run: RunLayout, path: Path | None = None) -> list[TrainRow]:
    """The run's train_data.csv rows; ``path`` reads another file with the same header instead
    (e.g. the ``train_data.superseded_*.csv`` a resume from an older checkpoint sets aside)."""
    path = run.train_csv if path is None else path
    rows = []
    for line, raw in _read(path, TRAIN_CSV_HEADER):
        if len(raw) != len(TRAIN_CSV_HEADER):
            raise ThetaError(
                f"{path}:{line}: {len(raw)} values, expected {len(TRAIN_CSV_HEADER)}"
            )
        vals: list[object] = [raw[0].strip()]
        for f, cell in zip(fields(TrainRow)[1:], raw[1:], strict=True):
            vals.append(_num(path, line, f.name, cell.strip(), int if f.type == "int" else float))
        rows.append(TrainRow(*vals))  # type: ignore[arg-type]
    return rows


def _train_values(row: TrainRow) -> list[object]:
    return [row.ckpt_name, row.epoch, row.step] + [_fmt(v) for v in astuple(row)[3:]]


def append_train_row(run: RunLayout, row: TrainRow) -> None:
    atomic.append_csv_row(run.train_csv, TRAIN_CSV_HEADER, _train_values(row))


def write_train_rows(path: Path, rows: Sequence[TrainRow]) -> None:
    """Rewrite a train_data.csv with ``rows`` (atomically; the same format as appends)."""
    lines = [atomic.csv_line(TRAIN_CSV_HEADER)] + [atomic.csv_line(_train_values(r)) for r in rows]
    atomic.write_text(path, "".join(lines))


def read_byte_rows(run: RunLayout) -> list[ByteRow]:
    path = run.byte_csv
    table = read_table(path)
    if len(table) < 2:
        return []
    header, raw_rows = table[0][1], table[1:]
    n_bytes = len(header) - 5
    if n_bytes < 1 or header != list(byte_csv_header(n_bytes * BYTE)):
        raise ThetaError(f"{path}:1: unexpected header {','.join(header[:6])!r}...")
    out = []
    for line, raw in raw_rows:
        if len(raw) != len(header):
            raise ThetaError(f"{path}:{line}: {len(raw)} values, expected {len(header)}")
        head_raw = raw[4].strip()
        head = None if head_raw == "" else float(_num(path, line, "buckle_head", head_raw, float))
        means = tuple(
            float(_num(path, line, header[5 + i], raw[5 + i], float)) for i in range(n_bytes)
        )
        out.append(
            ByteRow(
                raw[0],
                int(_num(path, line, "Q1", raw[1], int)),
                int(_num(path, line, "Q2", raw[2], int)),
                raw[3],
                head,
                means,
            )
        )
    return out


def check_byte_header(run: RunLayout, k: int) -> None:
    """Refuse a byte_wise_err.csv whose header is not chunk length ``k``'s.

    The append would refuse it anyway, but only after the whole evaluation: callers check
    first, so a refusal costs nothing and changes nothing on disk."""
    path = run.byte_csv
    table = read_table(path)
    if not table or table[0][1] == list(byte_csv_header(k)):
        return
    got = table[0][1]
    n_bytes = len(got) - 5
    if n_bytes >= 1 and got == list(byte_csv_header(n_bytes * BYTE)):
        what = f"is for K={n_bytes * BYTE} ({n_bytes} byte columns)"
    else:
        what = f"is not a byte-wise error header ({','.join(got[:6])!r}...)"
    raise ThetaError(
        f"{path}:1: header {what}, but this checkpoint has K={k}; refusing to mix columns "
        "(move the file aside to start a new log)"
    )


def append_byte_row(run: RunLayout, row: ByteRow) -> None:
    k = len(row.byte_means) * BYTE
    atomic.append_csv_row(run.byte_csv, byte_csv_header(k), row.values())


@dataclass(frozen=True)
@with_metric_fields(after="points")
class BenchRow:
    """One row of bench.csv: a checkpoint at some Euler steps, scored on one data set. The
    metric fields (mean, median, p95, rmse, max, gsdc: ``core.metrics``) follow ``points``."""

    time: str
    ckpt_name: str
    steps: int
    data: str
    points: int
    points_per_s: float
    best_baseline_median: float
    best_baseline_p95: float
    median_gain_pct: float
    p95_gain_pct: float


assert tuple(f.name for f in fields(BenchRow)) == BENCH_CSV_HEADER  # one source of truth

_BENCH_TEXT = ("time", "ckpt_name", "data")
_BENCH_INT = ("steps", "points")


def append_bench_row(run: RunLayout, row: BenchRow) -> None:
    values = [
        v if f.name in _BENCH_TEXT + _BENCH_INT else _fmt(v)
        for f, v in zip(fields(BenchRow), astuple(row), strict=True)
    ]
    atomic.append_csv_row(run.bench_csv, BENCH_CSV_HEADER, values)


def read_bench_rows(run: RunLayout) -> list[BenchRow]:
    path = run.bench_csv
    rows = []
    for line, raw in _read(path, BENCH_CSV_HEADER):
        if len(raw) != len(BENCH_CSV_HEADER):
            raise ThetaError(f"{path}:{line}: {len(raw)} values, expected {len(BENCH_CSV_HEADER)}")
        vals: list[object] = []
        for f, cell in zip(fields(BenchRow), raw, strict=True):
            if f.name in _BENCH_TEXT:
                vals.append(cell.strip())
            else:
                vals.append(_num(path, line, f.name, cell.strip(),
                                 int if f.name in _BENCH_INT else float))
        rows.append(BenchRow(*vals))  # type: ignore[arg-type]
    return rows
