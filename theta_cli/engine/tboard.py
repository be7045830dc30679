"""TensorBoard event files: a read-only view of a run, never its record.

The CSVs (train_data.csv, byte_wise_err.csv, bench.csv) stay the source of truth; the event
files only draw them, live or afterwards (``runs.tbexport``). So TensorBoard may be missing at
import time (the ``tb`` extra), and a writer that fails never stops a run: it logs one warning
line and turns itself off.

    require()                            refuse ``tensorboard: true`` without the package
    open_writer(log_dir, purge_step)     a SummaryWriter (torch's, on tensorboard's protobufs)
    row_scalars(row)                     a train_data.csv row as tagged scalars (live = export)
    write_config(writer, config, step)   the config as text, its fields as hparams
    LiveBoard.open(...)                  the writer a training run uses (rank 0 only)

Steps are global optimizer steps, the ones ``RunState.global_step`` counts. A resume opens its
writer with ``purge_step = global_step + 1``: TensorBoard then drops whatever an earlier writer
logged past the checkpoint (a later history set aside, or steps a killed process logged after
its last checkpoint), so the curves never hold two values at one step.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core import logs
from theta_cli.core.csvlog import TrainRow
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import TRAIN_CSV_HEADER

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

log = logs.get_logger()

INSTALL_HINT = "pip install 'theta-cli[tb]'"
#: Live-only series, logged every log_interval steps (what the epoch line shows).
LOSS_TAG = "train/loss"
LR_TAG = "train/lr"
SAMPLES_TAG = "train/samples_per_s"
#: One series per train_data.csv column, logged at each checkpoint, named after the column.
CKPT_PREFIX = "checkpoint/"
CKPT_COLUMNS = TRAIN_CSV_HEADER[3:]  # avg_loss ... huber_loss_delta (not name, epoch, step)
CONFIG_TAG = "config"
#: Metrics the HParams tab lists beside the hyperparameters (series of the same run).
HPARAM_METRICS = (CKPT_PREFIX + "acc_mean", CKPT_PREFIX + "avg_loss")
#: Seconds between background flushes: a live view lags at most this much behind.
FLUSH_S = 10


def require() -> None:
    """Refuse before anything is written when the tensorboard package is missing."""
    try:
        import tensorboard  # noqa: F401  (torch's writer needs it, but imports it lazily)
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as e:
        raise ThetaError(
            f"tensorboard: true needs the tensorboard package ({e}); install it with: "
            f"{INSTALL_HINT} (or set tensorboard=false)"
        ) from None


def open_writer(log_dir: Path, purge_step: int | None = None) -> SummaryWriter:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step, flush_secs=FLUSH_S)


def row_scalars(row: TrainRow) -> dict[str, float]:
    """A checkpoint's scalars by tag: the same for live logging and for ``theta tb export``."""
    return {CKPT_PREFIX + name: float(getattr(row, name)) for name in CKPT_COLUMNS}


def _hparam(value: Any) -> int | float | str | bool:
    # The HParams plugin takes numbers, strings and booleans; null fields read as "null".
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def write_config(writer: SummaryWriter, config: Mapping[str, Any], step: int) -> None:
    """The config as a text entry (a JSON code block) and as the run's hparams."""
    from torch.utils.tensorboard.summary import hparams

    block = "\n".join("    " + line for line in json.dumps(dict(config), indent=2).splitlines())
    writer.add_text(CONFIG_TAG, block, step)
    hp = {k: _hparam(v) for k, v in config.items()}
    # Written into this run's own file (SummaryWriter.add_hparams would open a sub-run per call).
    file_writer = writer._get_file_writer()
    for summary in hparams(hp, dict.fromkeys(HPARAM_METRICS, 0.0)):
        file_writer.add_summary(summary, step)


class LiveBoard:
    """The writer of a training run; rank 0 only. The first failure is logged as one warning
    line and turns the board off: TensorBoard is a view, the run goes on."""

    def __init__(self, writer: SummaryWriter | None, log_dir: Path | None) -> None:
        self._writer = writer
        self.log_dir = log_dir

    @classmethod
    def off(cls) -> LiveBoard:
        """A board that writes nothing (TensorBoard off, or ranks other than 0): the training
        loop calls it without asking."""
        return cls(None, None)

    @classmethod
    def open(
        cls, log_dir: Path, config: Mapping[str, Any], global_step: int, resumed: bool
    ) -> LiveBoard:
        """A board at ``log_dir``, continuing at ``global_step``; off (one warning) if it
        cannot be opened."""
        # A resume drops what earlier writers logged past its checkpoint (see the module doc).
        purge = global_step + 1 if resumed else None
        board = cls.off()
        try:
            board = cls(open_writer(log_dir, purge), log_dir)
            write_config(board._writer, config, 0 if purge is None else purge)
        except Exception as e:  # noqa: BLE001  (a tb/ that is a file, unwritable, a full disk)
            board._fail(e, log_dir)
        return board

    @property
    def on(self) -> bool:
        return self._writer is not None

    def running(self, global_step: int, loss: float | None, lr: float, samples_s: float) -> None:
        """The live line's numbers at a log boundary."""

        def write(w: SummaryWriter) -> None:
            if loss is not None:
                w.add_scalar(LOSS_TAG, loss, global_step)
            w.add_scalar(LR_TAG, lr, global_step)
            w.add_scalar(SAMPLES_TAG, samples_s, global_step)

        self._do(write)

    def checkpoint(self, global_step: int, row: TrainRow) -> None:
        """A checkpoint's train_data.csv row, flushed with it (a kill loses nothing saved)."""

        def write(w: SummaryWriter) -> None:
            for tag, value in row_scalars(row).items():
                w.add_scalar(tag, value, global_step)
            w.flush()

        self._do(write)

    def close(self) -> None:
        self._do(lambda w: w.close())
        self._writer = None

    def _do(self, action: Callable[[SummaryWriter], None]) -> None:
        if self._writer is None:
            return
        try:
            action(self._writer)
        except Exception as e:  # noqa: BLE001
            self._fail(e, self.log_dir)

    def _fail(self, err: Exception, log_dir: Path | None) -> None:
        """One warning line, then off for the rest of the run."""
        log.warning(
            f"{log_dir}: TensorBoard logging off for this run ({type(err).__name__}: {err}); "
            "training goes on, the CSVs are unaffected"
        )
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # already reported; the view is off either way
                writer.close()
