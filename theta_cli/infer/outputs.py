"""Which file goes where: naming outputs, and the refusals that protect data.

Rules (all checked before anything is read or written):
- ``--out`` is required: denoise never writes next to, or over, its input by itself.
- Several inputs, or a directory, go to ``--out DIR`` under their own names (the suffix follows
  the output format). One input goes to ``--out FILE``, or into ``--out`` when that is an
  existing directory or a name without a suffix.
- The output format is ``--format``, else the ``--out`` file's suffix, else the input's own
  (FIT input: CSV).
- An output equal to an input is refused always; an existing output unless ``--force``; a
  device, FIFO, socket or directory always (``targets.check_target``, which also checks that the
  directory is writable and the name fits); without ``--force`` an output that appears while
  denoise computes is refused too (``Job.replace``: written in ``atomic.no_replace()``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from theta_cli.core import logs, targets
from theta_cli.core.errors import ThetaError
from theta_cli.tracks.formats import (
    OUTPUT_BY_SUFFIX,
    OUTPUT_FORMATS,
    OUTPUT_SUFFIX,
    default_output_format,
    expand_inputs,
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
        target, out_fmt = _output(f, in_fmt, out, fmt, to_dir)
        if in_fmt == "fit" and fmt is None and out_fmt == "csv":
            log.info(f"{f.name}: FIT input is written as CSV (--format gpx|parquet|geojson "
                     "for another format)")
        jobs.append(Job(f, target, in_fmt, out_fmt, replace=force))
    _refuse_clashes(jobs, files, force)
    return jobs


def _output(f: Path, in_fmt: str, out: Path, fmt: str | None, to_dir: bool) -> tuple[Path, str]:
    """Where input ``f`` is written, and in which format."""
    if to_dir:
        out_fmt = fmt or default_output_format(in_fmt)
        name = f.name if out_fmt == in_fmt else f.stem + OUTPUT_SUFFIX[out_fmt]
        return out / name, out_fmt
    by_suffix = OUTPUT_BY_SUFFIX.get(out.suffix.lower())
    if fmt is not None and by_suffix is not None and by_suffix != fmt:
        raise ThetaError(f"--out {out}: the suffix says {by_suffix}, --format says {fmt}")
    if fmt is None and by_suffix is None:
        raise ThetaError(
            f"--out {out}: unknown output format {out.suffix}; pass --format "
            f"({', '.join(OUTPUT_FORMATS)})"
        )
    return out, fmt or by_suffix or default_output_format(in_fmt)


def _refuse_clashes(jobs: Sequence[Job], files: Sequence[Path], force: bool) -> None:
    """Refuse an output that is an input, two jobs writing one file, and a target that cannot
    be written (``targets.check_target``)."""
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
        targets.check_target(job.output, force)
