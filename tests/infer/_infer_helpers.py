"""Shared pieces of the denoise tests: stand-in models, synthetic tracks, files, the CLI."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner, Result

from theta_cli.infer.request import DenoiseSettings
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.points import Points

CENTER = (48.137, 11.575)
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MM = 1e-3


class ZeroModel(nn.Module):
    """Predicts no noise at all: denoising must return the input."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class ConstModel(nn.Module):
    """Predicts the same noise V at every point: denoising moves every point by -V."""

    def __init__(self, v: tuple[float, float] = (1.25, -0.75)) -> None:
        super().__init__()
        self.v = v

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.v, dtype=x.dtype).expand_as(x).clone()


class PositionModel(nn.Module):
    """Predicts V = (k, 0) at chunk position k: shows which chunk position each point took."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        k = torch.arange(x.shape[1], dtype=x.dtype).view(1, -1).expand(x.shape[0], -1)
        return torch.stack([k, torch.zeros_like(k)], dim=-1)


def settings(**changes: Any) -> DenoiseSettings:
    """Small settings for the pipeline's arithmetic; the outlier pre-pass is off (it moves the
    random-walk tracks' odd fixes before a stand-in model sees them; test_prepass covers it)."""
    base: dict[str, Any] = {"K": 32, "Q1": 1, "Q2": 1, "fix_interval_s": 1.0, "steps": 3,
                            "batch_size": 7, "device": "cpu", "prepass": False}  # fmt: skip
    base.update(changes)
    return DenoiseSettings(**base)


def track(
    n: int, dt: float = 1.0, speed: float = 6.0, seed: int = 0, start_east: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A curving track of ``n`` fixes ``dt`` seconds apart: (lat, lon, unix time)."""
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0.0, 0.08, n)) + rng.uniform(0, 2 * np.pi)
    step = speed * dt
    east = start_east + np.concatenate([[0.0], np.cumsum(step * np.sin(heading[1:]))])
    north = np.concatenate([[0.0], np.cumsum(step * np.cos(heading[1:]))])
    east += rng.normal(0.0, 3.0, n)
    north += rng.normal(0.0, 3.0, n)
    lat, lon = from_enu(east, north, *CENTER)
    return lat, lon, T0 + dt * np.arange(n, dtype=np.float64)


def points(*tracks: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Points:
    lat = np.concatenate([t[0] for t in tracks])
    lon = np.concatenate([t[1] for t in tracks])
    time = np.concatenate([t[2] for t in tracks])
    group = np.concatenate([np.full(len(t[0]), i) for i, t in enumerate(tracks)])
    return Points(lat, lon, time, group.astype(np.int64), len(tracks))


def offsets_m(lat0, lon0, lat1, lon1) -> np.ndarray:
    """ENU metres [N, 2] of (lat1, lon1) about each (lat0, lon0): how far each point moved."""
    return to_enu(np.asarray(lat1), np.asarray(lon1), np.asarray(lat0), np.asarray(lon0))


# ---- files ----------------------------------------------------------------------------------

GPX_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<gpx creator="Garmin Connect" version="1.1" xmlns="http://www.topografix.com/GPX/1/1" \
xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <metadata>
    <name>Morning ride</name>
    <time>2026-01-01T00:00:00.000Z</time>
  </metadata>
  <wpt lat="48.1400000" lon="11.5800000">
    <ele>520.0</ele>
    <name>Cafe</name>
  </wpt>
  <rte><name>Plan</name><rtept lat="48.1" lon="11.5"/><rtept lat="48.2" lon="11.6"/></rte>
  <trk>
    <name>Ride</name>
    <type>cycling</type>
"""


def gpx_text(segments: list[tuple[np.ndarray, np.ndarray, np.ndarray]], version: str = "1.1"):
    """A Garmin-style GPX: metadata, a waypoint, a route, one track with these segments, each
    point with elevation, a millisecond time and heart rate / cadence / power extensions."""
    out = [GPX_HEAD]
    for lat, lon, time in segments:
        out.append("    <trkseg>\n")
        for i, (la, lo, t) in enumerate(zip(lat, lon, time, strict=True)):
            stamp = np.datetime_as_string(np.datetime64(int(round(t * 1000)), "ms"), unit="ms")
            out.append(
                f'      <trkpt lat="{la:.7f}" lon="{lo:.7f}">\n'
                f"        <ele>{500 + 0.1 * i:.1f}</ele>\n"
                f"        <time>{stamp}Z</time>\n"
                "        <extensions><gpxtpx:TrackPointExtension>"
                f"<gpxtpx:hr>{90 + i % 50}</gpxtpx:hr><gpxtpx:cad>{70 + i % 20}</gpxtpx:cad>"
                f"</gpxtpx:TrackPointExtension><power>{200 + i % 30}</power></extensions>\n"
                "      </trkpt>\n"
            )
        out.append("    </trkseg>\n")
    out.append("  </trk>\n</gpx>\n")
    text = "".join(out)
    if version == "1.0":
        text = text.replace('version="1.1"', 'version="1.0"').replace("GPX/1/1", "GPX/1/0")
        text = text.replace("  <metadata>\n    <name>Morning ride</name>\n"
                            "    <time>2026-01-01T00:00:00.000Z</time>\n  </metadata>\n",
                            "  <name>Morning ride</name>\n")  # fmt: skip
    return text


# ---- the CLI --------------------------------------------------------------------------------


def cli_app() -> Any:
    """The theta app, with `denoise` added here for as long as cli.py does not register it."""
    from theta_cli import cli
    from theta_cli.commands import denoise
    from theta_cli.commands.base import ThetaTyper

    if any(c.name == "denoise" for c in cli.app.registered_commands):
        return cli.app
    app = ThetaTyper(name="theta", help=cli.app.info.help)
    app.callback()(cli.app.registered_callback.callback)  # --models-dir, --verbose: as theta
    app.registered_commands = list(cli.app.registered_commands)
    app.registered_groups = list(cli.app.registered_groups)
    denoise.register(app)
    return app


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli_app(), [str(a) for a in args])


def fake_loader(
    monkeypatch: pytest.MonkeyPatch, model: nn.Module, k: int = 32, q1: int = 1, q2: int = 0,
    fix_interval_s: float = 1.0,
) -> list[str]:
    """Make ``--model`` load ``model`` (any reference); returns the references asked for."""
    from theta_cli.artifact import load

    asked: list[str] = []
    config = SimpleNamespace(K=k, Q1=q1, Q2=q2, fix_interval_s=fix_interval_s)

    def load_model(ref: str, models_dir: Path | None = None) -> SimpleNamespace:
        asked.append(str(ref))
        return SimpleNamespace(model=model, config=config, source=Path(str(ref)),
                               description=f"stand-in {type(model).__name__}",
                               fix_interval_s=fix_interval_s)  # fmt: skip

    monkeypatch.setattr(load, "load_model", load_model)
    return asked
