"""Denoising the chunks of a series together (``--stitch independent|df|bf``, infer.stitch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _infer_helpers import ConstModel, fake_loader, gpx_text, invoke, points, settings, track
from conftest import assert_refused
from torch import nn

from theta_cli.infer.chunks import plan_chunks
from theta_cli.infer.pipeline import denoise_points
from theta_cli.infer.runner import FlowRunner
from theta_cli.infer.stitch import Links, breadth_first, depth_first

K, Q1, Q2 = 32, 1, 1
H, P = 8, 16  # head buckle, payload


class Smoother(nn.Module):
    """Pulls every point towards its chunk's mean, harder as t grows: the output at a point
    depends on every point of the chunk (as a real model's does)."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(dim=1, keepdim=True)) * 0.3 * t.view(-1, 1, 1)


def run(stitch: str, steps: int, lengths=(70, 40, 20), model: nn.Module | None = None):
    rng = np.random.default_rng(0)
    n = int(sum(lengths))
    plan = plan_chunks(np.array(lengths), K, Q1, Q2)
    x = np.cumsum(rng.normal(0, 3, (n, 2)), axis=0)[plan.index]  # [C, K, 2]
    runner = FlowRunner(model or Smoother(), steps, batch_size=3)
    d = runner.displacement(x, None, plan.links(K, Q1, Q2), stitch)
    return plan, x, d


def test_links_follow_each_series() -> None:
    plan = plan_chunks(np.array([70, 40, 20]), K, Q1, Q2)
    links = plan.links(K, Q1, Q2)
    # 70 points: 4 chunks (starts 0, 16, 32, 48), 40: 2 chunks, 20: 1 chunk
    assert links.level.tolist() == [0, 1, 2, 3, 0, 1, 0]
    assert links.prev.tolist() == [-1, 0, 1, 2, -1, 4, -1]
    assert (links.head, links.stride) == (H, P)
    # a chunk's head buckle is its predecessor's points [P, P + H)
    has = links.prev >= 0
    assert (plan.index[has, :H] == plan.index[links.prev[has], P : P + H]).all()


def test_bf_with_one_step_is_independent() -> None:
    # Before the first step every displacement is 0: replacing a buckle changes nothing.
    *_, ind = run("independent", 1)
    *_, bf = run("bf", 1)
    np.testing.assert_allclose(bf, ind, atol=1e-6)


def test_df_first_chunks_are_independent_and_heads_are_pinned() -> None:
    plan, _, ind = run("independent", 4)
    _, _, df = run("df", 4)
    links = plan.links(K, Q1, Q2)
    first = links.level == 0
    np.testing.assert_allclose(df[first], ind[first], atol=1e-6)
    has = links.prev >= 0
    # the head buckle ends at the predecessor's denoised overlap, and the rest differs from
    # independent (the pinned context changed the chunk's mean)
    np.testing.assert_allclose(df[has, :H], df[links.prev[has], P : P + H], atol=1e-6)
    assert np.abs(df[has, H:] - ind[has, H:]).max() > 1e-3


def test_bf_heads_match_the_chunk_before_at_every_step() -> None:
    """Replaying BF by hand: each step's buckle equals the predecessor's state at that step."""
    plan, x, bf = run("bf", 3)
    links = plan.links(K, Q1, Q2)
    model = Smoother()
    seen: list[torch.Tensor] = []

    def velocity(xt: torch.Tensor, t: float) -> torch.Tensor:
        seen.append(xt.clone())
        return model(xt, torch.full((len(xt), 1), t))

    x1 = torch.from_numpy(x.astype(np.float32))
    d = breadth_first(velocity, x1, links, 3)
    np.testing.assert_allclose(d.numpy(), bf, atol=1e-5)
    has = links.prev >= 0
    for xt in seen:  # at every step, the buckle's displacement is the predecessor's
        dt_ = (xt - x1).numpy()
        np.testing.assert_allclose(dt_[has, :H], dt_[links.prev[has], P : P + H], atol=1e-4)


def test_a_constant_model_is_the_same_under_every_stitch() -> None:
    outs = [run(s, 5, model=ConstModel())[2] for s in ("independent", "df", "bf")]
    for d in outs[1:]:
        np.testing.assert_allclose(d, outs[0], atol=1e-5)


def test_empty_links_and_no_chunks() -> None:
    links = Links(np.zeros(0, np.int64), np.zeros(0, np.int64), H, P)
    x1 = torch.zeros(0, K, 2)
    assert depth_first(lambda x, t: x, x1, links, 2).shape == (0, K, 2)
    assert breadth_first(lambda x, t: x, x1, links, 2).shape == (0, K, 2)


@pytest.mark.parametrize("stitch", ["df", "bf"])
def test_pipeline_stitched_output_is_one_point_per_point(stitch: str) -> None:
    p = points(track(90, seed=1), track(50, seed=2))
    s = settings(stitch=stitch, steps=3)
    (res,) = denoise_points([p], FlowRunner(Smoother(), 3, 4), s)
    (ind,) = denoise_points([p], FlowRunner(Smoother(), 3, 4), settings(steps=3))
    assert res.out.changed.all() and len(res.out.lat) == 140
    assert np.isfinite(res.moved).all()
    assert not np.array_equal(res.out.lat, ind.out.lat)  # the stitch took effect


def test_cli_stitch_option(theta_env, monkeypatch) -> None:
    fake_loader(monkeypatch, ConstModel())
    (theta_env / "a.gpx").write_text(gpx_text([track(80, seed=1)]))
    result = invoke("denoise", "a.gpx", "--model", "m", "--out", "b.gpx", "--stitch", "bf")
    assert result.exit_code == 0, result.output + result.stderr
    bad = invoke("denoise", "a.gpx", "--model", "m", "--out", "c.gpx", "--stitch", "zigzag")
    assert_refused(bad, "--stitch zigzag: expected one of independent, df, bf")
