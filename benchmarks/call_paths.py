"""How many theta modules a reader walks through: the ``theta_cli`` modules whose code runs
when following ``theta new`` from the command line to the first optimizer step, and
``theta denoise`` from the command line to the written file (issue 19).

    python benchmarks/call_paths.py            # counts, and the modules, of both paths
    python benchmarks/call_paths.py --list     # ... with each module named

Two counts per path (``sys.setprofile``, the real commands run in-process on a tiny synthetic
dataset):
- *entered*: modules any of whose code runs, module bodies (imports) included;
- *called*: modules one of whose functions or methods is called, which is what a reader
  following the path steps through (a module only imported, or only defining a class that
  is used, does not count).
It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

PKG = "theta_cli"


def _module_of(filename: str, root: Path) -> str | None:
    try:
        rel = Path(filename).resolve().relative_to(root)
    except ValueError:
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PKG, *parts]) if parts else PKG


class Tracer:
    """Records theta modules entered until ``stop_when(frame)`` is true for a call."""

    def __init__(self, stop_when: Callable[[FrameType], bool]) -> None:
        import theta_cli

        self.root = Path(theta_cli.__file__).resolve().parent
        self.stop_when = stop_when
        self.modules: set[str] = set()
        self.called: set[str] = set()
        self.done = False

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if self.done or event != "call":
            return
        if self.stop_when(frame):
            self.done = True
            sys.setprofile(None)
            return
        mod = _module_of(frame.f_code.co_filename, self.root)
        if mod is not None:
            self.modules.add(mod)
            # Module and class bodies run as code too, but only functions are "optimized"
            # code: an import, or a class definition, is not a step a reader follows.
            if frame.f_code.co_flags & inspect.CO_OPTIMIZED:
                self.called.add(mod)


def _invoke(*args: object) -> None:
    from typer.testing import CliRunner

    from theta_cli.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exit_code != 0:
        raise SystemExit(f"theta {' '.join(map(str, args))} failed:\n{res.output}")


def _traced(
    stop_when: Callable[[FrameType], bool], *args: object
) -> tuple[set[str], set[str]]:
    tracer = Tracer(stop_when)
    sys.setprofile(tracer)
    try:
        _invoke(*args)
    finally:
        sys.setprofile(None)
    return tracer.modules, tracer.called


def _is_optimizer_step(frame: FrameType) -> bool:
    code = frame.f_code
    return code.co_name == "step" and f"torch{os.sep}optim" in code.co_filename


def new_path(d: Path) -> tuple[set[str], set[str]]:
    raw, data = d / "raw", d / "dataset"
    _invoke("data", "synth", "--out", raw, "--agents", 6, "--points", 1600, "--files", 3,
            "--seed", 0)
    _invoke("data", "prepare", "--raw", raw, "--out", data, "--k", 32, "--quick-val", 64)
    cfg = {"K": 32, "model_type": "hybrid", "hidden": 16, "layers": 2, "epochs": 1,
           "batch_size": 64, "train_dir": str(data / "processed" / "train"),
           "val_dir": str(data / "processed" / "val"),
           "quick_val_path": str(data / "state" / "quick_val.pt"),
           "huber_delta_path": str(data / "state" / "huber_delta.json"), "cpu": True}
    (d / "cfg.json").write_text(json.dumps(cfg))
    return _traced(_is_optimizer_step, "--models-dir", d / "models", "new", "--config",
                   d / "cfg.json")


def denoise_path(d: Path) -> tuple[set[str], set[str]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from memory_bounds import write_gpx

    write_gpx(d / "ride.gpx", 600)
    return _traced(lambda f: False, "denoise", d / "ride.gpx", "--out", d / "clean.gpx",
                   "--steps", "1", "--device", "cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="name every module")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        old = Path.cwd()
        os.chdir(d)
        try:
            paths = {"theta new -> first optimizer step": new_path(d),
                     "theta denoise -> written file": denoise_path(d)}
        finally:
            os.chdir(old)
    for what, (entered, called) in paths.items():
        print(f"{what}: {len(entered)} modules entered, {len(called)} called")
        if ns.list:
            for m in sorted(entered):
                print(f"  {'called ' if m in called else 'entered'}  {m}")


if __name__ == "__main__":
    main()
