"""What a run (or all runs, or one checkpoint) holds (``theta info``), as plain data.

Fast by construction: a run is described from its config.json, train_data.csv,
byte_wise_err.csv and ``stat`` of its checkpoint files, never by loading checkpoints (a run
may have hundreds). The parameter count is the one exception: it is read from the tensor
shapes of the newest checkpoint, memory-mapped (milliseconds, no tensor data read), or, for a
run without checkpoints, by building the architecture on torch's ``meta`` device.

The ``*_details``/``summarize`` functions return JSON-ready dicts (``--json`` prints them as
they are); the ``render_*`` functions turn the same dicts into Rich tables and panels.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import shlex
from pathlib import Path
from typing import Any

from theta_cli.artifact import checkpoint
from theta_cli.artifact.best import best_checkpoint, latest_rows
from theta_cli.core import csvlog, tempfiles
from theta_cli.core.config import (
    ARCH_FIELDS,
    Architecture,
    RunConfig,
    TrainConfig,
    load_run_config,
)
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import MODELS_DIR_ENV, RunLayout, list_runs, models_dir

DATA_FIELDS = ("train_dir", "val_dir", "quick_val_path", "huber_delta_path")
#: RunConfig fields that are run state, not settings: never "differ from the defaults".
STATE_FIELDS = ("lr", "delta_curr", "epoch", "step", "global_step")


@functools.lru_cache(maxsize=64)
def _param_count(arch: Architecture) -> int:
    import torch

    from theta_cli.model import build_from_config

    with torch.device("meta"):
        return int(build_from_config(arch)["num_params"])


def built_param_count(cfg: TrainConfig) -> int | None:
    """Trainable parameters of the config's architecture, built on the meta device.

    Exact, but torch's first meta-device build in a process costs 1-3 s on a small CPU, so this
    is only the fallback for a run without checkpoints.
    """
    try:
        return _param_count(cfg.architecture())
    except (ValueError, TypeError, RuntimeError):
        return None


def stored_param_count(ckpt: Path) -> int | None:
    """Elements of the model tensors stored in one checkpoint, read memory-mapped.

    ``mmap=True`` reads the pickle (names, shapes) and maps the tensor data without reading it,
    so this costs milliseconds even for a large checkpoint. theta's models register no
    persistent buffers, so the stored elements are exactly the trainable parameters
    (tests/test_info.py checks this for every model type).
    """
    return checkpoint.stored_elements(ckpt)  # None when unreadable: build instead


def param_count(cfg: TrainConfig, newest: Path | None) -> int | None:
    """Parameter count: from the newest checkpoint's shapes, else by building the architecture."""
    stored = stored_param_count(newest) if newest is not None else None
    return stored if stored is not None else built_param_count(cfg)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).isoformat(timespec="seconds")


