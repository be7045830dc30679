"""The single source of truth for names on disk: run and dataset layouts, checkpoint names, CSV
headers, the byte size and the buckle rule.

Nothing else in theta spells a run path, a dataset file name, a checkpoint pattern or a CSV
column by hand.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from theta_cli.core.errors import ThetaError

#: Points per byte. K must be a multiple of it; a chunk has K // BYTE bytes.
BYTE = 8


def check_buckles(k: int, q1: int, q2: int) -> None:
    """Refuse buckles that leave no payload: 8·(Q1+Q2) must be < K (ValueError names them)."""
    if q1 < 0 or q2 < 0:
        raise ValueError(f"buckle lengths must be >= 0 (got Q1={q1}, Q2={q2})")
    if BYTE * (q1 + q2) >= k:
        raise ValueError(
            f"buckles Q1={q1}, Q2={q2} cover {BYTE * (q1 + q2)} points, which leaves no "
            f"payload in a chunk of K={k} (need 8·(Q1+Q2) < K)"
        )


# ---- dataset layout (``theta data prepare`` writes it, training and bench read it) ---------

PROCESSED_DIR = "processed"
STATE_DIR = "state"
QUICK_VAL_FILE = "quick_val.pt"
HUBER_FILE = "huber_delta.json"
CHUNKS_FILE = "chunks.csv"
MANIFEST_FILE = "prepare.json"
#: What a prepared dataset consists of (prepare builds them aside and swaps them in together).
DATASET_OUTPUTS = (PROCESSED_DIR, STATE_DIR, QUICK_VAL_FILE)
SPLITS = ("train", "val", "test")
#: Samples in quick_val.pt (prepare) and in a run's own drawn sample (training).
QUICK_VAL_SIZE = 2000
#: The most samples one epoch reads from its file (the spec's min(37000, N)).
EPOCH_LIMIT = 37000


@dataclass(frozen=True)
class DatasetLayout:
    """Paths of one prepared dataset: ``<root>/{processed/<split>, state/*, quick_val.pt}``."""

    root: Path

    def split_dir(self, split: str) -> Path:
        return self.root / PROCESSED_DIR / split

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def huber_path(self) -> Path:
        return self.state_dir / HUBER_FILE

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / MANIFEST_FILE

    @property
    def chunks_path(self) -> Path:
        return self.state_dir / CHUNKS_FILE

    @property
    def quick_val_path(self) -> Path:
        return self.root / QUICK_VAL_FILE

    @classmethod
    def of_split_dir(cls, split_dir: str | os.PathLike[str]) -> DatasetLayout:
        """The dataset a ``processed/<split>`` directory belongs to."""
        return cls(Path(split_dir).parent.parent)


@dataclass(frozen=True)
class _DatasetDefaults:
    """The training config's default dataset paths (the spec's), from the layout above."""

    root: str = "./dataset"

    @property
    def train_dir(self) -> str:
        return f"{self.root}/{PROCESSED_DIR}/train"

    @property
    def val_dir(self) -> str:
        return f"{self.root}/{PROCESSED_DIR}/val"

    @property
    def huber_delta_path(self) -> str:
        return f"{self.root}/{STATE_DIR}/{HUBER_FILE}"

    @property
    def quick_val_path(self) -> str:
        return f"{self.root}/{QUICK_VAL_FILE}"

    epoch_limit: int = EPOCH_LIMIT


DATASET_DEFAULTS = _DatasetDefaults()

DEFAULT_MODELS_DIR = "./models"
MODELS_DIR_ENV = "THETA_MODELS_DIR"

#: Weights file written by ``artifact.export`` and read by ``artifact.load.model_const``.
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAIN_CSV = "train_data.csv"
BYTE_CSV = "byte_wise_err.csv"
RUNTIME_LOG = "runtime.log"
BENCH_CSV = "bench.csv"
LOCK_FILE = ".lock"
LOSS_PNG = "loss-ckpt.png"
ACC_PNG = "acc-ckpt.png"
BYTE_HEATMAP_PNG = "byte-err-heatmap.png"
#: TensorBoard event files (a read-only view of the CSVs; ``engine.tboard``, ``runs.tbexport``).
TB_DIR = "tb"

#: Header of log/train_data.csv, in the spec's order (written without spaces: standard CSV).
TRAIN_CSV_HEADER: tuple[str, ...] = (
    "ckpt_name",
    "epoch",
    "step",
    "avg_loss",
    "acc_mean",
    "acc_median",
    "acc_std",
    "lr",
    "huber_loss_delta",
)

#: Header of log/bench.csv: one row per model checkpoint x Euler steps x data set scored by
#: ``theta bench``; the errors are metres against the clean track, ``*_gain_pct`` how much
#: lower theta's median/p95 is than the best tuned baseline's (positive = theta better).
BENCH_CSV_HEADER: tuple[str, ...] = (
    "time",
    "ckpt_name",
    "steps",
    "data",
    "points",
    "mean",
    "median",
    "p95",
    "rmse",
    "max",
    "gsdc",
    "points_per_s",
    "best_baseline_median",
    "best_baseline_p95",
    "median_gain_pct",
    "p95_gain_pct",
)

#: Checkpoint names: theta writes ``ckpt_epoch3_step200.pt``; the spec's
#: ``ckpt_epoch_3_step_200.pt`` spelling is accepted when reading.
CKPT_RE = re.compile(r"^ckpt_epoch_?(?P<epoch>\d+)_step_?(?P<step>\d+)\.pt$")


def ckpt_name(epoch: int, step: int) -> str:
    return f"ckpt_epoch{epoch}_step{step}.pt"


def ckpt_label(name: str) -> str:
    """``ckpt_epoch3_step200.pt`` -> ``e3:s200`` (short tick label); other names unchanged."""
    m = CKPT_RE.match(name)
    return f"e{m['epoch']}:s{m['step']}" if m else name


def parse_ckpt_name(name: str) -> tuple[int, int]:
    """Return (epoch, step) from a checkpoint file name, or raise ThetaError."""
    m = CKPT_RE.match(name)
    if not m:
        raise ThetaError(
            f"{name}: not a checkpoint name; expected ckpt_epoch<E>_step<S>.pt "
            "(or ckpt_epoch_<E>_step_<S>.pt)"
        )
    return int(m["epoch"]), int(m["step"])


def byte_csv_header(k: int) -> tuple[str, ...]:
    """Header of log/byte_wise_err.csv for chunk length ``k`` (spec columns plus ``mode``)."""
    return ("ckpt_name", "Q1", "Q2", "mode", "buckle_head") + tuple(
        f"byte_{i}_mean" for i in range(1, k // BYTE + 1)
    )


def models_dir(value: str | os.PathLike[str] | None = None) -> Path:
    """The run root: ``value`` (the CLI passes ``--models-dir`` here, and the engine whatever
    the command handed it), else $THETA_MODELS_DIR, else ./models."""
    if value is not None:
        return Path(value)
    return Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run: ``<models_dir>/<model_name>/{log,ckpt,fig}``."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def ckpt_dir(self) -> Path:
        return self.root / "ckpt"

    @property
    def fig_dir(self) -> Path:
        return self.root / "fig"

    @property
    def config_path(self) -> Path:
        return self.log_dir / CONFIG_FILE

    @property
    def train_csv(self) -> Path:
        return self.log_dir / TRAIN_CSV

    @property
    def byte_csv(self) -> Path:
        return self.log_dir / BYTE_CSV

    @property
    def bench_csv(self) -> Path:
        return self.log_dir / BENCH_CSV

    @property
    def tb_dir(self) -> Path:
        return self.root / TB_DIR

    @property
    def runtime_log(self) -> Path:
        return self.log_dir / RUNTIME_LOG

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def quick_val_path(self) -> Path:
        """The quick_val sample a run drew itself when its dataset had none."""
        return self.log_dir / QUICK_VAL_FILE

    @property
    def loss_png(self) -> Path:
        return self.fig_dir / LOSS_PNG

    @property
    def acc_png(self) -> Path:
        return self.fig_dir / ACC_PNG

    def ckpt_path(self, epoch: int, step: int) -> Path:
        return self.ckpt_dir / ckpt_name(epoch, step)

    def checkpoints(self) -> list[tuple[int, int, Path]]:
        """Checkpoints present on disk as (epoch, step, path), oldest first."""
        if not self.ckpt_dir.is_dir():
            return []
        found = []
        for p in self.ckpt_dir.iterdir():
            m = CKPT_RE.match(p.name)
            if m and p.is_file():
                found.append((int(m["epoch"]), int(m["step"]), p))
        return sorted(found)

    def make_dirs(self) -> None:
        for d in (self.log_dir, self.ckpt_dir, self.fig_dir):
            d.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_ckpt(cls, ckpt: str | os.PathLike[str]) -> tuple[RunLayout, int, int]:
        """Run layout and (epoch, step) of ``models/<run>/ckpt/ckpt_epoch3_step200.pt``."""
        path = Path(ckpt)
        epoch, step = parse_ckpt_name(path.name)
        if not path.is_file():
            raise ThetaError(f"{path}: checkpoint not found")
        if path.resolve().parent.name != "ckpt":
            raise ThetaError(f"{path}: a checkpoint must live in a run's ckpt/ directory")
        return cls(path.resolve().parent.parent), epoch, step


def resolve_run(ref: str | os.PathLike[str], root: Path | None = None) -> RunLayout:
    """Find a run by name (under the models dir) or by path; unknown names list what exists."""
    base = models_dir(root)
    as_path = Path(ref)
    for candidate in (as_path, base / as_path):
        if (candidate / "log").is_dir() or (candidate / "ckpt").is_dir():
            return RunLayout(candidate.resolve())
    runs = list_runs(base)
    known = ", ".join(r.name for r in runs) if runs else "none"
    raise ThetaError(f"{ref}: no such run under {base} (runs there: {known})")


def list_runs(root: Path | None = None) -> list[RunLayout]:
    base = models_dir(root)
    if not base.is_dir():
        return []
    return [RunLayout(p) for p in sorted(base.iterdir()) if (p / "log").is_dir()]
