"""A look at an input's first bytes before any parser reads it whole.

A file named ``.csv`` (or ``.gpx``, ``.parquet``, ``.fit``, ``.geojson``) that cannot be one, say
gigabytes of NUL bytes, is refused from a bounded prefix in milliseconds, rather than after pyarrow,
gpxpy or fitdecode have read (and held) all of it. Only what each format's first bytes must be is
checked; everything else stays the parsers' job.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from pathlib import Path

from theta_cli.core.errors import ThetaError

PREFIX_BYTES = 64 * 1024
PARQUET_MAGIC = b"PAR1"  # at the start and at the end of every parquet file
FIT_SIGNATURE = b".FIT"  # bytes 8-11 of a FIT file header (12 or 14 bytes long)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_XML_SPACE = b" \t\r\n"


def _csv(path: Path, head: bytes) -> None:
    if head.startswith(_UTF16_BOMS):
        raise ThetaError(f"{path}: not a readable CSV file (UTF-16 text; save it as UTF-8)")
    if b"\0" in head:
        raise ThetaError(f"{path}: not a text table (binary content / NUL bytes)")


def _gpx(path: Path, head: bytes) -> None:
    def refuse(why: str) -> None:
        raise ThetaError(f"{path}: not a readable GPX file ({why})")

    if head.startswith(_UTF16_BOMS):
        codec = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        # The prefix may end inside a character: drop that, the rest decodes.
        text = head[2:].decode(codec, errors="ignore").lstrip()
        if text and not text.startswith("<"):
            refuse("not XML: it does not start with '<'")
        return
    body = head.removeprefix(codecs.BOM_UTF8)
    if b"\0" in body:
        refuse("not XML: binary content / NUL bytes")
    _starts_with(head, body, b"<", "not XML: it does not start with '<'", refuse)


def _starts_with(
    head: bytes, body: bytes, opener: bytes, why: str, refuse: Callable[[str], None]
) -> None:
    """After leading whitespace, a text file must open with ``opener``; a whole file (``head``
    shorter than the prefix) of whitespace alone is empty."""
    body = body.lstrip(_XML_SPACE)
    if not body and len(head) < PREFIX_BYTES:
        refuse("empty file")
    if body and not body.startswith(opener):
        refuse(why)


def _geojson(path: Path, head: bytes) -> None:
    def refuse(why: str) -> None:
        raise ThetaError(f"{path}: not a readable GeoJSON file ({why})")

    body = head.removeprefix(codecs.BOM_UTF8)
    if head.startswith(_UTF16_BOMS) or b"\0" in body:
        refuse("not UTF-8 JSON text")
    _starts_with(head, body, b"{", "not a JSON object: it does not start with '{'", refuse)


def _fit(path: Path, head: bytes) -> None:
    if len(head) < 12 or head[8:12] != FIT_SIGNATURE:
        raise ThetaError(f"{path}: not a readable FIT file (no {FIT_SIGNATURE.decode()} "
                         "signature in its header)")  # fmt: skip


def _parquet(path: Path, head: bytes, tail: bytes) -> None:
    # Magic, footer length, magic: 12 bytes is the least a parquet file can be.
    if len(head) < 12 or not (head.startswith(PARQUET_MAGIC) and tail == PARQUET_MAGIC):
        raise ThetaError(f"{path}: not a readable parquet file (no {PARQUET_MAGIC.decode()} "
                         "magic bytes at its start and end)")  # fmt: skip


def check(path: Path, kind: str) -> None:
    """Refuse ``path`` (ThetaError naming it) if its first bytes cannot be a ``kind`` file
    (csv, parquet, gpx, fit, geojson); reads at most PREFIX_BYTES and, for parquet, the last 4."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(PREFIX_BYTES)
            tail = b""
            if kind == "parquet" and len(head) >= len(PARQUET_MAGIC):
                fh.seek(-len(PARQUET_MAGIC), os.SEEK_END)
                tail = fh.read(len(PARQUET_MAGIC))
    except OSError as e:
        raise ThetaError(f"{path}: cannot be read ({e.strerror or e})") from None
    if kind == "csv":
        _csv(path, head)
    elif kind == "gpx":
        _gpx(path, head)
    elif kind == "fit":
        _fit(path, head)
    elif kind == "geojson":
        _geojson(path, head)
    elif kind == "parquet":
        _parquet(path, head, tail)
