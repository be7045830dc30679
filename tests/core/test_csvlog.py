"""train_data.csv and byte_wise_err.csv: round trips, and damage reported as file:line."""

from __future__ import annotations

import pytest

from theta_cli.core import csvlog
from theta_cli.core.csvlog import ByteRow, TrainRow
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import TRAIN_CSV_HEADER, RunLayout, byte_csv_header

HEADER_LINE = ",".join(TRAIN_CSV_HEADER)


def _run(tmp_path) -> RunLayout:
    run = RunLayout(tmp_path / "mlp_20261121_130405")
    run.make_dirs()
    return run


def _train_rows() -> list[TrainRow]:
    return [
        TrainRow("ckpt_epoch0_step100.pt", 0, 100, 0.123456789, 3.5, 3.25, 0.1 + 0.2, 1e-3, 38.13),
        TrainRow("ckpt_epoch1_step200.pt", 1, 200, 0.05, 2.0, 1.9, 0.7, 9.87654321e-5, 40.0),
    ]


def test_train_round_trip(tmp_path):
    run = _run(tmp_path)
    assert csvlog.read_train_rows(run) == []  # no file yet
    for row in _train_rows():
        csvlog.append_train_row(run, row)
    got = csvlog.read_train_rows(run)
    assert got == _train_rows()  # floats exact (repr), not rounded
    assert isinstance(got[0].epoch, int) and isinstance(got[0].step, int)
    lines = run.train_csv.read_text().splitlines()
    assert lines[0] == HEADER_LINE
    assert lines[1].startswith("ckpt_epoch0_step100.pt,0,100,0.123456789,")


def test_train_header_only_and_empty_file(tmp_path):
    run = _run(tmp_path)
    run.train_csv.write_text(HEADER_LINE + "\n")
    assert csvlog.read_train_rows(run) == []
    run.train_csv.write_text("")
    assert csvlog.read_train_rows(run) == []


def test_train_tolerates_spaces_after_commas(tmp_path):
    # The spec writes its header with ", " separators.
    run = _run(tmp_path)
    run.train_csv.write_text(
        ", ".join(TRAIN_CSV_HEADER) + "\n" + "ckpt_epoch0_step1.pt, 0, 1, 0.5, 1, 1, 0, 0.001, 38\n"
    )
    (row,) = csvlog.read_train_rows(run)
    assert row.ckpt_name == "ckpt_epoch0_step1.pt" and row.step == 1 and row.avg_loss == 0.5


def _write(run, *rows: str, header: str = HEADER_LINE) -> None:
    run.train_csv.write_text("\n".join([header, *rows]) + "\n")


GOOD = "ckpt_epoch0_step100.pt,0,100,0.5,3.5,3.25,0.3,0.001,38.13"


@pytest.mark.parametrize(
    "bad,expected",
    [
        ("ckpt_epoch1_step200.pt,1,200,abc,2,2,1,0.001,38.13", "column 'avg_loss' is 'abc'"),
        ("ckpt_epoch1_step200.pt,1,200,,2,2,1,0.001,38.13", "column 'avg_loss' is ''"),
        ("ckpt_epoch1_step200.pt,1.5,200,0.1,2,2,1,0.001,38.13", "column 'epoch' is '1.5'"),
        ("ckpt_epoch1_step200.pt,1,200,0.1,2,2,1,0.001,inf", "'huber_loss_delta' is infinite"),
        ("ckpt_epoch1_step200.pt,1,200,0.1,2,2,1,0.001", "8 values, expected 9"),
        ("ckpt_epoch1_step200.pt,1,200,0.1,2,2,1,0.001,38.13,7", "10 values, expected 9"),
    ],
)
def test_train_corrupted_row_names_file_and_line(tmp_path, bad, expected):
    run = _run(tmp_path)
    _write(run, GOOD, bad)
    with pytest.raises(ThetaError) as exc:
        csvlog.read_train_rows(run)
    msg = str(exc.value)
    assert msg.startswith(f"{run.train_csv}:3: ")
    assert expected in msg


def test_train_line_numbers_count_blank_lines(tmp_path):
    run = _run(tmp_path)
    _write(run, GOOD, "", "x,1,2,3")
    with pytest.raises(ThetaError, match=r"train_data\.csv:4: 4 values"):
        csvlog.read_train_rows(run)


