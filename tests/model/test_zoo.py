"""The model zoo: shapes, conditioning, determinism, safetensors round trips, learning, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from theta_cli.artifact.load import model_const
from theta_cli.artifact.weights import save_weights
from theta_cli.core.config import RunConfig, TrainConfig
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, RunLayout
from theta_cli.model import (
    MODEL_TYPES,
    SinusoidalNoiseEmbedding,
    build_theta,
    count_parameters,
    default_heads,
)

ARCHS = ("hybrid", "transformer", "cnn1d", "nn")  # "mlp" is an alias of "nn"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: The learning test: 200 AdamW steps of batch 64 at a one-cycle peak lr of 1e-2 reach 6-6.7x
#: on every architecture (hidden 32, 2 layers), a safe margin over the required 5x.
LEARN_STEPS = 200
LEARN_LR = 1e-2


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core box extra threads
    spin against other processes; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(model_type: str, K: int = 32, hidden: int = 16, layers: int = 2, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_theta(model_type, 2, hidden, layers, K, 0.1, **kw)["model"]


def jolt(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Perturb every weight: fresh models have zero-initialised output and conditioning layers,
    so without this every model would trivially return zeros."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return model


def smooth_batch(
    n: int, k: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rectified-flow samples of smooth tracks: X0 a random line plus a bend (~100 m), V white
    noise of 10 m, ENU origin at the first noisy point, t ~ U[0, 1), X_t = X0 + t V."""
    s = torch.linspace(0.0, 1.0, k)[None, :, None]
    x0 = s * torch.randn(n, 1, 2, generator=g) * 100.0
    x0 = x0 + s**2 * torch.randn(n, 1, 2, generator=g) * 20.0
    v = torch.randn(n, k, 2, generator=g) * 10.0
    x0 = x0 - (x0[:, :1] + v[:, :1])
    t = torch.rand(n, generator=g)
    return x0 + t[:, None, None] * v, t, v


def huber_norm_loss(v_hat: torch.Tensor, v: torch.Tensor, delta: float = 38.13) -> torch.Tensor:
    """The trainer's loss: Huber on the per-point error norm in metres."""
    err = torch.linalg.vector_norm(v_hat - v, dim=-1)
    return F.huber_loss(err, torch.zeros_like(err), delta=delta)


def write_run(root: Path, model: torch.nn.Module, arch: dict) -> None:
    """A run directory as the trainer leaves it: full RunConfig in log/config.json + weights."""
    cfg = TrainConfig(**arch)
    path = RunLayout(root).config_path
    path.parent.mkdir(parents=True)
    path.write_text(RunConfig.start(cfg, 38.13).model_dump_json(), encoding="utf-8")
    save_weights(model, root)


# --- shapes and conditioning ------------------------------------------------------------------


@pytest.mark.parametrize("model_type", list(MODEL_TYPES))
@pytest.mark.parametrize("K", [32, 256])
def test_output_shape_and_t_shapes(model_type: str, K: int) -> None:
    model = jolt(tiny(model_type, K=K)).eval()
    x = torch.randn(3, K, 2) * 50.0
    t = torch.tensor([0.0, 0.5, 0.99])
    with torch.no_grad():
        flat = model(x, t)
        column = model(x, t[:, None])
    assert flat.shape == (3, K, 2)
    assert torch.isfinite(flat).all()
    assert flat.abs().sum() > 0
    torch.testing.assert_close(flat, column)


@pytest.mark.parametrize("model_type", ARCHS)
def test_output_depends_on_x_and_t(model_type: str) -> None:
    model = jolt(tiny(model_type)).eval()
    x = torch.randn(2, 32, 2) * 50.0
    t = torch.tensor([0.3, 0.3])
    with torch.no_grad():
        base = model(x, t)
        assert not torch.allclose(base, model(x, torch.tensor([0.6, 0.6])))
        assert not torch.allclose(base, model(x + torch.randn_like(x), t))


def test_extra_input_columns_are_ignored() -> None:
    """Epoch files may hold (e, n, timestamp, is_start); the model reads only e, n."""
    model = jolt(tiny("hybrid")).eval()
    x = torch.randn(2, 32, 2) * 50.0
    extra = torch.cat([x, torch.randn(2, 32, 2) * 1e6], dim=-1)
    t = torch.rand(2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), model(extra, t))


