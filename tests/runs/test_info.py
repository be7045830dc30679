from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _runfab import invoke, make_run, reset_cli_state, tiny_config

from theta_cli.artifact import checkpoint
from theta_cli.core import csvlog
from theta_cli.core.layout import RunLayout
from theta_cli.runs import info


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


def _json(res) -> dict:
    assert res.exit_code == 0, res.output + res.stderr
    return json.loads(res.stdout)  # stdout holds the JSON and nothing else


def _no_checkpoint_loading(monkeypatch) -> list[Path]:
    """Fail on any full checkpoint load; record the memory-mapped reads (shapes only)."""
    mapped: list[Path] = []
    real_load = torch.load

    def guarded(path, *a, **k):
        if not k.get("mmap"):
            raise AssertionError("info must not load checkpoints")
        mapped.append(Path(path))
        return real_load(path, *a, **k)

    def boom(*a, **k):
        raise AssertionError("info must not load checkpoints")

    monkeypatch.setattr(checkpoint, "load_checkpoint", boom)
    monkeypatch.setattr(torch, "load", guarded)
    return mapped


def test_all_runs_json(tmp_path: Path, monkeypatch) -> None:
    from theta_cli.model import build_theta

    models = tmp_path / "models"
    make_run(models, name="a_run", acc=[3.0, 1.5, 2.0])
    make_run(models, name="b_run", steps=((0, 5),), acc=[7.0])
    (models / "broken").mkdir()
    (models / "broken" / "log").mkdir()
    (models / "broken" / "log" / "config.json").write_text("{nope")
    mapped = _no_checkpoint_loading(monkeypatch)
    data = _json(invoke(models, "info", "--json"))
    assert sorted(p.name for p in mapped) == ["ckpt_epoch0_step5.pt", "ckpt_epoch1_step10.pt"]
    runs = {r["name"]: r for r in data["runs"]}
    assert set(runs) == {"a_run", "b_run", "broken"}
    a = runs["a_run"]
    expect_params = build_theta("mlp", 2, 16, 1, 32, 0.0)["num_params"]
    assert a["num_params"] == expect_params and a["model_type"] == "mlp"
    assert (a["epochs_reached"], a["epochs_total"], a["checkpoints"]) == (2, 10, 3)
    assert a["best_acc_mean"] == 1.5 and a["best_ckpt"] == "ckpt_epoch0_step20.pt"
    assert a["last_update"]
    assert "not valid JSON" in runs["broken"]["error"]


def test_all_runs_table(tmp_path: Path) -> None:
    models = tmp_path / "models"
    make_run(models, name="a_run")
    res = invoke(models, "info")
    assert res.exit_code == 0, res.stderr
    for word in ("a_run", "mlp", "params", "epoch", "ckpts", "best", "updated", "2/10"):
        assert word in res.stdout


def test_no_runs(tmp_path: Path) -> None:
    assert _json(invoke(tmp_path / "models", "info", "--json"))["runs"] == []


def test_run_details_json(tmp_path: Path, monkeypatch) -> None:
    run = make_run(tmp_path / "models", acc=[3.0, 1.5, 2.0], in_csv=[True, True, False])
    csvlog.append_byte_row(
        run, csvlog.ByteRow("ckpt_epoch0_step20.pt", 1, 1, "velocity", 4.0, (4.0, 1.0, 2.0, 3.0)))
    _no_checkpoint_loading(monkeypatch)
    d = _json(invoke(tmp_path / "models", "info", run.name, "--json"))
    cfg = d["config"]
    assert cfg["K"] == {"value": 32, "default": 256, "changed": True}
    assert cfg["batch_size"]["changed"] is False
    assert cfg["delta_curr"]["default"] is None and cfg["delta_curr"]["changed"] is False
    assert d["huber_delta"] == 38.13 and d["num_params"] > 0
    assert [c["name"] for c in d["checkpoints"]] == [p.name for _, _, p in run.checkpoints()]
    assert [c["best"] for c in d["checkpoints"]] == [False, True, False]
    assert d["checkpoints"][2]["acc_mean"] is None  # not in the CSV
    assert all(c["size"] > 0 for c in d["checkpoints"])
    assert d["data"]["quick_val_path"]["exists"] is False
    b = d["latest_byte_row"]
    assert (b["buckle_head"], b["payload"], b["buckle_tail"]) == (4.0, 1.5, 3.0)
    assert b["worst_bytes"][0] == {"byte": 1, "mean": 4.0}
    assert d["resume_command"] == f"theta resume {run.checkpoints()[-1][2]}"


