"""The test-time ensemble over the 8 rotations and reflections of a chunk (--symmetries 8)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from theta_cli.core.errors import ThetaError
from theta_cli.infer.request import DenoiseSettings
from theta_cli.infer.runner import SYMMETRIES, FlowRunner


class Equivariant(torch.nn.Module):
    """Pulls every point towards the chunk's mean: commutes with rotations and reflections."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.3 * (x - x.mean(dim=1, keepdim=True))


class Eastward(torch.nn.Module):
    """Predicts +1 m east everywhere: not equivariant, so the ensemble must change it."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        out[..., 0] = 1.0
        return out


def _chunks() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(0, 3, (5, 32, 2)), axis=1)


def test_the_eight_transforms_are_the_square_s_symmetry_group() -> None:
    mats = {tuple(m.astype(int).ravel()) for m in SYMMETRIES}
    assert len(mats) == 8
    for m in SYMMETRIES:
        assert np.allclose(m @ m.T, np.eye(2))  # orthogonal: the inverse is the transpose


def test_an_equivariant_model_is_unchanged_by_the_ensemble() -> None:
    x = _chunks()
    one = FlowRunner(Equivariant(), steps=4).displacement(x)
    eight = FlowRunner(Equivariant(), steps=4, symmetries=8).displacement(x)
    assert np.abs(one).max() > 1.0  # it really moves the points
    np.testing.assert_allclose(eight, one, atol=1e-4)


def test_the_ensemble_averages_a_non_equivariant_model() -> None:
    x = _chunks()
    one = FlowRunner(Eastward(), steps=1).displacement(x)
    eight = FlowRunner(Eastward(), steps=1, symmetries=8).displacement(x)
    np.testing.assert_allclose(one[..., 0], -1.0, atol=1e-6)
    np.testing.assert_allclose(eight, 0.0, atol=1e-6)  # +1 m east in every frame averages out


def test_only_1_or_8_symmetries() -> None:
    s = DenoiseSettings(K=32, Q1=1, Q2=0, fix_interval_s=1.0, symmetries=3)
    with pytest.raises(ThetaError, match="--symmetries 3"):
        s.validate()
