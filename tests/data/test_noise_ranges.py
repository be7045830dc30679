"""Per-agent noise levels (``NoiseModel.vary_noise``, `--vary-noise`): off by default and then
byte for byte what synth wrote before the option existed; on, every agent gets its own white
sigma, drift sigma, drift tau and outlier rate within [1/(1+F), 1+F] of the model's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_refused, invoke

from theta_cli.data.noise import NOISE_FILE, VARIED_FIELDS, NoiseModel, side_stream
from theta_cli.data.pairs import PairsConfig, make_pairs
from theta_cli.data.synth import SynthConfig, synthesize
from theta_cli.tracks.enu import from_enu, to_enu

WHITE_ONLY = {"white_sigma": 4.0, "drift_sigma": 0.0, "outlier_rate": 0.0}

#: sha256 of `synthesize(SynthConfig(agents=3, points=120, files=1, seed=5, format="csv"))`'s
#: raw data and noise file, recorded with the code from before `vary_noise` and the curvy motion
#: existed (`--motion legs` is that generator). If numpy's Generator streams or pymap3d's
#: arithmetic change, these change too: re-record them only after checking that.
GOLDEN_FILES = {
    "noise_model.json": "8e6b52d19ff6fc341601bdb6cd2e8ac7034b548d3df5cc94bf99f13de52c817e",
    "part-0000.csv": "1e89fff90d81ba187541c2194cee13bd41c9976d8bc19bd86391e2e5f189c9e4",
}
#: sha256 of `NoiseModel(outlier_rate=0.02).sample(1.01 * arange(500), default_rng([7, 1]))
#: .total`, recorded the same way (16 outlier fixes).
GOLDEN_SAMPLE = "32fffc7727660464a84653f125d72f04e1a33a1899d4e93d9d9a9aac5dc6a055"


def _hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def _agent_std(df: pd.DataFrame) -> dict[str, float]:
    """Per agent: std per axis of noisy minus clean, in metres (each fix about its own)."""
    out = {}
    for agent, g in df.groupby("agent"):
        d = to_enu(g["latitude_n"].to_numpy(), g["longitude_n"].to_numpy(),
                   g["latitude"].to_numpy(), g["longitude"].to_numpy())  # fmt: skip
        out[agent] = float(d.std())
    return out


def test_off_by_default_and_byte_identical_to_before(theta_env: Path) -> None:
    cfg = SynthConfig(agents=3, points=120, files=1, seed=5, format="csv", motion="legs")
    synthesize(cfg, theta_env / "a")
    assert {k: v for k, v in _hashes(theta_env / "a").items() if k in GOLDEN_FILES} == GOLDEN_FILES
    result = invoke("data", "synth", "--out", "b", "--agents", "3", "--points", "120", "--files",
                    "1", "--seed", "5", "--format", "csv", "--vary-noise", "0",
                    "--motion", "legs")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert _hashes(theta_env / "b") == _hashes(theta_env / "a")
    # The default motion is another generator: same noise file, other tracks.
    synthesize(cfg.model_copy(update={"motion": "curvy"}), theta_env / "c")
    curvy = _hashes(theta_env / "c")
    assert curvy["noise_model.json"] == GOLDEN_FILES["noise_model.json"]
    assert curvy["part-0000.csv"] != GOLDEN_FILES["part-0000.csv"]
    draw = NoiseModel(outlier_rate=0.02).sample(1.01 * np.arange(500.0),
                                                np.random.default_rng([7, 1]))  # fmt: skip
    assert hashlib.sha256(draw.total.tobytes()).hexdigest() == GOLDEN_SAMPLE
    assert int(draw.outlier_mask.sum()) == 16


def test_varied_factors_are_log_uniform_within_bounds() -> None:
    base = NoiseModel(outlier_rate=0.01)
    rng = np.random.default_rng(0)
    factors = np.array([[getattr(base.varied(rng, 1.0), f) / getattr(base, f)
                         for f in VARIED_FIELDS] for _ in range(4000)])  # fmt: skip
    assert factors.min() >= 0.5 and factors.max() <= 2.0
    logs = np.log(factors)
    # Log-uniform on [-ln 2, ln 2]: mean 0, std ln2/sqrt(3); both ends reached.
    assert np.abs(logs.mean(axis=0)).max() < 0.03
    assert logs.std(axis=0) == pytest.approx(np.full(4, np.log(2) / np.sqrt(3)), rel=0.05)
    assert (factors.min(axis=0) < 0.52).all() and (factors.max(axis=0) > 1.95).all()
    corr = np.corrcoef(logs.T)[np.triu_indices(4, 1)]
    assert np.abs(corr).max() < 0.06  # an independent factor per parameter
    one = base.varied(np.random.default_rng(1), 3.0)
    assert (one.outlier_min, one.outlier_max, one.outlier_max_fixes, one.vary_noise) == (
        base.outlier_min, base.outlier_max, base.outlier_max_fixes, 0.0)
    sure = NoiseModel(outlier_rate=0.9).varied(np.random.default_rng(2), 50.0)
    assert 0.0 <= sure.outlier_rate <= 1.0  # a probability stays one


def test_varied_zero_draws_nothing_and_bad_spread_is_refused() -> None:
    base = NoiseModel()
    rng = np.random.default_rng(3)
    assert base.varied(rng, 0.0) is base
    assert rng.random() == np.random.default_rng(3).random()
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="must be >= 0"):
            base.varied(rng, bad)
    with pytest.raises(ValueError, match="vary_noise"):
        NoiseModel(vary_noise=-1.0)


def test_vary_rescales_the_agent_own_draws() -> None:
    times = np.arange(300.0)
    plain = NoiseModel(**WHITE_ONLY).sample(times, np.random.default_rng([4, 2]))
    varied = NoiseModel(**WHITE_ONLY, vary_noise=1.0).sample(times, np.random.default_rng([4, 2]))
    # The factor comes from the side stream of the same seed; the white draws are the agent's.
    own = NoiseModel(**WHITE_ONLY).varied(side_stream(np.random.default_rng([4, 2])), 1.0)
    scale = own.white_sigma / 4.0
    assert scale != pytest.approx(1.0, abs=1e-3)
    assert np.allclose(varied.white, plain.white * scale, rtol=1e-12, atol=0)
    again = NoiseModel(**WHITE_ONLY, vary_noise=1.0).sample(times, np.random.default_rng([4, 2]))
    assert np.array_equal(again.total, varied.total)
    other = NoiseModel(**WHITE_ONLY, vary_noise=1.0).sample(times, np.random.default_rng([4, 3]))
    assert other.white.std() / plain.white.std() != pytest.approx(scale, rel=1e-3)


def _within(stds: dict[str, float], sigma: float, spread: float, tol: float = 0.05) -> None:
    values = np.array(list(stds.values()))
    assert values.min() >= sigma / (1 + spread) * (1 - tol), values
    assert values.max() <= sigma * (1 + spread) * (1 + tol), values


def test_synth_agents_get_their_own_noise_levels(theta_env: Path) -> None:
    cfg = SynthConfig(agents=12, points=1500, files=1, seed=2)
    synthesize(cfg, theta_env / "off", noise=NoiseModel(**WHITE_ONLY))
    synthesize(cfg, theta_env / "on", noise=NoiseModel(**WHITE_ONLY, vary_noise=1.0))
    synthesize(cfg, theta_env / "on2", noise=NoiseModel(**WHITE_ONLY, vary_noise=1.0))
    off = pd.read_parquet(theta_env / "off" / "part-0000.parquet")
    on = pd.read_parquet(theta_env / "on" / "part-0000.parquet")
    assert _hashes(theta_env / "on") == _hashes(theta_env / "on2")  # same seed, same bytes
    clean = ["agent", "timestamp", "longitude", "latitude"]
    assert off[clean].equals(on[clean])  # only the noise changed
    flat = _agent_std(off)
    _within(flat, 4.0, 0.0, tol=0.04)
    varied = _agent_std(on)
    _within(varied, 4.0, 1.0)
    assert max(varied.values()) / min(varied.values()) > 1.5
    noise = json.loads((theta_env / "on" / NOISE_FILE).read_text())
    assert noise["vary_noise"] == 1.0 and NoiseModel(**noise) == NoiseModel(**WHITE_ONLY,
                                                                            vary_noise=1.0)
    assert "vary_noise" not in json.loads((theta_env / "off" / NOISE_FILE).read_text())


def test_pairs_agents_get_their_own_noise_levels(theta_env: Path) -> None:
    n = 1500
    rows = []
    for k in range(10):
        east = np.cumsum(np.full(n, 3.0)) + 500.0 * k
        lat, lon = from_enu(east, np.zeros(n), 52.5, 13.4)
        rows.append(pd.DataFrame({"track": f"t{k}", "time": 1e9 + np.arange(n), "lat": lat,
                                  "lon": lon}))  # fmt: skip
    pd.concat(rows).to_csv(theta_env / "mine.csv", index=False)
    noise = NoiseModel(**WHITE_ONLY, vary_noise=0.5)
    make_pairs([theta_env / "mine.csv"], theta_env / "a", PairsConfig(seed=1), noise=noise)
    make_pairs([theta_env / "mine.csv"], theta_env / "b", PairsConfig(seed=1), noise=noise)
    assert _hashes(theta_env / "a") == _hashes(theta_env / "b")
    stds = _agent_std(pd.read_parquet(theta_env / "a" / "part-0000.parquet"))
    assert len(stds) == 10
    _within(stds, 4.0, 0.5)
    assert max(stds.values()) / min(stds.values()) > 1.25
    assert json.loads((theta_env / "a" / NOISE_FILE).read_text())["vary_noise"] == 0.5


def test_synth_cli_option(theta_env: Path) -> None:
    assert_refused(invoke("data", "synth", "--out", "raw", "--vary-noise", "-1"), "--vary-noise")
    assert not (theta_env / "raw").exists()
    result = invoke("data", "synth", "--out", "raw", "--agents", "2", "--points", "40",
                    "--files", "1", "--vary-noise", "0.25")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads((theta_env / "raw" / NOISE_FILE).read_text())["vary_noise"] == 0.25
