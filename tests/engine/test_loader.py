"""The file-per-epoch loader: which file, how many steps, a (seed, epoch) order, drop_last."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from theta_cli.core.errors import ThetaError
from theta_cli.data import epochfile
from theta_cli.engine.loader import EpochLoader, epoch_order, peek


def _write(path: Path, n: int, k: int = 16, offset: float = 0.0) -> None:
    # sample i is recognisable: X_t[i, 0, 0] == offset + i
    x = torch.zeros(n, k, 4)
    x[:, 0, 0] = offset + torch.arange(n, dtype=torch.float32)
    data = {"X_t": x, "V": torch.ones(n, k, 2), "t": torch.full((n, 1), 0.5)}
    epochfile.save(path, data)


@pytest.fixture
def train_dir(tmp_path: Path) -> Path:
    _write(tmp_path / "b.pt", 30, offset=1000)
    _write(tmp_path / "a.pt", 50)
    return tmp_path


def test_epochs_cycle_through_sorted_files_with_drop_last(train_dir: Path) -> None:
    loader = EpochLoader(train_dir, 16, batch_size=8, epoch_limit=40, seed=0)
    plans = [loader.plan(e) for e in range(3)]
    assert [p.info.path.name for p in plans] == ["a.pt", "b.pt", "a.pt"]
    assert [(p.samples, p.steps) for p in plans] == [(40, 5), (30, 3), (40, 5)]
    assert loader.total_steps(3) == 13


def test_batches_follow_the_seeded_order_and_resume_mid_epoch(train_dir: Path) -> None:
    loader = EpochLoader(train_dir, 16, batch_size=8, epoch_limit=40, seed=3)
    loader.set(0)
    batches = list(loader.batches())
    assert len(batches) == 5
    ids = torch.cat([x[:, 0, 0] for x, _, _ in batches]).long()
    assert torch.equal(ids, epoch_order(40, 3, 0))  # epoch_limit: only the first 40 samples
    x, v, t = batches[0]
    assert x.shape == (8, 16, 2) and v.shape == (8, 16, 2) and t.shape == (8,)
    later = list(loader.batches(start_step=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches[3:], later, strict=True))


def test_order_depends_on_seed_and_epoch_only() -> None:
    assert torch.equal(epoch_order(100, 1, 2), epoch_order(100, 1, 2))
    assert not torch.equal(epoch_order(100, 1, 2), epoch_order(100, 1, 3))
    assert not torch.equal(epoch_order(100, 1, 2), epoch_order(100, 2, 2))
    torch.manual_seed(0)
    a = epoch_order(100, 1, 2)
    torch.manual_seed(99)  # the global RNG (dropout's) is neither used nor advanced
    state = torch.get_rng_state()
    assert torch.equal(a, epoch_order(100, 1, 2))
    assert torch.equal(state, torch.get_rng_state())


def test_wrong_k_is_refused_naming_the_file(train_dir: Path) -> None:
    with pytest.raises(ThetaError, match=r"a\.pt: chunks have K=16 but the config says K=32"):
        EpochLoader(train_dir, 32, batch_size=8, epoch_limit=40, seed=0)


def test_file_smaller_than_a_batch_is_refused(train_dir: Path) -> None:
    with pytest.raises(ThetaError, match=r"b\.pt: holds 30 usable samples.*batch_size=32"):
        EpochLoader(train_dir, 16, batch_size=32, epoch_limit=100, seed=0)


def test_peek_refuses_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ThetaError, match="x.pt: not a readable epoch file"):
        peek(bad, 16)


class _Code:
    def __reduce__(self):  # noqa: ANN204
        return (print, ("unpickled",))


def test_peek_refuses_pickled_code_and_reads_the_legacy_format(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"X_t": _Code()}, evil)
    with pytest.raises(ThetaError, match=r"evil\.pt: refused: .*pickled code.*GLOBAL"):
        peek(evil, 16)
    # torch can only memory-map its zip format; an old-format file is read normally instead
    legacy = tmp_path / "legacy.pt"
    data = {"X_t": torch.zeros(4, 16, 2), "V": torch.zeros(4, 16, 2), "t": torch.zeros(4, 1)}
    torch.save(data, legacy, _use_new_zipfile_serialization=False)
    info = peek(legacy, 16)
    assert (info.n, info.k, info.channels) == (4, 16, 2)