def test_wrong_input_shapes_are_refused() -> None:
    model = tiny("cnn1d")
    with pytest.raises(ValueError, match=r"\(B, 32, 2\)"):
        model(torch.zeros(2, 40, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="batch"):
        model(torch.zeros(2, 32, 2), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(B,\) or \(B, 1\)"):
        model(torch.zeros(2, 32, 2), torch.zeros(2, 2))


def test_fresh_model_predicts_zero() -> None:
    """Zero-initialised head: training starts from v_hat = 0, i.e. loss = E huber(|V|)."""
    out = tiny("hybrid")(torch.randn(2, 32, 2) * 50.0, torch.rand(2))
    assert torch.count_nonzero(out) == 0


def test_noise_embedding() -> None:
    emb = SinusoidalNoiseEmbedding(64)
    t = torch.tensor([0.1, 0.2])
    e = emb(t)
    assert e.shape == (2, 64)
    torch.testing.assert_close(e, emb(t[:, None]))
    torch.testing.assert_close(e, SinusoidalNoiseEmbedding(64)(t))  # deterministic
    # Neighbouring noise levels are far apart (unit-norm rows would be ~sqrt(2) apart at most).
    assert (e[0] - e[1]).norm() > 0.25 * e[0].norm()
    assert list(emb.state_dict()) == []  # stateless: nothing to save or load
    with pytest.raises(ValueError):
        SinusoidalNoiseEmbedding(7)


# --- parameters, seeds, heads -----------------------------------------------------------------


@pytest.mark.parametrize("model_type", ARCHS)
def test_count_parameters(model_type: str) -> None:
    torch.manual_seed(0)
    built = build_theta(model_type, 2, 16, 2, 32, 0.1)
    model = built["model"]
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert built["num_params"] == count_parameters(model) == total > 0
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    assert count_parameters(model) == total - frozen.numel()


@pytest.mark.parametrize("model_type", ARCHS)
def test_same_seed_same_weights(model_type: str) -> None:
    a, b = tiny(model_type).state_dict(), tiny(model_type).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(1)
    c = build_theta(model_type, 2, 16, 2, 32, 0.1)["model"].state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_mlp_is_an_alias_of_nn() -> None:
    assert type(tiny("mlp")) is type(tiny("nn"))


def test_default_heads() -> None:
    assert [default_heads(h) for h in (16, 64, 128, 200, 384)] == [1, 1, 2, 2, 6]
    model = build_theta("transformer", 2, 32, 1, 32, 0.0, heads=4)["model"]
    assert model.heads == 4


def test_dropout_only_in_train_mode() -> None:
    model = jolt(tiny("hybrid"))
    x, t = torch.randn(2, 32, 2) * 50.0, torch.rand(2)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x, t), model(x, t))
        model.eval()
        assert torch.equal(model(x, t), model(x, t))


