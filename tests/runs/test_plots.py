from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.runs import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path: Path, n_rows: int) -> RunLayout:
    run = RunLayout(tmp_path / "models" / "r")
    run.make_dirs()
    for i in range(n_rows):
        e, s = divmod(i, 3)
        csvlog.append_train_row(
            run,
            csvlog.TrainRow(ckpt_name(e, s * 100), e, s * 100, 1.0 / (i + 1), 5.0 - 0.1 * i,
                            4.0 - 0.1 * i, 1.0, 1e-4, 38.13),
        )
    return run


def _byte_row(name: str, mode: str = "velocity", scale: float = 1.0, n: int = 4) -> csvlog.ByteRow:
    means = tuple(scale * (i + 1) for i in range(n))
    return csvlog.ByteRow(name, 1, 1, mode, means[0], means)


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_empty_csv_writes_nothing(tmp_path: Path) -> None:
    run = _run(tmp_path, 0)
    assert plots.write_train_charts(run) == []
    assert not run.loss_png.exists() and not run.acc_png.exists()


def test_train_charts_written_atomically_and_closed(tmp_path: Path) -> None:
    from matplotlib import _pylab_helpers

    run = _run(tmp_path, 5)
    out = plots.write_train_charts(run)
    assert out == [run.loss_png, run.acc_png]
    assert all(_is_png(p) for p in out)
    assert sorted(p.name for p in run.fig_dir.iterdir()) == ["acc-ckpt.png", "loss-ckpt.png"]
    # No pyplot figure manager was created: nothing accumulates over hundreds of checkpoints.
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_axis_labels_carry_units(tmp_path: Path) -> None:
    rows = csvlog.read_train_rows(_run(tmp_path, 4))
    acc = plots.acc_figure("r", rows).axes[0]
    assert "(m)" in acc.get_ylabel() and "checkpoint" in acc.get_xlabel()
    assert [line.get_label() for line in acc.get_lines()] == ["acc_mean", "acc_median", "acc_std"]
    loss = plots.loss_figure("r", rows).axes[0]
    # Huber of an error in metres is in square metres.
    assert "checkpoint" in loss.get_xlabel() and "(m²)" in loss.get_ylabel()
    assert list(loss.get_lines()[0].get_ydata()) == [r.avg_loss for r in rows]


def test_loss_axis_goes_log_over_a_wide_range(tmp_path: Path) -> None:
    rows = csvlog.read_train_rows(_run(tmp_path, 4))  # avg_loss 1 .. 1/4: linear is fine
    assert plots.loss_figure("r", rows).axes[0].get_yscale() == "linear"
    wide = [replace(r, avg_loss=100.0 / 10**i) for i, r in enumerate(rows)]
    assert plots.loss_figure("r", wide).axes[0].get_yscale() == "log"
    bad = [replace(r, avg_loss=v) for r, v in zip(rows, (100.0, math.nan, 0.0, 1.0), strict=True)]
    assert plots.loss_figure("r", bad).axes[0].get_yscale() == "linear"  # 0 has no log


def test_corrupted_csv_names_the_line(tmp_path: Path) -> None:
    run = _run(tmp_path, 3)
    lines = run.train_csv.read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split(",")[4], "oops", 1)
    run.train_csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(ThetaError, match=r"train_data\.csv:3: column 'acc_mean'"):
        plots.write_train_charts(run)


def test_ckpt_label() -> None:
    assert plots.ckpt_label("ckpt_epoch3_step200.pt") == "e3:s200"
    assert plots.ckpt_label("other") == "other"


