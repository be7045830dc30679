"""per_point_error, quick_val acc (mean, median, population std), quick_val sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from theta_cli.core.layout import RunLayout
from theta_cli.data import epochfile
from theta_cli.engine.quickval import load_quick_val, per_point_error, quick_val_acc, summarize


def test_per_point_error_is_euclidean_metres() -> None:
    v_hat = torch.tensor([[[3.0, 4.0], [0.0, 0.0]]])
    assert torch.equal(per_point_error(v_hat, torch.zeros(1, 2, 2)), torch.tensor([[5.0, 0.0]]))


def test_summarize_uses_true_median_and_population_std() -> None:
    acc = summarize(torch.tensor([1.0, 2.0, 3.0, 10.0]))
    assert acc.mean == 4.0 and acc.median == 2.5
    assert acc.std == pytest.approx(torch.tensor([1.0, 2.0, 3.0, 10.0]).std(correction=0).item())


class _Spy(torch.nn.Module):
    """Sample i (X_t[i, 0, 0] == i) gets v_hat = V + (offset_i, 0): its error is offset_i."""

    def __init__(self, offsets: torch.Tensor) -> None:
        super().__init__()
        self.offsets = offsets
        self.calls: list[tuple[tuple[int, ...], tuple[int, ...], bool]] = []

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((tuple(xt.shape), tuple(t.shape), self.training))
        o = self.offsets[xt[:, 0, 0].long()]
        return torch.stack([o, torch.zeros_like(o)], -1)[:, None].expand(-1, xt.shape[1], -1)


def test_quick_val_acc_over_batches_in_eval_mode() -> None:
    n, k = 7, 8
    offsets = torch.arange(1, n + 1, dtype=torch.float32)
    x = torch.zeros(n, k, 4)
    x[:, 0, 0] = torch.arange(n, dtype=torch.float32)
    data = {"X_t": x, "V": torch.zeros(n, k, 2), "t": torch.zeros(n, 1)}
    spy = _Spy(offsets).train()
    acc = quick_val_acc(spy, data, batch_size=3, device="cpu")
    # the model sees X_t[..., :2] and t of shape (B,), in eval mode; training mode comes back
    full, last = ((3, k, 2), (3,), False), ((1, k, 2), (1,), False)
    assert spy.calls == [full, full, last]
    assert spy.training
    assert acc.mean == pytest.approx(4.0) and acc.median == pytest.approx(4.0)
    assert acc.std == pytest.approx(offsets.std(correction=0).item())


def test_quick_val_source_order_and_cache(tmp_path: Path) -> None:
    val = tmp_path / "val"
    n_chunks, repeats, k = 10, 3, 8
    v = torch.randn(n_chunks, k, 2).repeat(repeats, 1, 1)
    t = torch.rand(n_chunks * repeats, 1) * 0.9
    x = t[:, :, None] * v
    epochfile.save(val / "v0.pt", {"X_t": x, "V": v, "t": t})
    run = RunLayout(tmp_path / "run")
    run.make_dirs()
    missing = tmp_path / "no_quick_val.pt"
    data, src = load_quick_val(run, missing, val, k, seed=0)
    assert data["X_t"].shape[0] == n_chunks, "one sample per chunk"
    assert "drawn once" in src and (run.log_dir / "quick_val.pt").is_file()
    again, src2 = load_quick_val(run, missing, val, k, seed=1)
    assert src2 == str(run.log_dir / "quick_val.pt")
    assert torch.equal(again["V"], data["V"]), "the cached sample is reused, not redrawn"
    fresh = RunLayout(tmp_path / "run2")
    given = tmp_path / "qv.pt"
    epochfile.save(given, {"X_t": x[:4], "V": v[:4], "t": t[:4]})
    assert load_quick_val(fresh, given, val, k, seed=0)[1] == str(given)
    assert not (fresh.log_dir / "quick_val.pt").exists()
