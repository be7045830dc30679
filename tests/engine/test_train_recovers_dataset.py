"""`theta new` on a dataset whose `data prepare` was killed half way through its swap: the
swap is rolled back (or finished) before training reads the files, so it never trains on a
mix of two datasets or on a dataset with its state/ missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import invoke, tiny_config, write_config

from theta_cli.data import staging

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child")


def _swap_and_die(dest: Path, names: list[str], after_renames: int) -> None:
    """Fork a child that swaps a copy of ``names`` into ``dest`` and dies (as kill -9) at its
    ``after_renames``-th rename."""
    pid = os.fork()
    if pid == 0:
        try:
            with staging.build_dir(dest) as build:
                for n in names:
                    shutil.copytree(dest / n, build / n)
                calls = 0
                real = os.replace

                def dying(*args: object, **kwargs: object) -> None:
                    nonlocal calls
                    calls += 1
                    if calls == after_renames:
                        os._exit(77)
                    real(*args, **kwargs)  # type: ignore[arg-type]

                os.replace = dying  # type: ignore[assignment]
                staging.swap_in(build, dest, names)
        finally:
            os._exit(1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 77


def test_new_rolls_back_a_half_done_prepare_swap(tiny_data: Path, theta_env: Path) -> None:
    data = theta_env / "dataset"
    shutil.copytree(tiny_data, data)
    # journal written and moved in, then "processed" moved aside: it is missing now
    _swap_and_die(data, ["processed", "state"], after_renames=4)
    assert (data / staging.JOURNAL).is_file() and not (data / "processed").exists()
    cfg = write_config(theta_env / "cfg.json", tiny_config(data))
    result = invoke("--models-dir", theta_env / "models", "new", "--config", cfg)
    assert result.exit_code == 0, result.output + result.stderr
    assert "half-done swap" in result.stderr and "rolled it back" in result.stderr
    assert (data / "processed" / "train").is_dir() and (data / "state").is_dir()
    assert not (data / staging.JOURNAL).exists()
