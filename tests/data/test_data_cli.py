"""`theta data synth|prepare|check` through the CLI: the flow other tests rely on, and every
bad input ending as one line on stderr, exit 2, no traceback, nothing written."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import invoke

from theta_cli.commands import data as data_commands
from theta_cli.data.noise import NoiseModel
from theta_cli.data.prepare import PrepareOptions
from theta_cli.data.synth import SynthConfig

SYNTH = ("data", "synth", "--out", "raw", "--agents", "6", "--points", "400", "--files", "3",
         "--seed", "0")


def _one_error_line(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("theta: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def synth_raw(theta_env: Path) -> Path:
    result = invoke(*SYNTH)
    assert result.exit_code == 0, result.stderr
    return theta_env / "raw"


def test_synth_prepare_check_flow(synth_raw: Path, theta_env: Path) -> None:
    assert len(list(synth_raw.glob("*.parquet"))) == 3
    noise = json.loads((synth_raw / "noise_model.json").read_text())
    assert noise == NoiseModel().model_dump()
    result = invoke("data", "prepare", "--raw", "raw", "--out", "dataset", "--k", "32",
                    "--quick-val", "64")
    assert result.exit_code == 0, result.stderr
    for col in ("split", "agents", "chunks", "samples", "files", "train", "huber delta"):
        assert col in result.stdout
    ds = theta_env / "dataset"
    assert (ds / "state" / "huber_delta.json").is_file() and (ds / "quick_val.pt").is_file()
    for split in ("train", "val", "test"):
        assert list((ds / "processed" / split).glob("*.pt"))
    check = invoke("data", "check", "dataset")
    assert check.exit_code == 0, check.stderr
    assert "quick_val.pt" in check.stdout and "ok:" in check.stdout


def test_several_files_from_tiny_data(synth_raw: Path, theta_env: Path) -> None:
    result = _prepare("--files-per-split", "3", "--min-file-samples", "64")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (theta_env / "dataset" / "processed" / "train").iterdir())
    assert names == ["train_000.pt", "train_001.pt", "train_002.pt"]


def test_synth_options_reach_the_files(theta_env: Path) -> None:
    result = invoke("data", "synth", "--out", "r", "--agents", "2", "--points", "30", "--files",
                    "1", "--format", "csv", "--white-sigma", "1.5", "--drift-tau", "12",
                    "--center-lat", "10", "--center-lon", "20", "--radius", "0")
    assert result.exit_code == 0, result.stderr
    df = pd.read_csv(theta_env / "r" / "part-0000.csv")
    assert df["agent"].nunique() == 2 and len(df) == 60
    assert abs(df["latitude"].iloc[0] - 10) < 0.01 and abs(df["longitude"].iloc[0] - 20) < 0.01
    noise = json.loads((theta_env / "r" / "noise_model.json").read_text())
    assert noise["white_sigma"] == 1.5 and noise["drift_tau"] == 12


def test_cli_defaults_equal_engine_defaults() -> None:
    """CLI options and engine models both take their defaults from theta_cli.data.defaults."""
    def defaults(func) -> dict[str, object]:
        return {name: p.default.default for name, p in inspect.signature(func).parameters.items()}

    synth = defaults(data_commands.synth)
    for name, field in {**SynthConfig.model_fields, **NoiseModel.model_fields}.items():
        assert synth[name] == field.default, name
    prep = defaults(data_commands.prepare)
    opts = PrepareOptions()
    for name in ("k", "overlap", "repeats", "seed", "quick_val", "files_per_split",
                 "min_file_samples"):
        assert prep[name] == getattr(opts, name), name
    assert data_commands._parse_split(prep["split"]) == opts.split
    assert [str(r) for r in prep["raw"]] == ["dataset/raw"] and str(prep["out"]) == "dataset"
    assert str(synth["out"]) == "dataset/raw"


def test_help_lists_the_commands() -> None:
    result = invoke("data", "--help")
    assert result.exit_code == 0
    for name in ("synth", "prepare", "check"):
        assert name in result.stdout


def _prepare(*extra: str):
    return invoke("data", "prepare", "--raw", "raw", "--out", "dataset", "--k", "32", *extra)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


BAD_RAW = [
    ("missing columns", "x.csv", "agent,timestamp,longitude,latitude\na,1,2,3\n",
     ("x.csv", "missing column(s) longitude_n, latitude_n")),
    ("empty file", "x.csv", "", ("x.csv", "empty file")),
    ("header only", "x.csv", "agent,timestamp,longitude,latitude,longitude_n,latitude_n\n",
     ("x.csv", "no rows")),
    ("unreadable parquet", "x.parquet", "this is not parquet", ("x.parquet", "not a readable")),
    ("text coordinates", "x.csv",
     "agent,timestamp,longitude,latitude,longitude_n,latitude_n\na,1,east,3,4,5\n",
     ("x.csv", "'longitude' is not numeric")),
    ("latitude out of range", "x.csv",
     "agent,timestamp,longitude,latitude,longitude_n,latitude_n\na,1,2,95,4,5\n",
     ("x.csv", "'latitude' has 1 value(s) outside [-90, 90]")),
    ("no finite rows", "x.csv",
     "agent,timestamp,longitude,latitude,longitude_n,latitude_n\na,1,nan,3,4,5\nb,2,2,3,inf,5\n",
     ("raw", "no usable rows: all 2 rows")),
    ("bad timestamps", "x.csv",
     "agent,timestamp,longitude,latitude,longitude_n,latitude_n\na,noon,2,3,4,5\n",
     ("x.csv", "column 'timestamp'")),
]


@pytest.mark.parametrize(("label", "name", "text", "needles"), BAD_RAW,
                         ids=[b[0] for b in BAD_RAW])
def test_bad_raw_files(theta_env: Path, label: str, name: str, text: str, needles) -> None:
    _write(theta_env / "raw" / name, text)
    _one_error_line(_prepare(), *needles)
    assert not (theta_env / "dataset").exists()


def test_bad_file_among_good_ones_writes_nothing(synth_raw: Path, theta_env: Path) -> None:
    _write(synth_raw / "zz.csv", "agent,latitude\n")
    _one_error_line(_prepare(), "zz.csv", "missing column")
    assert not (theta_env / "dataset").exists()


def test_directory_without_raw_files(theta_env: Path) -> None:
    _write(theta_env / "raw" / "notes.txt", "hello")
    _one_error_line(_prepare(), "raw", "no raw files")
    _one_error_line(invoke("data", "prepare", "--raw", "nowhere"), "nowhere", "not found")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--k", "36"), ("--k", "36 is not a positive multiple of 8")),
        (("--k", "32", "--overlap", "32"), ("--overlap", "smaller than K=32")),
        (("--overlap", "-1"), ("--overlap",)),
        (("--split", "0.8,0.1"), ("--split", "three comma-separated")),
        (("--split", "0.8,0.3,0.1"), ("--split", "sum to 1.2")),
        (("--split", "a,b,c"), ("--split",)),
        (("--repeats", "0"), ("--repeats",)),
        (("--quick-val", "-5"), ("--quick-val",)),
        (("--files-per-split", "0"), ("--files-per-split",)),
        (("--min-file-samples", "0"), ("--min-file-samples",)),
        (("--k", "4096"), ("no agent has K=4096 fixes",)),
    ],
)
def test_bad_prepare_options(synth_raw: Path, theta_env: Path, args, needles) -> None:
    _one_error_line(invoke("data", "prepare", "--raw", "raw", "--out", "dataset", *args), *needles)
    assert not (theta_env / "dataset").exists()


def test_prepared_out_needs_force(synth_raw: Path, theta_env: Path) -> None:
    assert _prepare().exit_code == 0
    before = _tree(theta_env / "dataset")
    _one_error_line(_prepare(), "dataset", "already holds a prepared dataset", "--force")
    assert _tree(theta_env / "dataset") == before
    forced = _prepare("--force", "--seed", "9")
    assert forced.exit_code == 0, forced.stderr
    after = _tree(theta_env / "dataset")
    assert after.keys() == before.keys() and after != before


def test_raw_inside_the_replaced_outputs_is_refused(synth_raw: Path, theta_env: Path) -> None:
    synth_raw.rename(theta_env / "state")
    result = invoke("data", "prepare", "--raw", "state", "--out", ".", "--k", "32", "--force")
    _one_error_line(result, "--raw lies inside")
    assert (theta_env / "state" / "part-0000.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--files", "9", "--agents", "3"), ("--files", "must not exceed agents (3)")),
        (("--white-sigma", "-1"), ("--white-sigma", "greater than or equal to 0")),
        (("--outlier-min", "50", "--outlier-max", "10"), ("--outlier-max", "smaller than")),
        (("--format", "xlsx"), ("--format",)),
        (("--missing-rate", "0.9"), ("--missing-rate",)),
        (("--agents", "0"), ("--agents",)),
        (("--motion", "zigzag"), ("--motion", "curvy", "legs")),
    ],
)
def test_bad_synth_options(theta_env: Path, args, needles) -> None:
    _one_error_line(invoke("data", "synth", "--out", "raw", *args), *needles)
    assert not (theta_env / "raw").exists()


def test_synth_refuses_existing_raw_without_force(synth_raw: Path) -> None:
    before = _tree(synth_raw)
    _one_error_line(invoke(*SYNTH[:-2], "--seed", "1"), "raw", "already holds raw data", "--force")
    assert _tree(synth_raw) == before
    assert invoke(*SYNTH[:-2], "--seed", "1", "--force").exit_code == 0
    assert _tree(synth_raw) != before


def test_empty_val_split_warns_and_writes_no_quick_val(synth_raw: Path, theta_env: Path) -> None:
    result = _prepare("--split", "1,0,0")
    assert result.exit_code == 0, result.stderr
    assert "no quick_val.pt written" in result.stderr
    assert not (theta_env / "dataset" / "quick_val.pt").exists()
    assert not (theta_env / "dataset" / "processed" / "val").exists()


def test_quick_val_zero_says_why(synth_raw: Path, theta_env: Path) -> None:
    result = _prepare("--quick-val", "0")
    assert result.exit_code == 0, result.stderr
    assert "no quick_val.pt written: --quick-val 0" in result.stderr
    assert not (theta_env / "dataset" / "quick_val.pt").exists()


def test_raw_repeated_prepares_both_and_a_second_missing_one_is_named(
    synth_raw: Path, theta_env: Path
) -> None:
    more = invoke("data", "synth", "--out", "more", "--agents", "2", "--files", "1",
                  "--points", "60", "--sampling", "filled", "--first-agent", "100")  # fmt: skip
    assert more.exit_code == 0, more.stderr
    _one_error_line(invoke("data", "prepare", "--raw", "raw", "--raw", "gone", "--k", "32"),
                    "gone", "not found")  # fmt: skip
    assert not (theta_env / "dataset").exists()
    ok = invoke("data", "prepare", "--raw", "raw", "--raw", "more", "--k", "32")
    assert ok.exit_code == 0, ok.stderr
    manifest = json.loads((theta_env / "dataset" / "state" / "prepare.json").read_text())
    assert {Path(p).parent.name for p in manifest["raw_files"]} == {"raw", "more"}
    agents = [a for s in manifest["splits"].values() for a in s["agents"]]
    assert sum(a.endswith(("_0100", "_0101")) for a in agents) == 2
