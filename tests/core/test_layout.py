"""Names on disk, defined once: checkpoint names, CSV headers, run paths and run lookup."""

from __future__ import annotations

import pytest

from theta_cli.core import layout
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout


@pytest.fixture(autouse=True)
def no_models_dir_setting(monkeypatch):
    monkeypatch.delenv(layout.MODELS_DIR_ENV, raising=False)


def _run(root, name, *, log=True, ckpt=False):
    run = RunLayout(root / name)
    if log:
        run.log_dir.mkdir(parents=True)
    if ckpt:
        run.ckpt_dir.mkdir(parents=True)
    return run


def test_byte_and_file_constants():
    assert layout.BYTE == 8
    assert layout.WEIGHTS_FILE == "model.safetensors"
    assert layout.TRAIN_CSV_HEADER == (
        "ckpt_name", "epoch", "step", "avg_loss", "acc_mean", "acc_median", "acc_std", "lr",
        "huber_loss_delta",
    )  # fmt: skip


@pytest.mark.parametrize("epoch,step", [(0, 0), (3, 200), (12, 34567), (100, 1)])
def test_ckpt_name_round_trip(epoch, step):
    name = layout.ckpt_name(epoch, step)
    assert name == f"ckpt_epoch{epoch}_step{step}.pt"
    assert layout.parse_ckpt_name(name) == (epoch, step)


def test_spec_spelling_is_parsed():
    assert layout.parse_ckpt_name("ckpt_epoch_3_step_200.pt") == (3, 200)
    assert layout.parse_ckpt_name("ckpt_epoch_0_step_7.pt") == (0, 7)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ckpt_epoch3_step200.pth",
        "ckpt_epoch3_step200.pt.tmp",
        ".ckpt_epoch3_step200.pt.x1y2.tmp",
        "ckpt_epochX_step1.pt",
        "ckpt_epoch-1_step2.pt",
        "ckpt_epoch3.pt",
        "epoch3_step200.pt",
        "ckpt_epoch__3_step200.pt",
        "ckpt_epoch3_step200.pt/",
        "model.safetensors",
    ],
)
def test_bad_ckpt_names_refused(name):
    with pytest.raises(ThetaError) as exc:
        layout.parse_ckpt_name(name)
    assert "not a checkpoint name" in str(exc.value)
    assert str(exc.value).startswith(f"{name}: ")


def test_byte_csv_header():
    head = layout.byte_csv_header(32)
    assert head == (
        "ckpt_name", "Q1", "Q2", "mode", "buckle_head",
        "byte_1_mean", "byte_2_mean", "byte_3_mean", "byte_4_mean",
    )  # fmt: skip
    big = layout.byte_csv_header(256)
    assert len(big) == 5 + 32
    assert big[-1] == "byte_32_mean"


def test_run_layout_paths(tmp_path):
    run = RunLayout(tmp_path / "theta_20261121_130405")
    assert run.name == "theta_20261121_130405"
    assert run.log_dir == run.root / "log"
    assert run.ckpt_dir == run.root / "ckpt"
    assert run.fig_dir == run.root / "fig"
    assert run.config_path == run.root / "log" / "config.json"
    assert run.train_csv == run.root / "log" / "train_data.csv"
    assert run.byte_csv == run.root / "log" / "byte_wise_err.csv"
    assert run.runtime_log == run.root / "log" / "runtime.log"
    assert run.lock_path == run.root / ".lock"
    assert run.loss_png == run.root / "fig" / "loss-ckpt.png"
    assert run.acc_png == run.root / "fig" / "acc-ckpt.png"
    assert run.ckpt_path(3, 200) == run.root / "ckpt" / "ckpt_epoch3_step200.pt"
    run.make_dirs()
    run.make_dirs()  # idempotent
    assert run.log_dir.is_dir() and run.ckpt_dir.is_dir() and run.fig_dir.is_dir()


def test_checkpoints_numeric_order(tmp_path):
    run = RunLayout(tmp_path / "r")
    assert run.checkpoints() == []  # no ckpt/ yet
    run.make_dirs()
    assert run.checkpoints() == []
    for e, s in [(10, 100), (9, 90), (2, 5), (10, 20), (1, 1000)]:
        run.ckpt_path(e, s).write_bytes(b"x")
    (run.ckpt_dir / "ckpt_epoch_11_step_110.pt").write_bytes(b"x")  # spec spelling
    (run.ckpt_dir / "notes.txt").write_text("x")
    (run.ckpt_dir / ".ckpt_epoch12_step1.pt.abcd.tmp").write_bytes(b"x")  # atomic temp file
    (run.ckpt_dir / "ckpt_epoch13_step1.pt").mkdir()  # a directory is not a checkpoint
    found = run.checkpoints()
    assert [(e, s) for e, s, _ in found] == [
        (1, 1000),
        (2, 5),
        (9, 90),
        (10, 20),
        (10, 100),
        (11, 110),
    ]
    assert found[-1][2] == run.ckpt_dir / "ckpt_epoch_11_step_110.pt"
    assert all(p.parent == run.ckpt_dir for _, _, p in found)