# --- argument errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model_type": "resnet"}, "valid choices: hybrid, transformer, cnn1d, nn, mlp"),
        ({"K": 30}, "multiple of 8.*try 24 or 32"),
        ({"K": 4}, "multiple of 8"),
        ({"K": 0}, "K must be an integer >= 1"),
        ({"hidden": 0}, "hidden must be"),
        ({"layers": 0}, "layers must be"),
        ({"coord_dim": 0}, "coord_dim must be"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"hidden": 30, "heads": 4}, "not divisible by heads=4.*valid head counts.*1, 2, 3"),
        ({"heads": 0}, "heads must be"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {
        "model_type": "hybrid",
        "coord_dim": 2,
        "hidden": 16,
        "layers": 1,
        "K": 32,
        "dropout": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        build_theta(**args)


# --- safetensors round trip -------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ARCHS)
def test_model_const_round_trip(tmp_path: Path, model_type: str) -> None:
    model = jolt(tiny(model_type)).eval()
    write_run(tmp_path, model, {"model_type": model_type, "hidden": 16, "layers": 2, "K": 32})
    assert (tmp_path / WEIGHTS_FILE).is_file()
    loaded = model_const(tmp_path)
    assert not loaded.training
    x, t = torch.randn(4, 32, 2) * 50.0, torch.rand(4)
    with torch.no_grad():
        assert torch.equal(model(x, t), loaded(x, t))


def test_model_const_reads_arch_only_config(tmp_path: Path) -> None:
    """A hand-written config with just the architecture fields is enough (coord_dim -> 2)."""
    model = jolt(tiny("transformer", heads=2)).eval()
    arch = {"model_type": "transformer", "hidden": 16, "layers": 2, "K": 32, "heads": 2}
    path = RunLayout(tmp_path).config_path
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(arch), encoding="utf-8")
    save_weights(model, tmp_path)
    x, t = torch.randn(2, 32, 2) * 50.0, torch.rand(2)
    with torch.no_grad():
        assert torch.equal(model(x, t), model_const(tmp_path)(x, t))


class _Wrapper(torch.nn.Module):
    """Stands in for torch.compile's OptimizedModule: state-dict keys gain "_orig_mod."."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self._orig_mod = inner


def test_save_weights_unwraps_wrapper(tmp_path: Path) -> None:
    model = jolt(tiny("cnn1d")).eval()
    wrapped = _Wrapper(model)
    assert all(k.startswith("_orig_mod.") for k in wrapped.state_dict())
    write_run(tmp_path, wrapped, {"model_type": "cnn1d", "hidden": 16, "layers": 2, "K": 32})
    x, t = torch.randn(2, 32, 2) * 50.0, torch.rand(2)
    with torch.no_grad():
        assert torch.equal(model(x, t), model_const(tmp_path)(x, t))


@pytest.mark.slow
def test_save_weights_unwraps_torch_compile(tmp_path: Path) -> None:
    model = jolt(tiny("cnn1d")).eval()
    compiled = torch.compile(model)  # compiles lazily; only importing dynamo takes seconds
    write_run(tmp_path, compiled, {"model_type": "cnn1d", "hidden": 16, "layers": 2, "K": 32})
    loaded = model_const(tmp_path)
    assert all(not k.startswith("_orig_mod") for k in loaded.state_dict())
    x, t = torch.randn(2, 32, 2) * 50.0, torch.rand(2)
    with torch.no_grad():
        assert torch.equal(model(x, t), loaded(x, t))


def test_model_const_missing_weights(tmp_path: Path) -> None:
    write_run(tmp_path, tiny("nn"), {"model_type": "nn", "hidden": 16, "layers": 2, "K": 32})
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(ThetaError, match=f"{WEIGHTS_FILE}: weights file not found"):
        model_const(tmp_path)


def test_model_const_missing_config(tmp_path: Path) -> None:
    save_weights(tiny("nn"), tmp_path)
    with pytest.raises(ThetaError, match="config.json: model config not found"):
        model_const(tmp_path)


def test_model_const_config_lacks_fields(tmp_path: Path) -> None:
    path = RunLayout(tmp_path).config_path
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"model_type": "nn", "hidden": 16}), encoding="utf-8")
    with pytest.raises(ThetaError, match="missing field .layers.; missing field .K."):
        model_const(tmp_path)


def test_model_const_bad_model_type(tmp_path: Path) -> None:
    path = RunLayout(tmp_path).config_path
    path.parent.mkdir(parents=True)
    arch = {"model_type": "rnn", "hidden": 16, "layers": 2, "K": 32}
    path.write_text(json.dumps(arch), encoding="utf-8")
    with pytest.raises(
        ThetaError, match="config.json: model_type='rnn': unknown model_type; valid choices"
    ):
        model_const(tmp_path)


def test_model_const_shape_mismatch_names_tensor(tmp_path: Path) -> None:
    # Weights of a hidden-16 model under a config that says hidden 32.
    write_run(
        tmp_path, tiny("hybrid"), {"model_type": "hybrid", "hidden": 32, "layers": 2, "K": 32}
    )
    with pytest.raises(ThetaError) as err:
        model_const(tmp_path)
    msg = str(err.value)
    assert WEIGHTS_FILE in msg and "config.json" in msg
    assert "tensor 'pos' has shape (1, 8, 16), the config's architecture needs (1, 8, 32)" in msg


def test_model_const_k_mismatch_names_position_table(tmp_path: Path) -> None:
    write_run(
        tmp_path,
        tiny("transformer"),
        {"model_type": "transformer", "hidden": 16, "layers": 2, "K": 64},
    )
    with pytest.raises(ThetaError, match="tensor 'pos' has shape \\(1, 32, 16\\)"):
        model_const(tmp_path)


def test_model_const_missing_and_extra_tensors(tmp_path: Path) -> None:
    # Two layers saved, one layer configured: the first surplus tensor is named.
    write_run(
        tmp_path, tiny("nn", layers=2), {"model_type": "nn", "hidden": 16, "layers": 1, "K": 32}
    )
    with pytest.raises(ThetaError, match="tensor 'blocks.1.* is not part of"):
        model_const(tmp_path)
    # One layer saved, two configured: the first absent tensor is named.
    save_weights(tiny("nn", layers=1), tmp_path)
    path = RunLayout(tmp_path).config_path
    cfg = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**cfg, "layers": 2}), encoding="utf-8")
    with pytest.raises(ThetaError, match="tensor 'blocks.1.* is missing"):
        model_const(tmp_path)


def test_model_const_corrupt_weights(tmp_path: Path) -> None:
    write_run(tmp_path, tiny("nn"), {"model_type": "nn", "hidden": 16, "layers": 2, "K": 32})
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ThetaError, match="not a readable safetensors file"):
        model_const(tmp_path)


# --- learning ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ARCHS)
def test_learns_synthetic_rectified_flow(model_type: str) -> None:
    """A few hundred AdamW steps on smooth tracks plus noise cut the held-out loss >= 5x.

    Predicting V needs both inputs: the noise shows in X_t only as t * V, so the model must
    separate it from the smooth track *and* rescale it by the noise level t.
    """
    torch.manual_seed(0)
    model = build_theta(model_type, 2, 32, 2, 32, 0.0)["model"]
    g = torch.Generator().manual_seed(1)
    val = smooth_batch(512, 32, torch.Generator().manual_seed(2))

    def held_out() -> float:
        model.eval()
        with torch.no_grad():
            loss = huber_norm_loss(model(val[0], val[1]), val[2]).item()
        model.train()
        return loss

    opt = torch.optim.AdamW(model.parameters(), lr=LEARN_LR, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=LEARN_LR, total_steps=LEARN_STEPS, pct_start=0.1
    )
    before = held_out()
    for _ in range(LEARN_STEPS):
        x_t, t, v = smooth_batch(64, 32, g)
        loss = huber_norm_loss(model(x_t, t), v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    after = held_out()
    assert after * 5.0 <= before, f"{model_type}: loss {before:.2f} -> {after:.2f}"


# --- autocast (fast) and torch.compile (slow: minutes on 2 cores) ------------------------------


@pytest.mark.parametrize("model_type", ARCHS)
def test_bf16_autocast_forward_backward(model_type: str) -> None:
    model = jolt(tiny(model_type))
    x, t, v = smooth_batch(4, 32, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t)
        loss = huber_norm_loss(out.float(), v)
    loss.backward()
    assert out.shape == (4, 32, 2)
    assert torch.isfinite(out.float()).all()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        full = model(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(x, t).float()
    # bf16 keeps ~3 significant digits; the outputs are O(10 m).
    assert (half - full).abs().max() < 0.05 * full.abs().max() + 0.5


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ARCHS)
def test_torch_compile_matches_eager(model_type: str) -> None:
    model = jolt(tiny(model_type))
    compiled = torch.compile(model)
    x, t, v = smooth_batch(4, 32, torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, t), model(x, t), rtol=1e-4, atol=1e-4)
    model.train()
    loss = huber_norm_loss(compiled(x, t), v)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


# --- the CPU example config -------------------------------------------------------------------


def test_cpu_small_example_is_a_valid_config() -> None:
    data = json.loads((EXAMPLES / "cpu-small.json").read_text(encoding="utf-8"))
    cfg = TrainConfig.model_validate(data)
    assert cfg.cpu
    built = build_theta(cfg.model_type, 2, cfg.hidden, cfg.layers, cfg.K, cfg.dropout)
    assert built["num_params"] < 1_000_000


def test_cpu_small_quickstart_trains_about_900_steps() -> None:
    """The quickstart (default synth + prepare, then cpu-small.json) trains ~900 steps, as
    examples/README.md says: derived from the data defaults, so changing one shows up here."""
    import numpy as np

    from theta_cli.data import defaults as D
    from theta_cli.data.chunking import n_chunks
    from theta_cli.data.prepare import PrepareOptions
    from theta_cli.data.split import split_counts
    from theta_cli.data.splitfiles import plan_files

    cfg = TrainConfig.model_validate_json((EXAMPLES / "cpu-small.json").read_text())
    opts = PrepareOptions()
    # Every synthetic agent has exactly D.POINTS finite fixes.
    train_chunks = split_counts(D.AGENTS, opts.split)[0] * n_chunks(D.POINTS, opts.k, opts.overlap)
    per_file = np.diff(plan_files(train_chunks, opts)) * opts.repeats
    steps = sum(int(min(per_file[e % len(per_file)], cfg.epoch_limit)) // cfg.batch_size
                for e in range(cfg.epochs))
    assert steps == 896


def test_build_from_config_passes_attn_dropout():
    # The config switch is the only way a run turns attention-weight dropout back on.
    from theta_cli.core.config import TrainConfig
    from theta_cli.model import build_from_config
    from theta_cli.model.archs.layers import AttentionBlock

    cfg = TrainConfig(model_type="hybrid", K=32, hidden=16, layers=1, attn_dropout=0.3)
    model = build_from_config(cfg)["model"]
    rates = {m.attn_dropout for m in model.modules() if isinstance(m, AttentionBlock)}
    assert rates == {0.3}
    off = build_from_config(TrainConfig(model_type="hybrid", K=32, hidden=16, layers=1))["model"]
    assert {m.attn_dropout for m in off.modules() if isinstance(m, AttentionBlock)} == {0.0}
