from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from _runfab import K, invoke, make_quick_val, make_run, reset_cli_state, tiny_config

from theta_cli import flow
from theta_cli.artifact import checkpoint, load
from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout
from theta_cli.data import epochfile
from theta_cli.eval import bytewise


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    make_quick_val(tmp_path / "quick_val.pt")
    return make_run(tmp_path / "models")


def zeros(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def _norm_v(path: Path, limit: int | None = None) -> torch.Tensor:
    """Hand computation for a model that predicts 0: per-point error is ‖V‖, shape [N, K]."""
    data, _ = epochfile.load(path)
    v = data["V"] if limit is None else data["V"][:limit]
    return v.double().norm(dim=-1)


# ---- pure pieces -----------------------------------------------------------------------------


def test_summarize_regions_and_worst() -> None:
    means = [4.0, 1.0, 2.0, 3.0, 6.0]
    s = bytewise.summarize(means, q1=2, q2=1)
    assert s.overall == pytest.approx(16 / 5)
    assert s.head == pytest.approx(2.5)
    assert s.payload == pytest.approx(2.5)  # bytes 3-4
    assert s.tail == pytest.approx(6.0)
    assert s.worst == ((5, 6.0), (1, 4.0), (4, 3.0))
    none = bytewise.summarize(means, q1=0, q2=0)
    assert none.head is None and none.tail is None and none.payload == pytest.approx(16 / 5)


@pytest.mark.parametrize(("q1", "q2"), [(4, 0), (2, 2), (0, 4), (-1, 0)])
def test_buckles_must_leave_payload(q1: int, q2: int) -> None:
    with pytest.raises(ThetaError, match="--q1|--q2"):
        bytewise.check_buckles(K, q1, q2)
    bytewise.check_buckles(K, 1, 2)  # 24 < 32: fine


def test_point_errors_zero_model_both_modes() -> None:
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(5, K, 2, generator=g)
    v = torch.randn(5, K, 2, generator=g)
    t = torch.rand(5, 1, generator=g)
    x_t = flow.interpolate(x0, v, t)
    expect = v.norm(dim=-1)
    assert torch.allclose(bytewise.point_errors(zeros, x_t, v, t, "velocity"), expect)
    # denoise with v̂ = 0 never moves X1, so the error is ‖X1 − X0‖ = ‖V‖ again
    assert torch.allclose(bytewise.point_errors(zeros, x_t, v, t, "denoise", 3), expect,
                          atol=1e-5)


def test_point_errors_denoise_exact_model_is_zero() -> None:
    # A model that knows the true straight line (v̂ = V for this batch) denoises exactly.
    g = torch.Generator().manual_seed(2)
    x0, v = torch.randn(3, K, 2, generator=g), torch.randn(3, K, 2, generator=g)
    t = torch.full((3, 1), 0.5)
    err = bytewise.point_errors(lambda x, tt: v, flow.interpolate(x0, v, t), v, t, "denoise", 4)
    assert float(err.max()) < 1e-5


def test_byte_means_independent_of_batch_size(tmp_path: Path) -> None:
    data = make_quick_val(tmp_path / "q.pt", n=10)
    files = [tmp_path / "q.pt"]

    def means(bs: int) -> tuple[float, ...]:
        return bytewise.byte_means_of(zeros, bytewise.iter_batches(files, K, bs, None), K,
                                       "velocity")[0]

    expect = data["V"].double().norm(dim=-1).mean(0).reshape(K // 8, 8).mean(1)
    assert list(means(3)) == pytest.approx(expect.tolist(), rel=1e-6)
    assert list(means(10)) == pytest.approx(expect.tolist(), rel=1e-6)


def test_iter_batches_limit_spans_files(tmp_path: Path) -> None:
    make_quick_val(tmp_path / "d" / "a.pt", n=5, seed=1)
    make_quick_val(tmp_path / "d" / "b.pt", n=5, seed=2)
    seen: list[int] = []
    files = bytewise.data_files(tmp_path / "d")
    sizes = [int(b[0].shape[0]) for b in bytewise.iter_batches(files, K, 4, 7, seen.append)]
    assert sizes == [4, 1, 2] and seen == [5, 2]


def test_wrong_k_data_named(tmp_path: Path) -> None:
    make_quick_val(tmp_path / "q16.pt", n=3, k=16)
    with pytest.raises(ThetaError, match="q16.pt: chunks have K=16"):
        list(bytewise.iter_batches([tmp_path / "q16.pt"], K, 4, None))


# ---- through the CLI -------------------------------------------------------------------------


def _stub_zero_model(monkeypatch) -> None:
    class Zero(torch.nn.Module):
        def forward(self, x, t):
            return torch.zeros_like(x)

    monkeypatch.setattr(load, "model_from_payload", lambda *a: Zero())


def test_cli_buckle_head_hand_computation(run: RunLayout, tmp_path: Path, monkeypatch) -> None:
    _stub_zero_model(monkeypatch)
    ckpt = run.checkpoints()[0][2]
    res = invoke(tmp_path / "models", "eval-bytes", str(ckpt), "--q1", "2", "--q2", "1")
    assert res.exit_code == 0, res.output
    lines = run.byte_csv.read_text().splitlines()
    assert lines[0] == (
        "ckpt_name,Q1,Q2,mode,buckle_head,byte_1_mean,byte_2_mean,byte_3_mean,byte_4_mean"
    )
    row = next(csv.reader(lines[1:]))
    assert row[:4] == [ckpt.name, "2", "1", "velocity"]
    err = _norm_v(tmp_path / "quick_val.pt")  # [N, K]
    head = float(err[:, :16].mean())  # Q1 = 2 bytes = 16 points
    assert float(row[4]) == pytest.approx(head, rel=1e-6)
    per_byte = err.mean(0).reshape(4, 8).mean(1)
    assert [float(x) for x in row[5:]] == pytest.approx(per_byte.tolist(), rel=1e-6)
    assert "head buckle" in res.stdout and "worst #1" in res.stdout
    # The heading is one unwrapped line, whatever the table's width.
    assert f"{ckpt.name}: velocity error per byte, Q1=2 Q2=1, 24 samples of quick_val.pt" in (
        res.stdout.splitlines()[0])
    assert (run.fig_dir / f"byte-err_{ckpt.stem}.png").is_file()
    assert "byte_wise_err.csv" in run.runtime_log.read_text()


def test_cli_rows_accumulate_modes_and_limit(run: RunLayout, tmp_path: Path, monkeypatch) -> None:
    _stub_zero_model(monkeypatch)
    models = tmp_path / "models"
    assert invoke(models, "eval-bytes", run.name, "--q1", "0", "--q2", "0").exit_code == 0
    res = invoke(models, "eval-bytes", run.name, "--ckpt", "ckpt_epoch0_step10.pt",
                 "--mode", "denoise", "--steps", "2", "--limit", "5", "--batch-size", "2")
    assert res.exit_code == 0, res.output
    rows = csvlog.read_byte_rows(run)
    assert [(r.ckpt_name, r.q1, r.q2, r.mode) for r in rows] == [
        ("ckpt_epoch1_step10.pt", 0, 0, "velocity"),  # default: the newest
        ("ckpt_epoch0_step10.pt", 1, 1, "denoise"),  # Q1/Q2 default to the run's (1, 1)
    ]
    assert rows[0].buckle_head is None
    assert ",velocity,," in run.byte_csv.read_text()  # empty buckle_head cell when Q1 = 0
    expect = _norm_v(tmp_path / "quick_val.pt", limit=5).mean(0).reshape(4, 8).mean(1)
    assert list(rows[1].byte_means) == pytest.approx(expect.tolist(), rel=1e-5)


def test_cli_data_dir_option(run: RunLayout, tmp_path: Path, monkeypatch) -> None:
    _stub_zero_model(monkeypatch)
    make_quick_val(tmp_path / "val" / "v0.pt", n=4, seed=5)
    make_quick_val(tmp_path / "val" / "v1.pt", n=4, seed=6)
    res = invoke(tmp_path / "models", "eval-bytes", run.name, "--data", str(tmp_path / "val"))
    assert res.exit_code == 0, res.output
    err = torch.cat([_norm_v(tmp_path / "val" / "v0.pt"), _norm_v(tmp_path / "val" / "v1.pt")])
    got = csvlog.read_byte_rows(run)[0].byte_means
    assert list(got) == pytest.approx(err.mean(0).reshape(4, 8).mean(1).tolist(), rel=1e-6)
    assert "8 samples" in res.stdout


@pytest.mark.parametrize("mode", ["velocity", "denoise"])
def test_cli_real_model_matches_direct_forward(run: RunLayout, tmp_path: Path, mode: str) -> None:
    from theta_cli.artifact import load

    ckpt = run.checkpoints()[1][2]
    res = invoke(tmp_path / "models", "eval-bytes", str(ckpt), "--cpu", "--mode", mode,
                 "--steps", "3", "--batch-size", "7")
    assert res.exit_code == 0, res.output
    payload = checkpoint.load_checkpoint(ckpt)
    cfg = checkpoint.stored_config(payload, ckpt)
    model = load.model_from_payload(payload, cfg, ckpt)
    data, _ = epochfile.load(tmp_path / "quick_val.pt")
    x_t, v, t = data["X_t"], data["V"], data["t"]
    with torch.no_grad():
        if mode == "velocity":
            err = (model(x_t, t) - v).norm(dim=-1)
        else:  # written out by hand: X0 = X_t - tV, X1 = X0 + V, 3 Euler steps from t = 1
            x0 = x_t - t[:, :, None] * v
            x = x0 + v
            for i in range(3):
                x = x - (1 / 3) * model(x, torch.full((len(x), 1), 1 - i / 3))
            err = (x - x0).norm(dim=-1)
    assert float(err.mean()) > 0.1  # the model really predicts something
    expect = err.double().mean(0).reshape(4, 8).mean(1).tolist()
    assert list(csvlog.read_byte_rows(run)[0].byte_means) == pytest.approx(expect, rel=1e-4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--q1", "3", "--q2", "1"], "leaves no payload"),
        (["--mode", "sideways"], "--mode 'sideways'"),
        (["--steps", "0"], "--steps 0"),
        (["--limit", "0"], "--limit 0"),
        (["--data", "nowhere.pt"], "nowhere.pt: data not found"),
        (["--ckpt", "ckpt_epoch9_step9.pt"], "no such checkpoint"),
    ],
)
def test_cli_bad_options_one_line(run: RunLayout, tmp_path: Path, args, message) -> None:
    before = sorted(p for p in run.root.rglob("*") if p != run.runtime_log)
    res = invoke(tmp_path / "models", "eval-bytes", run.name, *args)
    assert res.exit_code == 2
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    # a refused call leaves nothing behind: no CSV, no lock file, no chart (only the log line)
    assert sorted(p for p in run.root.rglob("*") if p != run.runtime_log) == before


def test_cli_unknown_run_lists_runs(run: RunLayout, tmp_path: Path) -> None:
    res = invoke(tmp_path / "models", "eval-bytes", "nope")
    assert res.exit_code == 2 and "nope: no such run" in res.stderr and run.name in res.stderr


def test_cli_missing_quick_val_suggests_data(tmp_path: Path) -> None:
    make_run(tmp_path / "models", cfg=tiny_config(tmp_path, quick_val_path="gone.pt"))
    res = invoke(tmp_path / "models", "eval-bytes", "mlp_20260101_000000")
    assert res.exit_code == 2 and "gone.pt" in res.stderr and "--data" in res.stderr


def test_corrupted_byte_csv_reported_with_line(run: RunLayout, tmp_path: Path, monkeypatch):
    _stub_zero_model(monkeypatch)
    assert invoke(tmp_path / "models", "eval-bytes", run.name).exit_code == 0
    text = run.byte_csv.read_text().splitlines()
    text.append(text[1].replace(text[1].split(",")[6], "x"))
    run.byte_csv.write_text("\n".join(text) + "\n")
    res = invoke(tmp_path / "models", "eval-bytes", run.name)
    assert res.exit_code == 2 and "byte_wise_err.csv:3" in res.stderr
    res = invoke(tmp_path / "models", "info", run.name)
    assert res.exit_code == 2 and "byte_wise_err.csv:3: column 'byte_2_mean'" in res.stderr


def test_noisy_baseline_is_norm_of_v_in_both_modes(tmp_path: Path) -> None:
    # The baseline printed beside every figure: the raw noisy track's error ‖X1 − X0‖ = ‖V‖.
    data = make_quick_val(tmp_path / "q.pt", n=7)
    files = [tmp_path / "q.pt"]
    expect = data["V"].double().norm(dim=-1).mean(0).reshape(K // 8, 8).mean(1).tolist()
    for mode in bytewise.MODES:
        got = bytewise.byte_means_of(zeros, bytewise.iter_batches(files, K, 4, None), K, mode)
        assert got.samples == 7
        assert list(got.noisy) == pytest.approx(expect, rel=1e-6)
    # A zero-velocity model is exactly as wrong as the noisy input in velocity mode.
    vel = bytewise.byte_means_of(zeros, bytewise.iter_batches(files, K, 4, None), K, "velocity")
    assert list(vel.means) == pytest.approx(list(vel.noisy), rel=1e-9)


def test_default_data_is_the_runs_own_quick_val(tmp_path: Path, monkeypatch) -> None:
    # Training measures acc on the run's cached log/quick_val.pt when it drew one (no dataset
    # quick_val.pt); eval-bytes must default to that same set, not fail or use another.
    _stub_zero_model(monkeypatch)
    run = make_run(tmp_path / "models", cfg=tiny_config(tmp_path, quick_val_path="gone.pt"))
    cached = make_quick_val(run.log_dir / "quick_val.pt", n=5)
    res = invoke(tmp_path / "models", "eval-bytes", run.name)
    assert res.exit_code == 0, res.stderr
    row = csvlog.read_byte_rows(run)[-1]
    expect = cached["V"].double().norm(dim=-1).mean(0).reshape(K // 8, 8).mean(1).tolist()
    assert list(row.byte_means) == pytest.approx(expect, rel=1e-6)  # zero model: error = ‖V‖
    assert "5 samples of quick_val.pt" in res.stdout