def test_train_bad_header(tmp_path):
    run = _run(tmp_path)
    _write(run, GOOD, header="ckpt_name,epoch,step,loss,acc_mean,acc_median,acc_std,lr,delta")
    with pytest.raises(ThetaError) as exc:
        csvlog.read_train_rows(run)
    assert str(exc.value).startswith(f"{run.train_csv}:1: unexpected header")


def test_append_train_row_refuses_foreign_file(tmp_path):
    run = _run(tmp_path)
    run.train_csv.write_text("a,b\n1,2\n")
    with pytest.raises(ThetaError, match="header"):
        csvlog.append_train_row(run, _train_rows()[0])
    assert run.train_csv.read_text() == "a,b\n1,2\n"


def _byte_rows() -> list[ByteRow]:
    return [
        ByteRow("ckpt_epoch0_step100.pt", 0, 0, "chunk", None, (5.5, 1.25, 1.0, 7.0)),
        ByteRow("ckpt_epoch0_step100.pt", 1, 0, "stitched", 4.75, (0.1 + 0.2, 2.0, 3.0, 4.0)),
        ByteRow("ckpt_epoch1_step200.pt", 2, 1, "chunk", 3.0, (1.0, 1.0, 1.0, 9.5)),
    ]


def test_byte_round_trip(tmp_path):
    run = _run(tmp_path)
    assert csvlog.read_byte_rows(run) == []
    for row in _byte_rows():
        csvlog.append_byte_row(run, row)
    assert csvlog.read_byte_rows(run) == _byte_rows()
    lines = run.byte_csv.read_text().splitlines()
    assert lines[0] == ",".join(byte_csv_header(32))
    assert lines[1] == "ckpt_epoch0_step100.pt,0,0,chunk,,5.5,1.25,1.0,7.0"  # empty buckle_head


def test_byte_row_other_k_refused(tmp_path):
    run = _run(tmp_path)
    csvlog.append_byte_row(run, _byte_rows()[0])
    with pytest.raises(ThetaError, match="header"):
        csvlog.append_byte_row(run, ByteRow("c.pt", 1, 0, "chunk", 1.0, (1.0,) * 8))
    assert len(csvlog.read_byte_rows(run)) == 1


def _write_bytes_csv(run, *rows: str, header: str | None = None) -> None:
    head = header if header is not None else ",".join(byte_csv_header(32))
    run.byte_csv.write_text("\n".join([head, *rows]) + "\n")


BYTE_GOOD = "ckpt_epoch0_step100.pt,1,0,chunk,4.0,1,2,3,4"


@pytest.mark.parametrize(
    "bad,expected",
    [
        ("c.pt,1,0,chunk,4.0,1,oops,3,4", "column 'byte_2_mean' is 'oops'"),
        ("c.pt,1,0,chunk,head,1,2,3,4", "column 'buckle_head' is 'head'"),
        ("c.pt,one,0,chunk,4.0,1,2,3,4", "column 'Q1' is 'one'"),
        ("c.pt,1,0,chunk,4.0,1,2,3", "8 values, expected 9"),
        ("c.pt,1,0,chunk,4.0,1,2,3,-inf", "'byte_4_mean' is infinite"),
    ],
)
def test_byte_corrupted_row_names_file_and_line(tmp_path, bad, expected):
    run = _run(tmp_path)
    _write_bytes_csv(run, BYTE_GOOD, BYTE_GOOD, bad)
    with pytest.raises(ThetaError) as exc:
        csvlog.read_byte_rows(run)
    msg = str(exc.value)
    assert msg.startswith(f"{run.byte_csv}:4: ")
    assert expected in msg


@pytest.mark.parametrize(
    "header",
    [
        "ckpt_name,Q1,Q2,buckle_head,byte_1_mean,byte_2_mean,byte_3_mean,byte_4_mean",  # no mode
        "ckpt_name,Q1,Q2,mode,buckle_head",
        "ckpt_name,Q1,Q2,mode,buckle_head,byte_1_mean,byte_3_mean,byte_2_mean,byte_4_mean",
    ],
)
def test_byte_bad_header(tmp_path, header):
    run = _run(tmp_path)
    _write_bytes_csv(run, BYTE_GOOD, header=header)
    with pytest.raises(ThetaError) as exc:
        csvlog.read_byte_rows(run)
    assert str(exc.value).startswith(f"{run.byte_csv}:1: unexpected header")
