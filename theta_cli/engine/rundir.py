"""A run's directory on disk: every write the recipe makes there.

``engine.plan`` decides (new vs resume, where, from which checkpoint) and writes nothing; this
module carries the decision out and keeps the directory up to date, rank 0 only
(``distributed.on_main``):

    claim_run_dir(model_type, base)      a new run's directory, claimed exclusively
    model_house_builder(plan, run)       directories, runtime.log, a new run's config.json
    restore_missing_rows(run)            resume: train_data.csv rows a kill left unwritten
    set_aside_later_history(run, e, s)   resume from an older checkpoint: later history aside
    abandon_if_empty(run)                a new run that failed before its first checkpoint
    write_checkpoint_files(run, ...)     checkpoint, its train_data.csv row, config.json
    draw_charts(run)                     the training curves (``engine.charts``)
    open_board(plan, run, state, stack)  TensorBoard's writer, when the config turns it on
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.artifact import checkpoint
from theta_cli.core import atomic, csvlog, logs
from theta_cli.core.config import RunConfig, RunState, TrainConfig
from theta_cli.core.errors import DiskFull, ThetaError
from theta_cli.core.layout import RunLayout
from theta_cli.engine.tboard import LiveBoard

if TYPE_CHECKING:
    from theta_cli.engine.plan import Plan

log = logs.get_logger()


def claim_run_dir(model_type: str, base: Path) -> RunLayout:
    """Create ``<base>/<model_type>_<YYYYmmdd_HHMMSS>``; a suffix keeps same-second runs apart."""
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{model_type}_{time.strftime('%Y%m%d_%H%M%S')}"
    for i in range(1, 1000):
        root = base / (stem if i == 1 else f"{stem}_{i}")
        try:
            root.mkdir()  # exclusive: two processes can never claim the same directory
        except FileExistsError:
            continue
        return RunLayout(root.resolve())
    raise ThetaError(f"{base}: could not find a free run name for {stem}")


def model_house_builder(plan: Plan, run: RunLayout) -> None:
    """Directories, runtime.log and (new runs) the first config.json; the lock is held."""
    run.make_dirs()
    logs.attach_run_log(run.runtime_log)
    if plan.mode == "new":
        rc = RunConfig.compose(plan.config, plan.state)
        atomic.write_json(run.config_path, rc.model_dump())
        log.info(f"== theta new: run {run.name} in {run.root.parent}", extra={"style": "bold"})
        log.info(f"config: {json.dumps(rc.model_dump())}", extra={"console": False})
        return
    assert plan.resume_ckpt is not None
    log.info(
        f"== theta resume: run {run.name} from {plan.resume_ckpt.name}, "
        f"starting at epoch {plan.start_epoch} step {plan.start_step}",
        extra={"style": "bold"},
    )
    rc = RunConfig.compose(plan.config, plan.state)
    log.info(f"resume config: {json.dumps(rc.model_dump())}", extra={"console": False})


def abandon_if_empty(run: RunLayout) -> None:
    """A new run that failed before its first checkpoint leaves no half-made directory."""
    if not run.checkpoints():
        logs.detach_run_log()
        shutil.rmtree(run.root, ignore_errors=True)


def newest_checkpoint(run: RunLayout | None) -> Path | None:
    """The newest checkpoint on disk: complete, since checkpoints are renamed into place."""
    found = run.checkpoints() if run is not None else []
    return found[-1][2] if found else None


def write_checkpoint_files(
    run: RunLayout, payload: dict[str, Any], row: csvlog.TrainRow, config: TrainConfig,
    state: RunState,
) -> None:
    """The checkpoint, then its train_data.csv row, then config.json (the spec's order); a full
    disk names the last complete checkpoint."""
    try:
        checkpoint.save_checkpoint(run.ckpt_path(row.epoch, row.step), payload)
        csvlog.append_train_row(run, row)
        atomic.write_json(run.config_path, RunConfig.compose(config, state).model_dump())
    except DiskFull as e:
        newest = newest_checkpoint(run)
        raise DiskFull(
            e.path, f"; the last complete checkpoint is {newest or 'none (no checkpoint yet)'}"
        ) from None


def draw_charts(run: RunLayout) -> None:
    """Redraw the training curves; a chart that fails to draw must not end a training run."""
    try:
        from theta_cli.engine.charts import write_train_charts

        write_train_charts(run)
    except Exception as e:  # noqa: BLE001
        log.warning(f"charts not updated: {type(e).__name__}: {e}")


def open_board(
    plan: Plan, run: RunLayout, state: RunState, stack: contextlib.ExitStack
) -> LiveBoard:
    """The run's TensorBoard writer under ``tb/``, continuing at the state's global step and
    closed by ``stack``; an idle one when off, or when it cannot open (a view never stops a
    run)."""
    if not plan.config.tensorboard:
        return LiveBoard.off()
    board = LiveBoard.open(run.tb_dir, plan.config.model_dump(), state.global_step,
                           plan.mode == "resume")  # fmt: skip
    stack.callback(board.close)
    return board


def restore_missing_rows(run: RunLayout) -> list[str]:
    """Put back the train_data.csv row of every checkpoint on disk that has none.

    A kill between writing a checkpoint and appending its row leaves the checkpoint without its
    row; every checkpoint carries its row (``checkpoint.ROW``), so the next start of the run
    restores it, in (epoch, step) order. Returns the names restored.
    """
    rows = csvlog.read_train_rows(run)
    described = {r.ckpt_name for r in rows}
    restored: list[csvlog.TrainRow] = []
    for _, _, path in run.checkpoints():
        if path.name in described:
            continue
        try:
            row = checkpoint.stored_row(checkpoint.load_checkpoint(path, mmap=True))
        except ThetaError as e:
            log.warning(f"{path}: no train_data.csv row and unreadable ({e}); left as it is")
            continue
        if row is None or row.ckpt_name != path.name:
            log.warning(f"{path}: no train_data.csv row, and the checkpoint carries none")
            continue
        restored.append(row)
    if not restored:
        return []
    merged = list(rows)
    for row in restored:  # keep the existing order; each restored row goes where it belongs
        at = next(
            (i for i, r in enumerate(merged) if (r.epoch, r.step) > (row.epoch, row.step)),
            len(merged),
        )
        merged.insert(at, row)
    csvlog.write_train_rows(run.train_csv, merged)
    names = [r.ckpt_name for r in restored]
    log.warning(
        f"{run.train_csv}: restored the row(s) of {', '.join(names)} from the checkpoint(s) "
        "(a previous process stopped between writing a checkpoint and its row)"
    )
    return names


def set_aside_later_history(run: RunLayout, epoch: int, step: int) -> None:
    """Resuming from an older checkpoint: move later rows and checkpoints aside, never delete.

    Otherwise train_data.csv would hold two histories after this point, and later checkpoints
    would be silently overwritten by the new continuation.
    """
    later = [p for e, s, p in run.checkpoints() if (e, s) > (epoch, step)]
    rows = csvlog.read_train_rows(run)
    keep = [r for r in rows if (r.epoch, r.step) <= (epoch, step)]
    moved = len(rows) - len(keep)
    if not later and not moved:
        return
    stamp = time.strftime("%Y%m%d_%H%M%S")
    aside = run.ckpt_dir / f"superseded_{stamp}"
    if moved:
        superseded = run.log_dir / f"train_data.superseded_{stamp}.csv"
        atomic.write_bytes(superseded, run.train_csv.read_bytes())
        csvlog.write_train_rows(run.train_csv, keep)
    if later:
        aside.mkdir(parents=True, exist_ok=True)
        for p in later:
            os.replace(p, aside / p.name)
    log.warning(
        f"resuming before the run's last checkpoint: {len(later)} later checkpoint(s) moved to "
        f"{aside} and {moved} later row(s) of {run.train_csv.name} kept in "
        f"train_data.superseded_{stamp}.csv"
    )
