"""A torchrun-style worker for the distributed tests: optional faults, then the real CLI.

    python tests/engine/_ddp_worker.py <fault> <theta args...>

fault: ``none``; ``kill1@S`` (rank 1 dies by SIGKILL at its step S); ``sigint1@S`` (rank 1 gets
one SIGINT at its step S, as a Ctrl-C reaching only that process would).
"""

from __future__ import annotations

import os
import signal
import sys

from theta_cli.engine import recipe

fault = sys.argv[1]
rank = int(os.environ.get("RANK", "0"))
if fault != "none":
    kind, _, at = fault.partition("@")
    target_rank, step_at = int(kind[-1]), int(at)
    sig = signal.SIGKILL if kind.startswith("kill") else signal.SIGINT
    real_step = recipe.TrainingRecipe._step
    calls = {"n": 0}

    def step(self, xb, vb, tb):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if rank == target_rank and calls["n"] == step_at:
            os.kill(os.getpid(), sig)
        real_step(self, xb, vb, tb)

    recipe.TrainingRecipe._step = step  # type: ignore[method-assign]

from theta_cli.cli import main  # noqa: E402

main(sys.argv[2:], prog_name="theta")
