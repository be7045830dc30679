"""The vectorised CV RTS smoother against a per-track, per-step textbook 4x4 implementation,
padding invariance, the theory it should meet, and innovation gating against a spike."""

from __future__ import annotations

import numpy as np
import pytest

from theta_cli.core.errors import ThetaError
from theta_cli.eval.trajectory import Track
from theta_cli.smooth.kalman import (
    MAX_REJECTS,
    V0_SIGMA,
    Padded,
    gate_threshold,
    groups,
    robust_rts_smooth,
    rts_smooth,
    smooth_padded,
)


def reference_rts(
    t: np.ndarray,
    z: np.ndarray,
    q: float,
    r: float,
    gate: float | None = None,
    max_rejects: int = MAX_REJECTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Textbook Kalman filter + RTS smoother, full 4x4 state [e, n, ve, vn], one step at a time.
    A fix failing the gate is skipped unless ``max_rejects`` fixes in a row already failed.
    Returns smoothed positions [n, 2] and their posterior std [n] (east axis)."""
    n = len(t)
    eye2 = np.eye(2)
    H = np.hstack([eye2, np.zeros((2, 2))])
    R = r * r * eye2
    xs_f, ps_f, xs_p, ps_p, fs = [], [], [], [], []
    x = np.array([z[0, 0], z[0, 1], 0.0, 0.0])
    P = np.diag([r * r, r * r, V0_SIGMA**2, V0_SIGMA**2])
    xs_f.append(x), ps_f.append(P), xs_p.append(x), ps_p.append(P), fs.append(np.eye(4))
    failed = 0
    for k in range(1, n):
        dt = t[k] - t[k - 1]
        F = np.block([[eye2, dt * eye2], [np.zeros((2, 2)), eye2]])
        Q = q * np.block([[dt**3 / 3 * eye2, dt**2 / 2 * eye2], [dt**2 / 2 * eye2, dt * eye2]])
        xp = F @ x
        Pp = F @ P @ F.T + Q
        S = H @ Pp @ H.T + R
        y = z[k] - H @ xp
        fails = gate is not None and y @ np.linalg.solve(S, y) > gate
        failed = failed + 1 if fails else 0
        if fails and failed <= max_rejects:
            x, P = xp, Pp
        else:
            K = Pp @ H.T @ np.linalg.inv(S)
            x = xp + K @ y
            P = (np.eye(4) - K @ H) @ Pp
        xs_f.append(x), ps_f.append(P), xs_p.append(xp), ps_p.append(Pp), fs.append(F)
    xs, Ps = [xs_f[-1]], [ps_f[-1]]
    for k in range(n - 2, -1, -1):
        C = ps_f[k] @ fs[k + 1].T @ np.linalg.inv(ps_p[k + 1])
        xs.insert(0, xs_f[k] + C @ (xs[0] - xs_p[k + 1]))
        Ps.insert(0, ps_f[k] + C @ (Ps[0] - ps_p[k + 1]) @ C.T)
    return np.array(xs)[:, :2], np.sqrt(np.array(Ps)[:, 0, 0])


def uneven_track(n: int, seed: int, noise: float = 4.0, track_id: str = "a") -> Track:
    """A turning, speeding-up track at jittered 1 Hz with missing fixes and a 30 s gap."""
    rng = np.random.default_rng(seed)
    dt = rng.uniform(0.6, 1.6, n - 1)
    dt[rng.random(n - 1) < 0.1] += 2.0  # dropped fixes
    if n > 3:
        dt[(n - 1) // 2] = 30.0  # a gap
    t = 100.0 + np.concatenate([[0.0], np.cumsum(dt)])
    heading = 0.3 + 0.02 * (t - t[0])
    speed = 5.0 + 0.05 * (t - t[0])
    clean = np.cumsum(
        np.stack([speed * np.cos(heading), speed * np.sin(heading)], 1)
        * np.concatenate([[0.0], dt])[:, None],
        axis=0,
    )
    xy = clean + rng.normal(0.0, noise, clean.shape)
    return Track(track_id, t, xy, clean)


@pytest.mark.parametrize(("gate", "max_rejects"), [(None, 0), (0.9, 3), (0.5, 1)])
def test_matches_textbook_reference(gate: float | None, max_rejects: int) -> None:
    tr = uneven_track(40, seed=1)
    thr = None if gate is None else float(gate_threshold(gate))
    want, want_std = reference_rts(tr.t, tr.xy, q=0.7, r=3.0, gate=thr, max_rejects=max_rejects)
    got = smooth_padded(Padded.of([tr]), 0.7, 3.0, thr, max_rejects=max_rejects, with_std=True)
    np.testing.assert_allclose(got.pos[:, :, 0], want, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.pos_std[:, 0], want_std, rtol=0, atol=1e-8)
    if gate is not None:  # the case must actually gate something to test the gated branch
        assert 0 < (~got.accepted[:, 0]).sum() < len(tr) // 3


def test_padding_and_batching_change_nothing() -> None:
    tracks = [uneven_track(n, seed=n, track_id=str(n)) for n in (40, 7, 25, 1, 2)]
    alone = [rts_smooth([tr], q=0.5, r=2.0)[0] for tr in tracks]
    together = rts_smooth(tracks, q=0.5, r=2.0)
    split = rts_smooth(tracks, q=0.5, r=2.0, budget=50)  # several groups
    for a, b, c, tr in zip(alone, together, split, tracks, strict=True):
        assert a.shape == b.shape == c.shape == (len(tr), 2)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert np.array_equal(tracks[3].xy, together[3])  # one fix: nothing to smooth


def test_parameter_axis_equals_separate_runs() -> None:
    tracks = [uneven_track(n, seed=n, track_id=str(n)) for n in (30, 12)]
    batch = Padded.of(tracks)
    qs, rs = np.array([[0.1], [3.0]]), np.array([[1.0], [6.0]])
    gate = float(gate_threshold(0.95))
    grid = smooth_padded(batch, qs, rs, gate).pos  # [T, 2, P, B]
    for p in range(2):
        one = smooth_padded(batch, float(qs[p, 0]), float(rs[p, 0]), gate).pos
        np.testing.assert_allclose(grid[:, :, p, :], one, rtol=0, atol=1e-12)


def test_groups_bound_padding() -> None:
    lengths = [100, 10, 90, 60, 40, 5, 0]
    got = list(groups(lengths, budget=250))
    assert sorted(i for g in got for i in g) == list(range(len(lengths)))
    for g in got:
        longest = lengths[g[0]]
        assert len(g) * longest <= 250 or len(g) == 1
        assert all(2 * lengths[i] >= longest for i in g)


def test_theory_smoother_error_matches_its_posterior() -> None:
    """With the true q and r on a track drawn from the model itself, the smoother is the optimal
    estimator: its empirical position RMSE must match its own posterior std (RMS over points),
    and both must sit well below the raw error r. Per axis, 60 tracks x 300 points give 36,000
    errors; they are correlated over a few points (the smoother's span, ~ (r²/q)^(1/4) s =
    ~2 s here), so the RMSE's relative sampling error is about 1/sqrt(2 * 36000 / 5) ~ 1 %.
    A 5 % tolerance is then 5 sigma, and a smoother off in gain by a factor of 2 in q (or a
    wrong Q) moves the ratio by more than that."""
    rng = np.random.default_rng(0)
    q, r, n, m = 0.5, 5.0, 300, 60
    tracks = []
    for j in range(m):
        dt = rng.uniform(0.5, 2.0, n - 1)
        pos = np.zeros((n, 2))
        vel = np.zeros((n, 2))
        vel[0] = rng.normal(0.0, 5.0, 2)
        for k in range(1, n):
            d = dt[k - 1]
            cov = q * np.array([[d**3 / 3, d**2 / 2], [d**2 / 2, d]])
            w = rng.multivariate_normal([0.0, 0.0], cov, size=2)  # per axis: [pos, vel]
            pos[k] = pos[k - 1] + d * vel[k - 1] + w[:, 0]
            vel[k] = vel[k - 1] + w[:, 1]
        t = np.concatenate([[0.0], np.cumsum(dt)])
        tracks.append(Track(str(j), t, pos + rng.normal(0.0, r, pos.shape), pos))
    res = smooth_padded(Padded.of(tracks), q, r, with_std=True)
    err = res.pos - np.stack([tr.clean for tr in tracks], axis=-1)  # [T, 2, B]
    rmse_axis = np.sqrt(np.mean(err**2))
    posterior = np.sqrt(np.mean(res.pos_std**2))
    assert rmse_axis == pytest.approx(posterior, rel=0.05)
    # Steady state for this model at dt ~ 1 s leaves about half of r per axis; raw is r.
    assert rmse_axis < 0.6 * r
    raw_axis = np.sqrt(np.mean((np.stack([tr.xy - tr.clean for tr in tracks], -1)) ** 2))
    assert raw_axis == pytest.approx(r, rel=0.02)
    # Optimal means no other q does better: a q off by 4x either way costs a few percent here.
    clean = np.stack([tr.clean for tr in tracks], axis=-1)
    for off in (q / 4, q * 4):
        worse = np.sqrt(np.mean((smooth_padded(Padded.of(tracks), off, r).pos - clean) ** 2))
        assert worse > 1.02 * rmse_axis


def spiked_line(spike: float) -> Track:
    rng = np.random.default_rng(5)
    n = 200
    t = np.arange(n, dtype=np.float64)
    clean = np.stack([8.0 * t, 2.0 * t], axis=1)
    xy = clean + rng.normal(0.0, 2.0, clean.shape)
    xy[100] += [spike, 0.0]
    return Track("spike", t, xy, clean)


def test_gating_removes_a_spike_that_plain_rts_smears() -> None:
    tr = spiked_line(50.0)
    plain = rts_smooth([tr], q=0.2, r=2.0)[0]
    robust = robust_rts_smooth([tr], q=0.2, r=2.0, gate=0.99)[0]
    near = np.r_[95:100, 101:106]
    err_plain = np.hypot(*(plain - tr.clean)[near].T)
    err_robust = np.hypot(*(robust - tr.clean)[near].T)
    assert err_plain.max() > 5.0  # the smear: a 50 m spike pulls its neighbours metres away
    assert err_robust.max() < 2.5  # gone: as close as the rest of the track
    assert err_robust.mean() < 0.3 * err_plain.mean()
    # And without a spike, gating at 99 % costs next to nothing.
    clean_tr = spiked_line(0.0)
    a = rts_smooth([clean_tr], q=0.2, r=2.0)[0]
    b = robust_rts_smooth([clean_tr], q=0.2, r=2.0, gate=0.99)[0]
    assert np.abs(a - b).max() < 1.0


def test_gating_reacquires_after_a_sharp_turn() -> None:
    """A 90 degree turn at 15 m/s: every fix after it fails a tight gate. Gating without the
    re-acquire rule coasts straight on (locks out); with it, the track is followed again."""
    t = np.arange(120, dtype=np.float64)
    clean = np.where(
        (t < 60)[:, None],
        np.stack([15 * t, 0 * t], 1),
        np.stack([15 * 60 + 0 * t, 15 * (t - 60)], 1),
    )
    rng = np.random.default_rng(2)
    tr = Track("turn", t, clean + rng.normal(0.0, 2.0, clean.shape), clean)
    locked = robust_rts_smooth([tr], q=0.05, r=2.0, gate=0.99, max_rejects=10**9)[0]
    kept = robust_rts_smooth([tr], q=0.05, r=2.0, gate=0.99)[0]
    err_locked = np.hypot(*(locked - clean).T)
    err_kept = np.hypot(*(kept - clean).T)
    assert err_locked[80:].max() > 100.0
    assert err_kept[80:].max() < 5.0


def test_rejects_bad_parameters() -> None:
    tr = uneven_track(10, seed=0)
    with pytest.raises(ThetaError, match="r > 0"):
        rts_smooth([tr], q=1.0, r=0.0)
    with pytest.raises(ThetaError, match="gate"):
        robust_rts_smooth([tr], gate=1.0)


def test_gate_threshold_is_the_chi2_quantile() -> None:
    from scipy.stats import chi2

    for p in (0.9, 0.99, 0.999):
        assert float(gate_threshold(p)) == pytest.approx(chi2.ppf(p, 2), rel=1e-12)


def test_a_skipped_fix_is_as_if_it_were_not_there() -> None:
    """``skip`` drops fixes but keeps their steps: the other fixes' estimates equal those of the
    track without them (the continuous white-acceleration model composes exactly over time),
    and the skipped steps get the smoother's estimate at their time."""
    tr = uneven_track(50, seed=4)
    drop = np.zeros(len(tr), dtype=bool)
    drop[[10, 11, 12, 30]] = True
    got = smooth_padded(Padded.of([tr]), 0.7, 3.0, skip=drop[:, None])
    kept = Track("k", tr.t[~drop], tr.xy[~drop])
    want = rts_smooth([kept], q=0.7, r=3.0)[0]
    np.testing.assert_allclose(got.pos[~drop, :, 0], want, rtol=0, atol=1e-8)
    assert not got.accepted[drop, 0].any() and got.accepted[~drop, 0].all()
    assert np.abs(got.pos[drop, :, 0] - tr.xy[drop]).max() > 0.0
