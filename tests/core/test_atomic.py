"""Crash-safe writes: the target is either the old file or the new one, never a mix, and no
temporary file is left behind."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest

from theta_cli.core import atomic
from theta_cli.core.errors import DiskFull, ThetaError


def _names(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_write_text_bytes_json(tmp_path):
    atomic.write_text(tmp_path / "a" / "b" / "t.txt", "héllo\n")
    assert (tmp_path / "a" / "b" / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic.write_bytes(tmp_path / "x.bin", b"\x00\x01\xff")
    assert (tmp_path / "x.bin").read_bytes() == b"\x00\x01\xff"
    obj = {"lr": 1e-3, "name": "theta", "nested": [1, 2, {"k": None}]}
    atomic.write_json(tmp_path / "c.json", obj)
    text = (tmp_path / "c.json").read_text()
    assert text.endswith("\n")
    assert json.loads(text) == obj
    assert list(json.loads(text)) == ["lr", "name", "nested"]  # key order kept
    assert _names(tmp_path) == ["a", "c.json", "x.bin"]


def test_overwrite_replaces_content(tmp_path):
    p = tmp_path / "f.txt"
    atomic.write_text(p, "a much longer old content\n")
    atomic.write_text(p, "new\n")
    assert p.read_text() == "new\n"
    assert _names(tmp_path) == ["f.txt"]


def test_write_with_gets_a_temp_path_beside_the_target(tmp_path):
    seen = []

    def writer(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path
        assert tmp != tmp_path / "out.bin"
        tmp.write_bytes(b"payload")

    atomic.write_with(tmp_path / "out.bin", writer)
    assert (tmp_path / "out.bin").read_bytes() == b"payload"
    assert not seen[0].exists()
    assert _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_exception_in_block_keeps_original_and_cleans_up(tmp_path, exc):
    p = tmp_path / "config.json"
    p.write_text("old")
    with pytest.raises(type(exc)), atomic.atomic_path(p) as tmp:
        tmp.write_text("half-written new content")
        raise exc
    assert p.read_text() == "old"
    assert _names(tmp_path) == ["config.json"]


def test_exception_in_atomic_open_keeps_original(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("old\n")
    with pytest.raises(ValueError), atomic.atomic_open(p, "w") as fh:
        fh.write("new")
        raise ValueError("writer failed")
    assert p.read_text() == "old\n"
    assert _names(tmp_path) == ["log.csv"]


def test_exception_without_previous_file_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        atomic.write_with(tmp_path / "new.pt", lambda tmp: (_ for _ in ()).throw(RuntimeError()))
    assert _names(tmp_path) == []


def test_atomic_open_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError), atomic.atomic_open(tmp_path / "f", "a"):
        pass


def test_crash_at_rename_leaves_old_file(tmp_path, monkeypatch):
    p = tmp_path / "train_data.csv"
    p.write_text("old,content\n")

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(DiskFull, match="no space left on device while writing .*train_data.csv"):
        atomic.write_text(p, "new,content\n")
    assert p.read_text() == "old,content\n"
    assert _names(tmp_path) == ["train_data.csv"]


def test_new_file_gets_default_permissions(tmp_path):
    # Same mode as a plain open() would give, not mkstemp's private 0600.
    ref = tmp_path / "ref"
    ref.write_text("x")
    atomic.write_text(tmp_path / "new", "x")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == stat.S_IMODE(ref.stat().st_mode)


def test_rewrite_keeps_existing_permissions(tmp_path):
    p = tmp_path / "config.json"
    p.write_text("{}")
    os.chmod(p, 0o640)
    atomic.write_json(p, {"a": 1})
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


HEADER = ("ckpt_name", "epoch", "loss")


def test_append_csv_row_creates_and_appends(tmp_path):
    p = tmp_path / "log" / "t.csv"
    atomic.append_csv_row(p, HEADER, ["ckpt_epoch0_step1.pt", 0, 1.5])
    atomic.append_csv_row(p, HEADER, ["with,comma", 1, "0.25"])
    assert p.read_text() == (
        'ckpt_name,epoch,loss\nckpt_epoch0_step1.pt,0,1.5\n"with,comma",1,0.25\n'
    )
    with open(p, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[2] == ["with,comma", "1", "0.25"]
    assert _names(p.parent) == ["t.csv"]


def test_append_csv_row_repairs_missing_final_newline(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("ckpt_name,epoch,loss\na,0,1.0")
    atomic.append_csv_row(p, HEADER, ["b", 1, 2.0])
    assert p.read_text() == "ckpt_name,epoch,loss\na,0,1.0\nb,1,2.0\n"


def test_append_csv_row_refuses_other_header(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("ckpt_name,epoch,acc\na,0,1.0\n")
    with pytest.raises(ThetaError) as exc:
        atomic.append_csv_row(p, HEADER, ["b", 1, 2.0])
    assert str(p) in str(exc.value)
    assert "header" in str(exc.value)
    assert p.read_text() == "ckpt_name,epoch,acc\na,0,1.0\n"


@pytest.mark.parametrize("row", [["a", 1], ["a", 1, 2.0, "extra"]])
def test_append_csv_row_refuses_wrong_value_count(tmp_path, row):
    p = tmp_path / "t.csv"
    atomic.append_csv_row(p, HEADER, ["a", 0, 1.0])
    before = p.read_text()
    with pytest.raises(ValueError, match="columns"):
        atomic.append_csv_row(p, HEADER, row)
    assert p.read_text() == before


def test_append_csv_row_crash_keeps_previous_rows(tmp_path, monkeypatch):
    p = tmp_path / "t.csv"
    atomic.append_csv_row(p, HEADER, ["a", 0, 1.0])
    before = p.read_text()

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic.append_csv_row(p, HEADER, ["b", 1, 2.0])
    assert p.read_text() == before
    assert _names(tmp_path) == ["t.csv"]