def test_from_ckpt(tmp_path):
    run = RunLayout(tmp_path / "models" / "theta_1")
    run.make_dirs()
    p = run.ckpt_path(3, 200)
    p.write_bytes(b"x")
    got, epoch, step = RunLayout.from_ckpt(p)
    assert (got, epoch, step) == (RunLayout(run.root.resolve()), 3, 200)
    spec = run.ckpt_dir / "ckpt_epoch_4_step_300.pt"
    spec.write_bytes(b"x")
    assert RunLayout.from_ckpt(str(spec))[1:] == (4, 300)


def test_from_ckpt_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = RunLayout(tmp_path / "models" / "r")
    run.make_dirs()
    run.ckpt_path(1, 2).write_bytes(b"x")
    got, _, _ = RunLayout.from_ckpt("models/r/ckpt/ckpt_epoch1_step2.pt")
    assert got.root == run.root.resolve()
    assert got.root.is_absolute()


def test_from_ckpt_missing_file(tmp_path):
    run = RunLayout(tmp_path / "r")
    run.make_dirs()
    with pytest.raises(ThetaError, match="checkpoint not found"):
        RunLayout.from_ckpt(run.ckpt_path(1, 1))


def test_from_ckpt_outside_ckpt_dir(tmp_path):
    p = tmp_path / "ckpt_epoch1_step1.pt"
    p.write_bytes(b"x")
    with pytest.raises(ThetaError, match="ckpt/ directory"):
        RunLayout.from_ckpt(p)


def test_from_ckpt_bad_name(tmp_path):
    run = RunLayout(tmp_path / "r")
    run.make_dirs()
    p = run.ckpt_dir / "best.pt"
    p.write_bytes(b"x")
    with pytest.raises(ThetaError, match="not a checkpoint name"):
        RunLayout.from_ckpt(p)


def test_models_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert layout.models_dir() == layout.Path("./models")
    monkeypatch.setenv(layout.MODELS_DIR_ENV, str(tmp_path / "env"))
    assert layout.models_dir() == tmp_path / "env"
    assert layout.models_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert not hasattr(layout, "set_models_dir")  # no global: each command hands it down


def test_resolve_run_by_name_and_by_path(tmp_path, monkeypatch):
    root = tmp_path / "models"
    run = _run(root, "theta_20261121_130405")
    assert layout.resolve_run("theta_20261121_130405", root=root) == RunLayout(run.root.resolve())
    assert layout.resolve_run(run.root) == RunLayout(run.root.resolve())
    assert layout.resolve_run(str(run.root)) == RunLayout(run.root.resolve())
    # By name under the configured models dir, and by path relative to the cwd.
    monkeypatch.setenv(layout.MODELS_DIR_ENV, str(root))
    assert layout.resolve_run("theta_20261121_130405").root == run.root.resolve()
    monkeypatch.chdir(tmp_path)
    assert layout.resolve_run("models/theta_20261121_130405").root == run.root.resolve()


def test_resolve_run_accepts_run_with_only_ckpt(tmp_path):
    run = _run(tmp_path, "partial", log=False, ckpt=True)
    assert layout.resolve_run("partial", root=tmp_path).root == run.root.resolve()


def test_resolve_run_unknown_name_lists_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "models"
    _run(root, "mlp_1")
    _run(root, "conv_2")
    (root / "stray_dir").mkdir()
    with pytest.raises(ThetaError) as exc:
        layout.resolve_run("nope", root=root)
    msg = str(exc.value)
    assert msg.startswith("nope: no such run")
    assert "conv_2, mlp_1" in msg
    assert "stray_dir" not in msg


def test_resolve_run_unknown_name_with_no_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ThetaError, match=r"runs there: none"):
        layout.resolve_run("nope", root=tmp_path / "missing")


def test_list_runs(tmp_path):
    assert layout.list_runs(tmp_path / "absent") == []
    _run(tmp_path, "b")
    _run(tmp_path, "a")
    (tmp_path / "c").mkdir()
    (tmp_path / "file.txt").write_text("x")
    assert [r.name for r in layout.list_runs(tmp_path)] == ["a", "b"]
