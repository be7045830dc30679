"""The rectified-flow convention: X_t = X0 + t V (t = 0 clean, t = 1 noisy) and the Euler
sampler from t = 1 down to t = 0 in a fixed number of steps."""

from __future__ import annotations

import pytest
import torch

from theta_cli import flow


def _pair(b: int = 4, k: int = 32, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(b, k, 2, generator=g, dtype=dtype) * 100.0
    v = torch.randn(b, k, 2, generator=g, dtype=dtype) * 5.0
    t = torch.rand(b, generator=g, dtype=dtype)
    return x0, v, t


def test_interpolate_endpoints_and_shapes():
    x0, v, t = _pair()
    b = x0.shape[0]
    assert torch.equal(flow.interpolate(x0, v, torch.zeros(b)), x0)
    assert torch.equal(flow.interpolate(x0, v, torch.ones(b, 1)), x0 + v)
    xt = flow.interpolate(x0, v, t)
    assert xt.shape == x0.shape
    assert torch.equal(xt, flow.interpolate(x0, v, t[:, None]))  # (B,) and (B, 1) agree
    # Each sample uses its own t.
    for i in range(b):
        assert torch.allclose(xt[i], x0[i] + t[i] * v[i])


def test_recover_endpoints_round_trip():
    x0, v, t = _pair(dtype=torch.float64)
    rx0, rx1 = flow.recover_endpoints(flow.interpolate(x0, v, t), v, t[:, None])
    assert torch.allclose(rx0, x0, rtol=0, atol=1e-12)
    assert torch.allclose(rx1, x0 + v, rtol=0, atol=1e-12)
    # float32 as stored in epoch files: exact to float rounding at 100 m magnitudes.
    x0, v, t = _pair()
    rx0, rx1 = flow.recover_endpoints(flow.interpolate(x0, v, t), v, t)
    assert torch.allclose(rx0, x0, rtol=0, atol=1e-4)
    assert torch.allclose(rx1 - rx0, v, rtol=0, atol=1e-4)


@pytest.mark.parametrize("steps", [1, 7, 10])
def test_euler_with_oracle_recovers_clean(steps):
    x0, v, _ = _pair(dtype=torch.float64)
    x1 = x0 + v

    def oracle(x, t):  # a straight line has constant velocity V
        return v

    out = flow.euler_denoise(oracle, x1, steps=steps)
    assert torch.allclose(out, x0, rtol=0, atol=1e-9)
    assert torch.equal(x1, x0 + v)  # input not modified in place


@pytest.mark.parametrize("steps", [1, 5, 10])
def test_euler_with_state_oracle_stays_on_line(steps):
    # An oracle that reads the state: for X on the line at time t, (X - X0) / t = V.
    x0, v, _ = _pair(dtype=torch.float64)

    def oracle(x, t):
        return (x - x0) / t[:, :, None]

    out = flow.euler_denoise(oracle, x0 + v, steps=steps)
    assert torch.allclose(out, x0, rtol=0, atol=1e-8)


def test_euler_sign_convention_float32():
    # A zero model leaves X1 alone; a model predicting V subtracts it (t goes 1 -> 0).
    x0, v, _ = _pair()
    x1 = x0 + v
    assert torch.equal(flow.euler_denoise(lambda x, t: torch.zeros_like(x), x1), x1)
    out = flow.euler_denoise(lambda x, t: v, x1, steps=flow.DEFAULT_STEPS)
    assert torch.allclose(out, x0, rtol=0, atol=1e-3)
    assert out.dtype == torch.float32


def test_euler_calls_model_exactly_steps_times_with_descending_t():
    calls: list[torch.Tensor] = []

    def counting(x, t):
        calls.append(t.clone())
        assert t.shape == (x.shape[0], 1)
        assert t.dtype == x.dtype
        return torch.zeros_like(x)

    flow.euler_denoise(counting, torch.zeros(3, 32, 2), steps=4)
    assert len(calls) == 4
    assert [float(c[0, 0]) for c in calls] == [1.0, 0.75, 0.5, 0.25]
    assert all(bool((c == c[0, 0]).all()) for c in calls)  # one t for the whole batch

    calls.clear()
    flow.euler_denoise(counting, torch.zeros(2, 8, 2))
    assert len(calls) == flow.DEFAULT_STEPS == 10
    ts = [float(c[0, 0]) for c in calls]
    assert ts == pytest.approx([1.0 - i / 10 for i in range(10)])
    assert min(ts) > 0.0  # t = 0 is never evaluated


@pytest.mark.parametrize("steps", [0, -1])
def test_euler_refuses_steps_below_one(steps):
    with pytest.raises(ValueError, match="steps"):
        flow.euler_denoise(lambda x, t: x, torch.zeros(1, 8, 2), steps=steps)