def test_run_details_human(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    res = invoke(tmp_path / "models", "info", str(run.root))  # by path
    assert res.exit_code == 0, res.stderr
    for title in ("config", "model", "data", "huber delta", "checkpoints", "best",
                  "theta resume"):
        assert title in res.stdout
    assert "(default 256)" in res.stdout


def test_checkpoint_details_without_building(tmp_path: Path, monkeypatch) -> None:
    import theta_cli.model

    run = make_run(tmp_path / "models")
    ckpt = run.checkpoints()[1][2]
    monkeypatch.setattr(theta_cli.model, "build_theta", lambda *a, **k: 1 / 0)
    d = _json(invoke(tmp_path / "models", "info", str(ckpt), "--json"))
    assert (d["epoch"], d["step"], d["global_step"]) == (0, 20, 120)
    assert d["lr"] == 1e-4 and d["huber_delta"] == 38.13
    assert d["architecture"]["model_type"] == "mlp"
    res = invoke(tmp_path / "models", "info", str(ckpt))
    assert res.exit_code == 0 and "global_step" in res.stdout


def test_corrupted_train_csv_line_number(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    lines = run.train_csv.read_text().splitlines()
    lines[3] = ",".join(lines[3].split(",")[:5])  # a short row
    run.train_csv.write_text("\n".join(lines) + "\n")
    res = invoke(tmp_path / "models", "info", run.name)
    assert res.exit_code == 2
    assert "train_data.csv:4: 5 values, expected 9" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_run_lists_existing(tmp_path: Path) -> None:
    make_run(tmp_path / "models", name="real_run")
    res = invoke(tmp_path / "models", "info", "imaginary")
    assert res.exit_code == 2
    assert "imaginary: no such run" in res.stderr and "real_run" in res.stderr


def test_bad_checkpoint_file(tmp_path: Path) -> None:
    bad = tmp_path / "ckpt_epoch0_step0.pt"
    bad.write_bytes(b"not a checkpoint")
    res = invoke(tmp_path / "models", "info", str(bad))
    assert res.exit_code == 2 and f"{bad}: " in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("model_type", ["hybrid", "transformer", "cnn1d", "mlp"])
def test_stored_count_equals_trainable_parameters(tmp_path: Path, model_type: str) -> None:
    # info reads the count from checkpoint shapes; that is only right while the models keep no
    # persistent buffers. This fails if an architecture starts storing one.
    cfg = tiny_config(tmp_path, model_type=model_type, layers=2)
    run = make_run(tmp_path / "models", steps=((0, 1),), cfg=cfg)
    stored = info.stored_param_count(run.checkpoints()[0][2])
    assert stored == info.built_param_count(cfg) > 0


def test_run_without_checkpoints_builds_on_meta(tmp_path: Path) -> None:
    from theta_cli.model import build_theta

    run = make_run(tmp_path / "models", steps=((0, 1),))
    run.checkpoints()[0][2].unlink()
    d = info.summarize_run(run)
    assert d["checkpoints"] == 0
    assert d["num_params"] == build_theta("mlp", 2, 16, 1, 32, 0.0)["num_params"]


def test_tiny_run_end_to_end(tiny_run: RunLayout) -> None:
    d = _json(invoke(tiny_run.root.parent, "info", tiny_run.name, "--json"))
    assert len(d["checkpoints"]) == len(tiny_run.checkpoints())
    assert sum(c["best"] for c in d["checkpoints"]) == 1
    assert d["num_params"] > 0 and d["config"]["model_type"]["value"] == "hybrid"
    runs = _json(invoke(tiny_run.root.parent, "info", "--json"))["runs"]
    assert [r["name"] for r in runs] == [tiny_run.name]
