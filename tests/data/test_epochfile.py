"""The epoch-file format: every corruption is refused with the file and the key named."""

from __future__ import annotations

import pickle

import pytest
import torch

from theta_cli.core.errors import ThetaError
from theta_cli.data import epochfile


def _data(n: int = 3, k: int = 32, c: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "X_t": torch.randn(n, k, c, generator=g),
        "V": torch.randn(n, k, 2, generator=g),
        "t": torch.rand(n, 1, generator=g) * 0.999,
    }


def test_constants():
    assert epochfile.KEYS == ("X_t", "V", "t")


@pytest.mark.parametrize("c", [2, 4])
def test_describe_valid(c):
    info = epochfile.describe(_data(5, 32, c), "train/e0.pt")
    assert (info.n, info.k, info.channels) == (5, 32, c)
    assert str(info.path) == "train/e0.pt"


def _zeros(n: int, k: int) -> dict[str, torch.Tensor]:
    return {"X_t": torch.zeros(n, k, 2), "V": torch.zeros(n, k, 2), "t": torch.zeros(n, 1)}


def _set(key, value):
    def change(d):
        d[key] = value
        return d

    return change


def _nan(key):
    def change(d):
        d[key][0, 0, 0] = float("nan")
        return d

    return change


def _drop(key):
    def change(d):
        del d[key]
        return d

    return change


CORRUPTIONS = {
    "not-dict": (lambda d: list(d.values()), "not an epoch file"),
    "missing-X_t": (_drop("X_t"), "missing key 'X_t'"),
    "missing-V": (_drop("V"), "missing key 'V'"),
    "missing-t": (_drop("t"), "missing key 't'"),
    "not-tensor": (_set("V", [[0.0, 0.0]]), "key 'V' is not a tensor"),
    "float64": (_set("X_t", torch.zeros(3, 32, 2, dtype=torch.float64)), "key 'X_t' has dtype"),
    "float16-t": (_set("t", torch.zeros(3, 1, dtype=torch.float16)), "key 't' has dtype"),
    "X_t-2d": (_set("X_t", torch.zeros(3, 64)), "key 'X_t' has shape"),
    "X_t-3ch": (_set("X_t", torch.zeros(3, 32, 3)), "key 'X_t' has shape"),
    "empty": (lambda d: _zeros(0, 32), "holds no samples"),
    "K-not-multiple-of-8": (lambda d: _zeros(3, 20), "K=20, which is not a multiple of 8"),
    "V-shape": (
        _set("V", torch.zeros(3, 32, 4)),
        "key 'V' has shape [3, 32, 4], expected [3, 32, 2]",
    ),
    "V-count": (_set("V", torch.zeros(2, 32, 2)), "key 'V' has shape"),
    "t-flat": (_set("t", torch.zeros(3)), "key 't' has shape [3], expected [3, 1]"),
    "nan-X_t": (_nan("X_t"), "key 'X_t' has 1 non-finite values"),
    "nan-V": (_nan("V"), "key 'V' has 1 non-finite values"),
    "inf-t": (_set("t", torch.tensor([[0.1], [float("inf")], [0.2]])), "key 't' has 1 non-finite"),
    "t-one": (_set("t", torch.tensor([[0.1], [1.0], [0.2]])), "key 't' has values outside [0, 1)"),
    "t-negative": (_set("t", torch.tensor([[0.1], [-0.01], [0.2]])), "outside [0, 1)"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_describe_names_each_corruption(name):
    change, expected = CORRUPTIONS[name]
    with pytest.raises(ThetaError) as exc:
        epochfile.describe(change(_data()), "dataset/processed/train/e07.pt")
    msg = str(exc.value)
    assert msg.startswith("dataset/processed/train/e07.pt: ")
    assert expected in msg


def test_check_values_false_skips_value_scan():
    d = _nan("V")(_data())
    d["t"][0, 0] = 1.5
    assert epochfile.describe(d, "x.pt", check_values=False).n == 3


def test_save_load_round_trip(tmp_path):
    d = _data(4, 32, 4)
    path = tmp_path / "train" / "e00.pt"
    epochfile.save(path, d)
    got, info = epochfile.load(path, expect_k=32)
    assert set(got) == set(d)
    for k in d:
        assert torch.equal(got[k], d[k])
    assert (info.path, info.n, info.k, info.channels) == (path, 4, 32, 4)
    assert sorted(p.name for p in path.parent.iterdir()) == ["e00.pt"]


def test_save_refuses_invalid_data(tmp_path):
    with pytest.raises(ThetaError, match="non-finite"):
        epochfile.save(tmp_path / "e.pt", _nan("X_t")(_data()))
    assert list(tmp_path.iterdir()) == []


def test_load_expect_k_mismatch(tmp_path):
    path = tmp_path / "e.pt"
    epochfile.save(path, _data(k=32))
    with pytest.raises(ThetaError) as exc:
        epochfile.load(path, expect_k=256)
    assert str(exc.value) == f"{path}: chunks have K=32 but the config says K=256"


def test_load_validates_content(tmp_path):
    path = tmp_path / "e.pt"
    d = _data()
    d["t"][2, 0] = 1.0
    torch.save(d, path)
    with pytest.raises(ThetaError, match=r"e\.pt: key 't' has values outside"):
        epochfile.load(path)
    assert epochfile.load(path, check_values=False)[1].n == 3


def test_load_missing_file(tmp_path):
    with pytest.raises(ThetaError, match="epoch file not found"):
        epochfile.load(tmp_path / "nope.pt")


@pytest.mark.parametrize("content", [b"", b"hello world\n", b"PK\x03\x04junk"])
def test_load_garbage_is_one_clean_error(tmp_path, content):
    path = tmp_path / "e.pt"
    path.write_bytes(content)
    with pytest.raises(ThetaError) as exc:
        epochfile.load(path)
    assert str(exc.value).startswith(f"{path}: ")


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_refuses_pickled_code(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "e.pt"
    with open(path, "wb") as fh:
        pickle.dump({"X_t": _Evil(str(marker))}, fh, protocol=2)
    with pytest.raises(ThetaError, match="refused"):
        epochfile.load(path)
    assert not marker.exists()


def test_list_files_sorted_and_filtered(tmp_path):
    for name in ["e10.pt", "e02.pt", "e01.pt", "notes.txt", ".e03.pt.abcd.tmp"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.pt").mkdir()
    assert [p.name for p in epochfile.list_files(tmp_path)] == ["e01.pt", "e02.pt", "e10.pt"]


def test_list_files_empty_dir(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ThetaError) as exc:
        epochfile.list_files(tmp_path)
    assert str(exc.value) == f"{tmp_path}: no epoch files (*.pt) in the data directory"


def test_list_files_missing_dir(tmp_path):
    with pytest.raises(ThetaError, match="data directory not found"):
        epochfile.list_files(tmp_path / "val")
