"""Which file goes where: expanding inputs, naming outputs, and the refusals that protect data.

Rules (all checked before anything is read or written):
- ``--out`` is required: denoise never writes next to, or over, its input by itself.
- Several inputs, or a directory, go to ``--out DIR`` under their own names (the suffix follows
  the output format). One input goes to ``--out FILE``, or into ``--out`` when that is an
  existing directory or a name without a suffix.
- The output format is ``--format``, else the ``--out`` file's suffix, else the input's own
  (FIT input: CSV).
- An output equal to an input is refused always; an existing output unless ``--force``; a
  device, FIFO, socket or directory always (``atomic.check_target``, which also checks that the
  directory is writable and the name fits); without ``--force`` an output that appears while
  denoise computes is refused too (``Job.replace``: written in ``atomic.no_replace()``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from theta_cli.core import atomic, logs
from theta_cli.core.errors import ThetaError
from theta_cli.infer.formats import (
    INPUT_FORMATS,
    OUTPUT_BY_SUFFIX,
    OUTPUT_FORMATS,
    OUTPUT_SUFFIX,
    default_output_format,
    input_format,
)


@dataclass(frozen=True)
class Job:
    """One input file and where its denoised copy goes."""

    input: Path
    output: Path
    in_format: str
    out_format: str
    replace: bool = False  # --force: may replace a file already at ``output``


def expand_inputs(paths: Sequence[Path]) -> tuple[list[Path], bool]:
    """Input files (a directory stands for its track files, sorted); and whether any input was
    a directory."""
    files: list[Path] = []
    any_dir = False
    for p in paths:
        if p.is_dir():
            any_dir = True
            found = sorted(
                c for c in p.iterdir() if c.is_file() and c.suffix.lower() in INPUT_FORMATS
            )
            if not found:
                raise ThetaError(f"{p}: no track files ({', '.join(INPUT_FORMATS)}) in directory")
            files.extend(found)
        elif not p.exists():
            raise ThetaError(f"{p}: no such file")
        else:
            input_format(p)
            files.append(p)
    if not files:
        raise ThetaError("no input files given")
    return files, any_dir


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def plan_jobs(
    inputs: Sequence[Path], out: Path | None, fmt: str | None, force: bool
) -> list[Job]:
    """Resolve inputs and outputs; every refusal is a ThetaError naming the file or option."""
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise ThetaError(f"--format {fmt}: expected one of {', '.join(OUTPUT_FORMATS)}")
    files, any_dir = expand_inputs(inputs)
    if out is None:
        raise ThetaError(
            "--out: required: give an output file (one input) or directory "
            "(denoise never overwrites its input)"
        )
    to_dir = len(files) > 1 or any_dir or out.is_dir() or (not out.exists() and not out.suffix)
    if to_dir and out.exists() and not out.is_dir():
        raise ThetaError(f"--out {out}: is a file; several inputs need an output directory")
    log = logs.get_logger()
    jobs: list[Job] = []
    for f in files:
        in_fmt = input_format(f)
        if to_dir:
            out_fmt = fmt or default_output_format(in_fmt)
            name = f.name if out_fmt == in_fmt else f.stem + OUTPUT_SUFFIX[out_fmt]
            target = out / name
        else:
            by_suffix = OUTPUT_BY_SUFFIX.get(out.suffix.lower())
            if fmt is not None and by_suffix is not None and by_suffix != fmt:
                raise ThetaError(f"--out {out}: the suffix says {by_suffix}, --format says {fmt}")
            if fmt is None and by_suffix is None:
                raise ThetaError(
                    f"--out {out}: unknown output format {out.suffix}; pass --format "
                    f"({', '.join(OUTPUT_FORMATS)})"
                )
            out_fmt = fmt or by_suffix or default_output_format(in_fmt)
            target = out
        if in_fmt == "fit" and fmt is None and out_fmt == "csv":
            log.info(f"{f.name}: FIT input is written as CSV (--format gpx|parquet|geojson "
                     "for another format)")
        jobs.append(Job(f, target, in_fmt, out_fmt, replace=force))

    seen: dict[Path, Path] = {}
    for job in jobs:
        for f in files:
            if _same_file(job.output, f):
                raise ThetaError(
                    f"--out {job.output}: is an input file; denoise never overwrites its input"
                )
        key = job.output.resolve()
        if key in seen:
            raise ThetaError(
                f"--out {job.output}: both {seen[key]} and {job.input} would be written there"
            )
        seen[key] = job.input
        atomic.check_target(job.output, force)
    return jobs
