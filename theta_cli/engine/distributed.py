"""Running under ``torchrun``: detection, the process group, and the few collectives training
needs. Without torchrun (no ``WORLD_SIZE``), ``Dist()`` is a single process and every helper here
is a no-op, so the single-process path is unchanged.

    torchrun --nproc-per-node 4 -m theta_cli new --config examples/gpu-spec.json

Rank 0 owns every file (run directory, lock, config.json, CSVs, runtime.log, charts, the live
line, checkpoints) and every decision (early stop), which it broadcasts. NCCL on CUDA, gloo on
the CPU. A collective that fails (a rank died, the network went away) or outlives
``dist_timeout_s`` becomes a one-line error on every surviving rank instead of a hang.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from theta_cli.core.errors import EXIT_FAILED, ThetaError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

ENV_KEYS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")

#: Set by the CLI entry point, which ends a worker that used a process group with ``hard_exit``.
#: Then the group is not torn down in-process: gloo's teardown while a peer is exiting can hit
#: std::terminate ("terminate called without an active exception", SIGABRT) even after every
#: file is written, and process exit frees the group anyway.
HARD_EXIT = False
_group_used = False


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect(env: dict[str, str] | None = None) -> Dist:
    """torchrun's ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; a single process when absent."""
    env = dict(os.environ) if env is None else env
    if "WORLD_SIZE" not in env:
        return Dist()
    try:
        world, rank = int(env["WORLD_SIZE"]), int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        shown = {k: env.get(k) for k in ENV_KEYS}
        raise ThetaError(f"torchrun environment {shown}: not integers") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ThetaError(f"torchrun environment: RANK={rank} of WORLD_SIZE={world} is impossible")
    return Dist(rank, world, local)


def device_for(dist: Dist, cpu: bool) -> torch.device:
    """One CUDA device per local rank under torchrun; the usual picker otherwise."""
    import torch

    from theta_cli.core.device import pick_device

    if not dist.enabled or cpu or not torch.cuda.is_available():
        return pick_device("cpu" if cpu else "auto")
    torch.cuda.set_device(dist.local_rank)
    return torch.device("cuda", dist.local_rank)


@contextlib.contextmanager
def process_group(dist: Dist, device: torch.device, timeout_s: float) -> Iterator[None]:
    """The process group for the block (NCCL on CUDA, gloo on the CPU); nothing when single."""
    if not dist.enabled:
        yield
        return
    import torch.distributed as tdist

    global _group_used
    backend = "nccl" if device.type == "cuda" else "gloo"
    tdist.init_process_group(
        backend, rank=dist.rank, world_size=dist.world, timeout=dt.timedelta(seconds=timeout_s)
    )
    _group_used = True
    try:
        yield
    finally:
        # Leave together: a rank that tears the group down while a peer still talks to it can
        # make gloo abort the peer. After a failure the barrier fails fast (the peer is gone).
        with contextlib.suppress(Exception):
            tdist.barrier()
        if not HARD_EXIT:  # see HARD_EXIT: the CLI's workers leave by os._exit instead
            with contextlib.suppress(Exception):  # a peer may be gone already
                tdist.destroy_process_group()


def group_used() -> bool:
    """Whether this process joined a process group (it is a torchrun worker that trained)."""
    return _group_used


def hard_exit(code: object) -> NoReturn:
    """End this worker now with ``code`` (a ``SystemExit`` code), skipping the interpreter's and
    C++'s teardown: logs and standard streams are flushed first, and every file that matters was
    already written atomically (fsync, rename) before the command returned."""
    import logging
    import sys

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): Python prints it and exits 1
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


class PeerLost(ThetaError):
    """A collective failed: another rank died or stopped answering."""


@contextlib.contextmanager
def collective(dist: Dist, what: str) -> Iterator[None]:
    """Turn a failed collective into one line naming this rank and what it was doing (a no-op
    for a single process, whose errors keep their own meaning)."""
    if not dist.enabled:
        yield
        return
    try:
        yield
    except ThetaError:
        raise
    except (RuntimeError, OSError) as e:  # DistBackendError is a RuntimeError
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise PeerLost(
            f"rank {dist.rank}: lost the other ranks while {what} ({first}); stopping "
            "(did a rank die? see its output)",
            EXIT_FAILED,
        ) from None


def mean_(dist: Dist, tensor: torch.Tensor) -> torch.Tensor:
    """In-place mean over ranks (no-op when single)."""
    if dist.enabled:
        import torch.distributed as tdist

        with collective(dist, "averaging the loss"):
            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
        tensor /= dist.world
    return tensor


def any_rank(dist: Dist, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (Ctrl-C reaching one rank stops all)."""
    if not dist.enabled:
        return flag
    import torch
    import torch.distributed as tdist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    with collective(dist, "checking for Ctrl-C"):
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast(dist: Dist, obj: T) -> T:
    """Rank 0's ``obj`` on every rank (a decision, a status)."""
    if not dist.enabled:
        return obj
    import torch.distributed as tdist

    box: list[Any] = [obj]
    with collective(dist, "receiving rank 0's decision"):
        tdist.broadcast_object_list(box, src=0)
    return box[0]


def gather(dist: Dist, obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not dist.enabled:
        return [obj]
    import torch.distributed as tdist

    out: list[Any] = [None] * dist.world
    with collective(dist, "gathering the ranks' state"):
        tdist.all_gather_object(out, obj)
    return out


def on_main(dist: Dist, fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only (everything when single); every rank learns whether it failed,
    and stops with it instead of waiting at the next collective. None on the other ranks."""
    if not dist.enabled:
        return fn()
    if dist.is_main:
        try:
            result = fn()
        except ThetaError as e:
            broadcast(dist, (str(e), e.code))
            raise
        broadcast(dist, None)
        return result
    failure = broadcast(dist, None)
    if failure is not None:
        raise ThetaError(f"rank 0: {failure[0]}", failure[1], quiet=True)
    return None
