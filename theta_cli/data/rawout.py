"""The ``--out`` of `theta data synth|pairs`: which raw tables in it theta wrote, and whether a
run may write there.

theta replaces only its own files (``--force`` covers nothing else). Its own raw tables are the
ones a manifest in ``--out`` lists: ``synth.json``'s ``written_files``, ``pairs.json``'s
``files``. A manifest from an older theta without that list owns the part names its config
implies (``part-0000`` up to its ``files`` count, in its ``format``); a bare
``noise_model.json`` owns only names of the ``part-NNNN`` form theta writes. Every other .csv or
.parquet is the user's: never moved or deleted, and named in the refusal (or, with ``--force``,
a notice), because `theta data prepare` reads every table in a raw directory as raw data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from theta_cli.core import jsonfile
from theta_cli.core.errors import ThetaError
from theta_cli.data import staging
from theta_cli.data.noise import NOISE_FILE
from theta_cli.data.rawio import RAW_SUFFIXES

SYNTH_FILE = "synth.json"
PAIRS_FILE = "pairs.json"
#: The raw-table names theta writes (``part_name``).
PART_RE = re.compile(r"^part-\d{4}\.(csv|parquet)$")


def part_name(index: int, fmt: str) -> str:
    return f"part-{index:04d}.{fmt}"


@dataclass
class OutDir:
    """The raw tables in ``--out`` before a run: theta's (replaced with --force) and others."""

    own: list[Path] = field(default_factory=list)
    foreign: list[Path] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = jsonfile.loads(path.read_text(encoding="utf-8"), path)
    except (OSError, ValueError, ThetaError):
        return None
    return record if isinstance(record, dict) else None


def _plain_names(values: Any) -> set[str] | None:
    """File names from a manifest list; None unless it is a list of bare names (a manifest
    naming ``../x`` or ``sub/x`` must not make theta replace that)."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return {v for v in values if v and Path(v).name == v and v not in (".", "..")}


def _implied(config: Any) -> set[str]:
    """The part names an older manifest's config wrote (its ``files`` count and ``format``)."""
    if not isinstance(config, dict):
        return set()
    files, fmt = config.get("files"), config.get("format", "parquet")
    if not isinstance(files, int) or fmt not in ("csv", "parquet") or not 0 < files <= 10_000:
        return set()
    return {part_name(i, fmt) for i in range(files)}


def theta_tables(dest: Path) -> set[str]:
    """Names of the raw tables theta's own manifests in ``dest`` say it wrote."""
    names: set[str] = set()
    synth, pairs = _read(dest / SYNTH_FILE), _read(dest / PAIRS_FILE)
    if synth is not None:
        listed = _plain_names(synth.get("written_files"))
        names |= listed if listed is not None else _implied(synth)
    if pairs is not None:
        listed = _plain_names(pairs.get("files"))
        names |= listed if listed is not None else _implied(pairs.get("config"))
    if synth is None and pairs is None and (dest / NOISE_FILE).is_file():
        # An older run that left only its noise model: its parts carry theta's names.
        names |= {p.name for p in dest.iterdir() if PART_RE.match(p.name)}
    return names


#: The records a run writes beside its tables, with keys every theta version wrote: a file of
#: that name without them is someone else's, which the swap would replace.
_RECORD_KEYS = {NOISE_FILE: ("white_sigma", "drift_sigma"), SYNTH_FILE: ("agents", "seed"),
                PAIRS_FILE: ("config", "sources")}  # fmt: skip


def _check_records(dest: Path) -> None:
    for name, keys in _RECORD_KEYS.items():
        path = dest / name
        if not _exists(path):
            continue
        record = _read(path) if path.is_file() else None
        if record is None or not all(k in record for k in keys):
            raise ThetaError(
                f"{path}: not a file theta wrote, and a run here would replace it; choose "
                "another --out"
            )


def _exists(p: Path) -> bool:
    return p.exists() or p.is_symlink()


def _list(paths: list[Path]) -> str:
    shown = ", ".join(p.name for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def foreign_notice(dest: Path, foreign: list[Path]) -> str:
    return (f"{dest}: left alone {len(foreign)} .csv/.parquet file(s) not written by theta "
            f"({_list(foreign)}); `theta data prepare --raw {dest}` would read them as raw "
            "data too")  # fmt: skip


def check_out(dest: Path, force: bool) -> OutDir:
    """The raw tables ``dest`` holds. Refuses a ``dest`` that is not a directory or that holds
    a synth.json, pairs.json or noise_model.json theta did not write and, without
    ``force``, one that holds tables theta did not write (pointing to another --out, not to
    --force, which leaves them where they are) or theta's own raw data."""
    if dest.exists() and not dest.is_dir():
        raise ThetaError(f"{dest}: --out exists and is not a directory")
    if not dest.is_dir():
        return OutDir()
    staging.recover(dest)  # a swap a killed run left half done: finish or undo it first
    _check_records(dest)
    own_names = theta_tables(dest)
    found = OutDir()
    for p in sorted(dest.iterdir()):
        if p.suffix.lower() in RAW_SUFFIXES and p.is_file():
            (found.own if p.name in own_names else found.foreign).append(p)
    if found.foreign and not force:
        raise ThetaError(
            f"{dest}: holds {len(found.foreign)} .csv/.parquet file(s) not written by theta "
            f"({_list(found.foreign)}), which `theta data prepare` would read as raw data "
            "too; choose another --out for theta's files"
        )
    if found.own and not force:
        raise ThetaError(
            f"{dest}: already holds raw data ({len(found.own)} file(s)); use --force to "
            "replace it"
        )
    return found