def test_byte_chart_name_and_shading(tmp_path: Path) -> None:
    run = _run(tmp_path, 0)
    row = csvlog.ByteRow("ckpt_epoch0_step5.pt", 2, 1, "denoise", 1.5, (1.0, 2.0, 3.0, 4.0, 5.0))
    path = plots.write_byte_chart(run, row)
    assert path == run.fig_dir / "byte-err_ckpt_epoch0_step5.png" and _is_png(path)
    ax = plots.byte_figure("r", row).axes[0]
    assert "(m)" in ax.get_ylabel() and "byte" in ax.get_xlabel()
    spans = [p for p in ax.patches if p.get_label().startswith(("head", "tail"))]
    # head buckle covers bars 1..2, tail buckle bar 5
    assert [tuple(round(v, 2) for v in (p.get_x(), p.get_x() + p.get_width())) for p in spans] == [
        (0.5, 2.5), (4.5, 5.5)
    ]
    # Buckle bars take their region's colour (the shading alone hides behind wide bars).
    from matplotlib.colors import to_hex

    bars = [p for p in ax.patches if p not in spans]
    assert [to_hex(b.get_facecolor()) for b in bars] == [to_hex(c) for c in (
        plots.HEAD_COLOR, plots.HEAD_COLOR, plots.PAYLOAD_COLOR, plots.PAYLOAD_COLOR,
        plots.TAIL_COLOR)]
    # The legend sits in headroom above the tallest bar.
    assert ax.get_ylim()[1] > max(row.byte_means) * 1.2


def test_no_buckle_shading_when_q_zero(tmp_path: Path) -> None:
    row = csvlog.ByteRow("c.pt", 0, 0, "velocity", None, (1.0, 2.0))
    ax = plots.byte_figure("r", row).axes[0]
    assert not [p for p in ax.patches if p.get_label().startswith(("head", "tail"))]


def test_heatmap_rows_latest_per_checkpoint_and_mode() -> None:
    rows = [
        _byte_row("ckpt_epoch1_step0.pt", scale=1),
        _byte_row("ckpt_epoch0_step10.pt", scale=2),
        _byte_row("ckpt_epoch1_step0.pt", scale=3),  # re-evaluated: supersedes the first
        _byte_row("ckpt_epoch0_step10.pt", mode="denoise", scale=4),
    ]
    groups = plots.heatmap_rows(rows)
    assert list(groups) == ["denoise", "velocity"]
    assert [(r.ckpt_name, r.byte_means[0]) for r in groups["velocity"]] == [
        ("ckpt_epoch0_step10.pt", 2.0), ("ckpt_epoch1_step0.pt", 3.0)
    ]


def test_heatmap_only_with_rows(tmp_path: Path) -> None:
    run = _run(tmp_path, 2)
    assert plots.write_byte_heatmap(run) is None
    csvlog.append_byte_row(run, _byte_row("ckpt_epoch0_step0.pt"))
    csvlog.append_byte_row(run, _byte_row("ckpt_epoch0_step100.pt", mode="denoise"))
    path = plots.write_byte_heatmap(run)
    assert path == run.fig_dir / "byte-err-heatmap.png" and _is_png(path)
    groups = plots.heatmap_rows(csvlog.read_byte_rows(run))
    fig = plots.heatmap_figure("r", groups)
    panels = [ax for ax in fig.axes if ax.get_title() in ("mode: velocity", "mode: denoise")]
    assert len(panels) == 2 and "checkpoint" in panels[0].get_ylabel()


def test_write_all_includes_other_csv(tmp_path: Path) -> None:
    run = _run(tmp_path, 3)
    csvlog.append_byte_row(run, _byte_row("ckpt_epoch0_step0.pt"))
    (run.log_dir / "bench.csv").write_text("name,mean_m,p95_m\na,1.0,2.0\nb,0.5,1.5\n")
    (run.log_dir / "notes.csv").write_text("name,comment\na,hello\n")  # nothing numeric
    out = plots.write_all(run)
    names = sorted(p.name for p in out)
    assert names == ["acc-ckpt.png", "bench.png", "byte-err-heatmap.png", "loss-ckpt.png"]
    assert all(_is_png(p) for p in out)


def test_superseded_train_history_gets_the_acc_chart(tmp_path: Path) -> None:
    # A resume from an older checkpoint sets later rows aside under the train header.
    run = _run(tmp_path, 3)
    aside = run.log_dir / "train_data.superseded_20260101_000000.csv"
    aside.write_text(run.train_csv.read_text())
    out = plots.write_other_csv_charts(run)
    assert out == [run.fig_dir / "train_data.superseded_20260101_000000.png"] and _is_png(out[0])
    lines = aside.read_text().splitlines()
    bad = lines[1].replace(lines[1].split(",")[4], "x", 1)
    aside.write_text("\n".join([lines[0], bad]) + "\n")
    with pytest.raises(ThetaError, match=r"superseded_20260101_000000\.csv:2: column 'acc_mean'"):
        plots.write_other_csv_charts(run)
