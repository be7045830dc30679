"""Per-point trajectory error and its summary, against hand computations (3-4-5 triangles)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theta_cli.core.errors import ThetaError
from theta_cli.eval.trajectory import (
    CRITERIA,
    Track,
    enu_error,
    get_criterion,
    gsdc_score,
    latlon_error,
    summarize,
    track_errors,
)

EST = np.array([[3.0, 4.0], [0.0, 0.0], [6.0, -8.0], [-5.0, 12.0]])
ERR = [5.0, 0.0, 10.0, 13.0]


def test_enu_error_is_the_horizontal_distance() -> None:
    clean = np.array([[1.0, 1.0]] * 4)
    np.testing.assert_allclose(enu_error(EST + 1.0, clean), ERR, rtol=0, atol=1e-12)
    assert enu_error(EST[None], np.zeros((1, 4, 2))).shape == (1, 4)
    with pytest.raises(ThetaError, match="must match"):
        enu_error(EST, np.zeros((3, 2)))


def test_summary_by_hand() -> None:
    s = summarize(np.array(ERR))
    # sorted 0, 5, 10, 13: median = (5 + 10) / 2; p95 sits at rank 0.95 * 3 = 2.85 -> 10 + .85 * 3
    assert s.count == 4
    assert s.mean == pytest.approx(7.0)
    assert s.median == pytest.approx(7.5)
    assert s.p95 == pytest.approx(12.55)
    assert s.rmse == pytest.approx(math.sqrt((25 + 0 + 100 + 169) / 4))
    assert s.max == 13.0
    assert s.gsdc == pytest.approx((7.5 + 12.55) / 2)
    assert gsdc_score(np.array(ERR)) == pytest.approx(s.gsdc)
    assert s.as_dict()["count"] == 4 and s.as_dict()["gsdc"] == s.gsdc


def test_summary_refuses_empty_and_non_finite() -> None:
    with pytest.raises(ThetaError, match="no points"):
        summarize(np.empty(0))
    with pytest.raises(ThetaError, match="non-finite"):
        summarize(np.array([1.0, np.nan]))


def test_criteria_agree_with_the_summary() -> None:
    s = summarize(np.array(ERR))
    for name in ("gsdc", "mean", "median", "p95", "rmse"):
        assert get_criterion(name)(np.array(ERR)) == pytest.approx(getattr(s, name))
    assert set(CRITERIA) == {"gsdc", "mean", "median", "p95", "rmse"}
    custom = lambda e: float(np.max(e))  # noqa: E731
    assert get_criterion(custom) is custom
    with pytest.raises(ThetaError, match="unknown"):
        get_criterion("p99")


def test_latlon_error_in_metres() -> None:
    # At the equator, 1e-5 degree of latitude is 1.105743 m (meridian radius of curvature
    # a (1 - e²) = 6,335,439 m) and 1e-5 degree of longitude is 1.113195 m (a = 6,378,137 m).
    lat0 = np.zeros(3)
    lon0 = np.zeros(3)
    got = latlon_error(lat0 + [1e-5, 0.0, 0.0], lon0 + [0.0, 1e-5, 0.0], lat0, lon0)
    np.testing.assert_allclose(got, [1.105743, 1.113195, 0.0], rtol=0, atol=2e-6)
    # Elsewhere: a 3-4-5 offset put in place through the inverse conversion comes back as 5 m.
    from theta_cli.tracks.enu import from_enu

    clat, clon = np.array([48.85, -33.9, 64.1]), np.array([2.35, 151.2, -21.9])
    elat, elon = from_enu(np.full(3, 3.0), np.full(3, -4.0), clat, clon)
    np.testing.assert_allclose(latlon_error(elat, elon, clat, clon), 5.0, rtol=0, atol=1e-6)
    with pytest.raises(ThetaError, match="one shape"):
        latlon_error(elat, elon[:2], clat, clon)


def test_track_errors_pool_in_order_and_need_truth() -> None:
    a = Track("a", [0.0, 1.0], [[0.0, 0.0], [1.0, 1.0]], clean=np.zeros((2, 2)))
    b = Track("b", [0.0, 1.0, 2.0], np.zeros((3, 2)), clean=np.zeros((3, 2)))
    got = track_errors([a, b], [EST[:2], EST[[2, 3, 0]]])
    np.testing.assert_allclose(got, [5.0, 0.0, 10.0, 13.0, 5.0])
    with pytest.raises(ThetaError, match="2 tracks"):
        track_errors([a, b], [EST[:2]])
    with pytest.raises(ThetaError, match="no clean"):
        track_errors([Track("c", [0.0], [[0.0, 0.0]])], [np.zeros((1, 2))])


def test_track_validates_its_arrays() -> None:
    tr = Track("ok", [0, 1, 1, 3], np.zeros((4, 2), dtype=np.float32), cls="walk")
    assert tr.t.dtype == tr.xy.dtype == np.float64 and len(tr) == 4
    with pytest.raises(ThetaError, match="decrease"):
        Track("back", [0.0, 2.0, 1.0], np.zeros((3, 2)))
    with pytest.raises(ThetaError, match=r"\[n, 2\]"):
        Track("shape", [0.0, 1.0], np.zeros((3, 2)))
    with pytest.raises(ThetaError, match="finite"):
        Track("nan", [0.0, 1.0], [[0.0, np.nan], [0.0, 0.0]])
    with pytest.raises(ThetaError, match="clean"):
        Track("clean", [0.0, 1.0], np.zeros((2, 2)), clean=np.zeros((3, 2)))