def _finite(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else x


def checkpoints(run: RunLayout, rows: list[csvlog.TrainRow]) -> list[dict[str, Any]]:
    """Checkpoints on disk, oldest first, with their latest CSV metrics and the best marked."""
    latest = latest_rows(rows)
    best = best_checkpoint(run, rows)
    out = []
    for epoch, step, path in run.checkpoints():
        st = path.stat()
        row = latest.get(path.name)
        out.append(
            {
                "name": path.name,
                "path": str(path),
                "epoch": epoch,
                "step": step,
                "size": st.st_size,
                "mtime": _iso(st.st_mtime),
                "avg_loss": _finite(row.avg_loss) if row else None,
                "acc_mean": _finite(row.acc_mean) if row else None,
                "best": best is not None and path == best,
            }
        )
    return out


def _best(run: RunLayout, rows: list[csvlog.TrainRow]) -> csvlog.TrainRow | None:
    """The best checkpoint's row (the one rule of ``artifact.best``)."""
    best = best_checkpoint(run, rows)
    return latest_rows(rows)[best.name] if best is not None else None


def _last_update(run: RunLayout, ckpts: list[dict[str, Any]]) -> str | None:
    times = [p.stat().st_mtime for p in (run.config_path, run.train_csv, run.byte_csv)
             if p.is_file()]
    times += [Path(c["path"]).stat().st_mtime for c in ckpts[-1:]]
    return _iso(max(times)) if times else None


def summarize_run(run: RunLayout) -> dict[str, Any]:
    """One line of the all-runs table. A run whose logs are unreadable gets an ``error``."""
    base: dict[str, Any] = {"name": run.name, "path": str(run.root)}
    try:
        cfg = load_run_config(run.config_path)
        rows = csvlog.read_train_rows(run)
    except ThetaError as e:
        return {**base, "error": str(e)}
    ckpts = checkpoints(run, rows)
    best = _best(run, rows)
    return {
        **base,
        "model_type": cfg.model_type,
        "num_params": param_count(cfg, Path(ckpts[-1]["path"]) if ckpts else None),
        # epoch index of the newest row, 1-based: "epoch 2 of 3 reached"
        "epochs_reached": (rows[-1].epoch + 1) if rows else 0,
        "epochs_total": cfg.epochs,
        "checkpoints": len(ckpts),
        "best_acc_mean": _finite(best.acc_mean) if best else None,
        "best_ckpt": best.ckpt_name if best else None,
        "last_update": _last_update(run, ckpts),
    }


def list_summaries(root: Path | None = None) -> dict[str, Any]:
    base = models_dir(root)
    return {"models_dir": str(base), "runs": [summarize_run(r) for r in list_runs(base)]}


def empty_hint(summary: dict[str, Any]) -> str | None:
    """What to say when no run was found: where runs were looked for, and how to point there
    (None when there are runs)."""
    if summary["runs"]:
        return None
    base = Path(summary["models_dir"])
    where = "does not exist" if not base.is_dir() else "holds no runs"
    return (
        f"no runs found: {base} {where} (runs are looked for in --models-dir, else "
        f"${MODELS_DIR_ENV}, else ./models).\n"
        "Point theta at your runs: theta --models-dir DIR info, or export "
        f"{MODELS_DIR_ENV}=DIR.\n"
        "After `theta demo`: theta --models-dir theta-demo/models info"
    )


def config_diff(cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Every config field with its default and whether it differs from it.

    Run state (the latest lr, delta_curr, epoch, step, global_step) has no default; the
    configured learning rate ``lr_init`` is compared with the ``lr`` default.
    """
    defaults = TrainConfig().model_dump()
    out = {}
    for name, value in cfg.model_dump().items():
        key = "lr" if name == "lr_init" else name
        default = None if name in STATE_FIELDS else defaults.get(key)
        out[name] = {"value": value, "default": default,
                     "changed": default is not None and value != default}
    return out


def resume_command(ckpt: Path) -> str:
    return f"theta resume {shlex.quote(str(ckpt))}"


def run_details(run: RunLayout) -> dict[str, Any]:
    """Everything ``theta info <run>`` shows."""
    cfg = load_run_config(run.config_path)
    rows = csvlog.read_train_rows(run)
    ckpts = checkpoints(run, rows)
    byte_rows = csvlog.read_byte_rows(run)
    latest_byte = None
    if byte_rows:
        b = byte_rows[-1]
        from theta_cli.eval.bytewise import summarize

        s = summarize(b.byte_means, b.q1, b.q2)
        latest_byte = {
            "ckpt_name": b.ckpt_name,
            "Q1": b.q1,
            "Q2": b.q2,
            "mode": b.mode,
            "buckle_head": b.buckle_head,
            "overall": s.overall,
            "payload": s.payload,
            "buckle_tail": s.tail,
            "worst_bytes": [{"byte": i, "mean": m} for i, m in s.worst],
        }
    data = {}
    for name in DATA_FIELDS:
        p = Path(getattr(cfg, name))
        data[name] = {"path": str(p), "exists": p.exists()}
    newest = Path(ckpts[-1]["path"]) if ckpts else None
    best = _best(run, rows)
    num_params = param_count(cfg, newest)
    return {
        "name": run.name,
        "path": str(run.root),
        "config": config_diff(cfg),
        "num_params": num_params,
        "data": data,
        "huber_delta": cfg.delta_curr,
        "checkpoints": ckpts,
        "best_acc_mean": _finite(best.acc_mean) if best else None,
        "best_ckpt": best.ckpt_name if best else None,
        "csv_rows": len(rows),
        "latest_byte_row": latest_byte,
        "resume_command": resume_command(newest) if newest else None,
        # left by killed writes; the next process to take the run's lock removes them
        "temp_files": [
            {"path": str(p), "size": p.stat().st_size} for p in tempfiles.leftover_temps(run.root)
        ],
    }


def ckpt_details(path: Path) -> dict[str, Any]:
    """What one checkpoint holds; reads the file but builds no model."""
    payload = checkpoint.load_checkpoint(path)
    cfg = payload.get(checkpoint.CONFIG)
    arch = {k: cfg.get(k) for k in ARCH_FIELDS} if isinstance(cfg, dict) else {}
    state = payload.get(checkpoint.MODEL)
    tensors = state.values() if isinstance(state, dict) else []
    return {
        "path": str(path),
        "size": path.stat().st_size,
        "epoch": int(payload[checkpoint.EPOCH]),
        "step": int(payload[checkpoint.STEP]),
        "global_step": int(payload[checkpoint.GLOBAL_STEP]),
        "lr": float(payload[checkpoint.LR]),
        "huber_delta": float(payload[checkpoint.DELTA]),
        "architecture": arch,
        # Stored tensor elements: trainable parameters plus any buffers the model registers.
        "state_elements": int(sum(t.numel() for t in tensors if hasattr(t, "numel"))),
        "keys": sorted(payload),
    }


# ---- rendering for people ------------------------------------------------------------------


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def _metres(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f} m"


def _value(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _params(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _short_time(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ")[:16]


def render_runs(summary: dict[str, Any]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # No vertical rules: the table fits an 80-column terminal with a typical run name.
    table = Table(title=f"runs under {summary['models_dir']} (best = lowest acc_mean, m)",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  collapse_padding=True, pad_edge=False)
    table.add_column("run", no_wrap=True, min_width=len(max(
        (r["name"] for r in summary["runs"]), key=len, default="run")))
    for col, just in (("model", "left"), ("params", "right"), ("epoch", "right"),
                      ("ckpts", "right"), ("best", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_column("updated", no_wrap=True)
    for r in summary["runs"]:
        if "error" in r:
            table.add_row(Text(r["name"]), Text(f"unreadable: {r['error']}", style="red"),
                          "", "", "", "", "")
            continue
        table.add_row(
            Text(r["name"]), r["model_type"], _params(r["num_params"]),
            f"{r['epochs_reached']}/{r['epochs_total']}", str(r["checkpoints"]),
            _num(r["best_acc_mean"]), _short_time(r["last_update"]),
        )
    return table


def render_run(d: dict[str, Any]) -> list[Any]:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from theta_cli.runs.prune import human_size

    cfg = Table.grid(padding=(0, 2))
    cfg.add_column()
    cfg.add_column()
    cfg.add_column(style="dim")
    for name, f in d["config"].items():
        style = "bold yellow" if f["changed"] else None
        default = f"(default {_value(f['default'])})" if f["changed"] else ""
        cfg.add_row(Text(name, style=style), Text(_value(f["value"]), style=style),
                    Text(default))

    data = Table.grid(padding=(0, 2))
    for name, f in d["data"].items():
        mark = Text("ok", style="green") if f["exists"] else Text("missing", style="red")
        data.add_row(name, Text(f["path"]), mark)

    ck = Table(show_edge=False, pad_edge=False)
    for col, just in (("checkpoint", "left"), ("size", "right"), ("avg_loss", "right"),
                      ("acc_mean (m)", "right"), ("", "left")):
        ck.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in d["checkpoints"]:
        ck.add_row(c["name"], human_size(c["size"]), _num(c["avg_loss"], ".4f"),
                   _num(c["acc_mean"]), Text("best", style="green") if c["best"] else "")

    out = [
        Panel(cfg, title=f"{d['name']}: config (changed from defaults in yellow)",
              title_align="left"),
        Panel(f"{_params(d['num_params'])} trainable parameters", title="model",
              title_align="left"),
        Panel(data, title="data", title_align="left"),
        Panel(f"delta_curr = {d['huber_delta']:.6g} m", title="huber delta",
              title_align="left"),
        Panel(ck if d["checkpoints"] else "no checkpoints",
              title=f"checkpoints ({len(d['checkpoints'])} on disk, {d['csv_rows']} CSV rows)",
              title_align="left"),
    ]
    b = d["latest_byte_row"]
    if b is not None:
        worst = ", ".join(f"byte {w['byte']} {w['mean']:.3f}" for w in b["worst_bytes"])
        out.append(Panel(
            f"{b['ckpt_name']}  mode={b['mode']} Q1={b['Q1']} Q2={b['Q2']}\n"
            f"overall {b['overall']:.3f} m | head {_metres(b['buckle_head'])} | "
            f"payload {b['payload']:.3f} m | tail {_metres(b['buckle_tail'])}\n"
            f"worst: {worst}",
            title="latest byte-wise row", title_align="left"))
    if d["temp_files"]:
        size = human_size(sum(f["size"] for f in d["temp_files"]))
        names = "\n".join(f["path"] for f in d["temp_files"])
        out.append(Panel(
            Text(f"{names}\n({size}; removed when the run is next resumed or pruned)",
                 style="yellow"),
            title=f"{len(d['temp_files'])} temporary file(s) left by an interrupted write",
            title_align="left"))
    if d["resume_command"]:
        out.append(Panel(Text(d["resume_command"], overflow="fold"),
                         title="resume from the newest checkpoint", title_align="left"))
    return out


def render_ckpt(d: dict[str, Any]) -> Any:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from theta_cli.runs.prune import human_size

    grid = Table.grid(padding=(0, 2))
    for key in ("epoch", "step", "global_step"):
        grid.add_row(key, str(d[key]))
    grid.add_row("lr", f"{d['lr']:.6g}")
    grid.add_row("huber_delta", f"{d['huber_delta']:.6g} m")
    grid.add_row("size", human_size(d["size"]))
    grid.add_row("architecture", ", ".join(f"{k}={v}" for k, v in d["architecture"].items()))
    grid.add_row("stored tensor elements", f"{d['state_elements']:,}")
    return Panel(grid, title=Text(d["path"]), title_align="left")
