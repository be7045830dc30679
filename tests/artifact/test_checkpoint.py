"""Checkpoint save/load: plain dicts loaded with weights_only, so loading never runs code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from theta_cli.artifact import checkpoint as ck
from theta_cli.core.errors import ThetaError


class _Evil:
    """Unpickling this calls open(marker, "w"): any loader that runs pickled code creates it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload() -> dict:
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    return {
        ck.MODEL: model.state_dict(),
        ck.OPTIMIZER: opt.state_dict(),
        ck.SCHEDULER: sched.state_dict(),
        ck.EPOCH: 3,
        ck.STEP: 200,
        ck.GLOBAL_STEP: 1234,
        ck.DELTA: 38.13,
        ck.LR: 2.5e-4,
        ck.RNG: torch.get_rng_state(),
        ck.CUDA_RNG: None,
        ck.CONFIG: {"model_type": "mlp", "K": 32, "hidden": 16, "lr": 1e-3, "Q": [1, 0]},
    }


def _names(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_round_trip(tmp_path):
    payload = _payload()
    path = tmp_path / "ckpt" / "ckpt_epoch3_step200.pt"
    ck.save_checkpoint(path, payload)
    got = ck.load_checkpoint(path)
    assert set(got) == set(payload)
    for k, v in payload[ck.MODEL].items():
        assert torch.equal(got[ck.MODEL][k], v)
    assert got[ck.OPTIMIZER]["param_groups"] == payload[ck.OPTIMIZER]["param_groups"]
    exp_avg = payload[ck.OPTIMIZER]["state"][0]["exp_avg"]
    assert torch.equal(got[ck.OPTIMIZER]["state"][0]["exp_avg"], exp_avg)
    assert got[ck.SCHEDULER] == payload[ck.SCHEDULER]
    assert (got[ck.EPOCH], got[ck.STEP], got[ck.GLOBAL_STEP]) == (3, 200, 1234)
    assert got[ck.DELTA] == 38.13 and got[ck.LR] == 2.5e-4
    assert torch.equal(got[ck.RNG], payload[ck.RNG])
    assert got[ck.CUDA_RNG] is None
    assert got[ck.CONFIG] == payload[ck.CONFIG]
    assert _names(path.parent) == [path.name]  # no temp file left


def test_overwrite_is_atomic(tmp_path):
    path = tmp_path / "c.pt"
    ck.save_checkpoint(path, _payload())
    p2 = _payload()
    p2[ck.STEP] = 999
    ck.save_checkpoint(path, p2)
    assert ck.load_checkpoint(path)[ck.STEP] == 999
    assert _names(tmp_path) == ["c.pt"]


def test_save_refuses_incomplete_payload(tmp_path):
    payload = _payload()
    del payload[ck.OPTIMIZER]
    with pytest.raises(ValueError, match=ck.OPTIMIZER):
        ck.save_checkpoint(tmp_path / "c.pt", payload)
    assert _names(tmp_path) == []


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    payload = _payload()
    payload[ck.CONFIG] = _Evil(str(marker))
    path = tmp_path / "evil.pt"
    torch.save(payload, path)
    with pytest.raises(ThetaError) as exc:
        ck.load_checkpoint(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: refused")
    assert "\n" not in msg
    assert "GLOBAL" in msg and "open" in msg  # the specific reason, not torch's boilerplate
    assert "weights_only" not in msg  # nor its advice to load unsafely
    assert not marker.exists()
    # The same file does run code when loaded unsafely: the test above has teeth.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_plain_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "plain.pt"
    with open(path, "wb") as fh:
        pickle.dump({ck.MODEL: _Evil(str(marker))}, fh, protocol=2)
    with pytest.raises(ThetaError, match="refused"):
        ck.load_checkpoint(path)
    assert not marker.exists()


def test_missing_keys_named(tmp_path):
    path = tmp_path / "partial.pt"
    torch.save({ck.MODEL: {}, ck.EPOCH: 1}, path)
    with pytest.raises(ThetaError) as exc:
        ck.load_checkpoint(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: not a theta checkpoint")
    for key in (ck.OPTIMIZER, ck.SCHEDULER, ck.STEP, ck.CONFIG):
        assert key in msg


def test_not_a_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ThetaError, match="top level is not a dict"):
        ck.load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(ThetaError, match="checkpoint not found"):
        ck.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ThetaError, match="checkpoint not found"):
        ck.load_checkpoint(tmp_path)  # a directory is not a checkpoint


def _truncated(tmp_path) -> bytes:
    torch.save(_payload(), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    os.remove(tmp_path / "full.pt")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world\n", bytes(range(256)) * 4, b"PK\x03\x04garbage", "truncated"],
    ids=["empty", "text", "binary", "fake-zip", "truncated"],
)
def test_garbage_file_is_one_clean_error(tmp_path, content):
    path = tmp_path / "ckpt_epoch1_step1.pt"
    path.write_bytes(_truncated(tmp_path) if content == "truncated" else content)
    with pytest.raises(ThetaError) as exc:
        ck.load_checkpoint(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ")
    assert "\n" not in msg
