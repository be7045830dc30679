"""TensorBoard logging's cost per training step: the cpu-small recipe with tensorboard on vs off.

Two production recipes (``TrainingRecipe``, as ``theta new`` runs them) train on the same
fabricated data with the config of examples/cpu-small.json, ``tensorboard`` the only difference.
They train alternate epochs (off, on, off, on, ...) in one process, so a busy machine slows both
alike; each epoch's loop time leaves out its checkpoint (quick_val, save, charts: the same in
both but for one flush) and the epoch file load. The figure is the median of the per-pair ratios
on / off (target < 1.02); the time the checkpoint's TensorBoard write adds is shown apart.

    python benchmarks/tb_overhead.py
    python benchmarks/tb_overhead.py --steps 300 --repeats 9 --threads 1   # steadier when busy
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from loop_overhead import TimedRecipe as LoopTimedRecipe
from loop_overhead import make_dataset  # the same fabricated epoch files

from theta_cli.core import logs
from theta_cli.core.config import apply_overrides, load_train_config
from theta_cli.engine.plan import NewRequest, config_solver

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "cpu-small.json"


class TimedRecipe(LoopTimedRecipe):
    """loop_overhead's timed recipe (checkpoints and epoch loads timed, to be taken out), plus
    the board's own time and one epoch's loop time."""

    board_ckpt_s = 0.0  # the board's checkpoint writes (outside the loop time)
    board_loop_s = 0.0  # the board's writes at log boundaries (inside it)
    board_logs = 0

    def timed_epoch(self, epoch: int) -> float:
        """Seconds of the epoch's step loop (its checkpoint and file load left out)."""
        ex0, t0 = self.excluded_s, time.perf_counter()
        self.train_epoch(epoch)
        return time.perf_counter() - t0 - (self.excluded_s - ex0)


def timed_board(recipe: TimedRecipe) -> None:
    """Time the board's own calls: its share of the loop, measured directly (a ratio of two
    loop times on a busy machine is noisier than the overhead it is after)."""
    board = recipe.board
    real_ckpt, real_running = board.checkpoint, board.running

    def checkpoint(global_step: int, row: object) -> None:
        t0 = time.perf_counter()
        real_ckpt(global_step, row)  # type: ignore[arg-type]
        recipe.board_ckpt_s += time.perf_counter() - t0

    def running(*args: object) -> None:
        t0 = time.perf_counter()
        real_running(*args)  # type: ignore[arg-type]
        recipe.board_loop_s += time.perf_counter() - t0
        recipe.board_logs += 1

    board.checkpoint = checkpoint  # type: ignore[method-assign]
    board.running = running  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="steps per epoch")
    ap.add_argument("--repeats", type=int, default=7, help="timed epochs of each")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logs.setup()
    base, _ = load_train_config(RECIPE)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_dataset(root / "data", args.steps * base.batch_size, base.K)
        data = root / "data"
        recipes = {}
        for on in (False, True):
            cfg = apply_overrides(base, {
                "tensorboard": on, "epochs": args.repeats + 1, "fix_interval_s": 1.0,
                "train_dir": str(data / "train"), "val_dir": str(data / "val"),
                "quick_val_path": str(data / "quick_val.pt"),
                "huber_delta_path": str(data / "huber_delta.json"),
            }, "benchmark")  # fmt: skip
            request = NewRequest(cfg, "benchmark", models_dir=root / f"models_{on}")
            recipes[on] = TimedRecipe(config_solver(request))
            recipes[on].time_loads()
        ratios, times = [], {False: [], True: []}
        with recipes[False], recipes[True]:
            assert recipes[True].board.on and not recipes[False].board.on
            timed_board(recipes[True])
            for on in (False, True):  # a warm-up epoch each (allocator, lazy init), untimed
                recipes[on].timed_epoch(0)
            on = recipes[True]
            on.board_ckpt_s = on.board_loop_s = 0.0
            on.board_logs = 0
            for r in range(1, args.repeats + 1):
                order = (False, True) if r % 2 else (True, False)  # neither always goes first
                pair = {on: recipes[on].timed_epoch(r) for on in order}
                ratios.append(pair[True] / pair[False])
                for on in pair:
                    times[on].append(pair[on])
    ms = {on: 1e3 * statistics.median(times[on]) / args.steps for on in times}
    print(
        f"{RECIPE.name}: {base.model_type} hidden={base.hidden} layers={base.layers} K={base.K} "
        f"batch={base.batch_size}, log_interval={base.log_interval}, {args.steps} steps/epoch, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"step, tensorboard off: {ms[False]:.2f} ms   on: {ms[True]:.2f} ms (medians)")
    print(f"per-pair ratios on/off: {', '.join(f'{x:.3f}' for x in ratios)}")
    ratio = statistics.median(ratios)
    print(f"overhead ratio on/off: {ratio:.4f} ({100 * (ratio - 1):+.2f}%; target < 2%)")
    on = recipes[True]
    share = on.board_loop_s / sum(times[True])
    print(
        f"TensorBoard's own time in the loop: {1e3 * on.board_loop_s / max(on.board_logs, 1):.3f}"
        f" ms per log ({on.board_logs} logs) = {100 * share:.4f}% of the loop time"
    )
    per_ckpt = 1e3 * on.board_ckpt_s / args.repeats
    print(f"TensorBoard write at each checkpoint (flush): {per_ckpt:.2f} ms, outside the steps")


if __name__ == "__main__":
    main()
