"""theta demo --force removes only the files a previous demo recorded writing; everything else
stays, and a marker without that record (an older demo, or one made by hand) removes nothing.

The demo's steps are replaced by fast fakes that write files where the real steps do."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from conftest import assert_refused, invoke

from theta_cli import demo
from theta_cli.core.layout import RunLayout

_runs = itertools.count(1)


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fake writes what its real step writes (a new run directory per demo)."""

    def write(path: Path, text: str = "x") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def train(root: Path, data: object, result: demo.DemoResult) -> None:
        run = root / "models" / f"mlp_{next(_runs)}"
        write(run / "ckpt" / "ckpt_epoch0_step4.pt")
        write(run / "log" / "train_data.csv", "ckpt_name\n")
        result.run = RunLayout(run)

    assert hasattr(demo, "_synth") and hasattr(demo, "_denoise_sample")
    monkeypatch.setattr(demo, "_synth", lambda raw: write(raw / "part-0000.csv"))
    monkeypatch.setattr(demo, "_prepare", lambda raw, data: (
        write(data.root / "processed" / "train" / "part-0.pt"),
        write(data.root / "state" / "prepare.json", "{}"),
    ))  # fmt: skip
    monkeypatch.setattr(demo, "_train", train)
    monkeypatch.setattr(demo, "_eval_bytes", lambda r: write(r.run.log_dir / "byte_wise_err.csv"))
    monkeypatch.setattr(demo, "_bench", lambda r: write(r.run.log_dir / "bench.csv"))
    monkeypatch.setattr(demo, "_denoise_sample", lambda root, data, r: (
        write(root / "sample" / "agent_0.csv"), write(root / "sample" / "agent_0_clean.gpx"),
    ))  # fmt: skip


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def _ok(*args: object) -> str:
    result = invoke("demo", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout + result.stderr


def test_force_keeps_what_the_demo_did_not_write(theta_env: Path, fake_steps: None) -> None:
    d = theta_env / "theta-demo"
    _ok("--dir", d)
    old_run = next((d / "models").iterdir())
    (d / "my_analysis.ipynb").write_text("{}")
    (d / "sample" / "my_ride.gpx").write_text("<gpx/>")
    (old_run / "my.txt").write_text("mine")  # inside a directory the demo created
    with (old_run / "log" / "train_data.csv").open("a") as f:  # a demo file changed since
        f.write("edited by hand\n")
    out = _ok("--dir", d, "--force")
    assert (
        f"kept 4 files theta demo did not write: models/{old_run.name}/log/train_data.csv, "
        f"models/{old_run.name}/my.txt, my_analysis.ipynb, sample/my_ride.gpx"
    ) in " ".join(out.split())
    files = _files(d)
    assert files["my_analysis.ipynb"] == "{}" and files["sample/my_ride.gpx"] == "<gpx/>"
    assert files[f"models/{old_run.name}/my.txt"] == "mine"
    assert files[f"models/{old_run.name}/log/train_data.csv"].endswith("edited by hand\n")
    assert not (old_run / "ckpt").exists()  # the old run's own files and empty dirs are gone
    assert len([p for p in (d / "models").iterdir()]) == 2  # the old run (kept files), the new
    # The kept files were there before this demo: a third --force still keeps them.
    out = _ok("--dir", d, "--force")
    assert "kept 4 files theta demo did not write" in out
    now = _files(d)
    for name in ("my_analysis.ipynb", "sample/my_ride.gpx", f"models/{old_run.name}/my.txt",
                 f"models/{old_run.name}/log/train_data.csv"):
        assert now[name] == files[name]
    assert len(list((d / "models").iterdir())) == 2  # the second demo's run is gone


def test_force_cleans_a_whole_previous_demo(theta_env: Path, fake_steps: None) -> None:
    d = theta_env / "d"
    _ok("--dir", d)
    first = set(_files(d))
    out = _ok("--dir", d, "--force")
    assert "kept" not in out
    assert len(list((d / "models").iterdir())) == 1  # the old run is gone entirely
    assert len(_files(d)) == len(first)


def test_force_refuses_a_user_file_among_the_dataset(theta_env: Path, fake_steps: None) -> None:
    # The new demo rebuilds dataset/ and would read (or refuse) a foreign raw file there.
    d = theta_env / "d"
    _ok("--dir", d)
    (d / "dataset" / "raw" / "notes.csv").write_text("mine")
    before = _files(d)
    assert_refused(invoke("demo", "--dir", d, "--force"), "dataset/raw/notes.csv")
    assert _files(d) == before


@pytest.mark.parametrize("marker", ["x\n", "made by theta demo\n", "{}", '{"files": 3}'])
def test_marker_without_manifest_removes_nothing(
    theta_env: Path, fake_steps: None, marker: str
) -> None:
    """The issue's first repro: a hand-made (or an older theta's) marker beside user files."""
    d = theta_env / "theta-demo"
    (d / "sample").mkdir(parents=True)
    (d / demo.MARKER).write_text(marker)
    (d / "my_analysis.ipynb").write_text("{}")
    (d / "sample" / "my_ride.gpx").write_text("<gpx/>")
    before = _files(d)
    assert_refused(invoke("demo", "--force"), "theta-demo", "no record")
    assert _files(d) == before


def test_dot_inside_an_old_demo_removes_nothing(
    theta_env: Path, fake_steps: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second repro: ``theta demo --dir . --force`` inside a demo made by an older theta."""
    d = theta_env / "old"
    for name in ("dataset/raw/part-0000.csv", "models/mlp_x/config.json", "notes.md"):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text("old")
    (d / demo.MARKER).write_text("made by theta demo\n")
    monkeypatch.chdir(d)
    before = _files(d)
    assert_refused(invoke("demo", "--dir", ".", "--force"), "no record")
    assert _files(d) == before


def test_home_with_a_marker_keeps_everything_else(
    theta_env: Path, fake_steps: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third repro: a home directory that holds the marker, thesis.tex and .bashrc."""
    home = theta_env / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / demo.MARKER).write_text("made by theta demo\n")
    (home / "thesis.tex").write_text("precious")
    (home / ".bashrc").write_text("alias ll='ls -l'")
    before = _files(home)
    assert_refused(invoke("demo", "--dir", Path.home(), "--force"), "no record")
    assert _files(home) == before
    # A demo that theta did record in the (then empty) home: --force removes only its files.
    (home / demo.MARKER).unlink()
    for name in before:
        if name != demo.MARKER:
            (home / name).unlink()
    _ok("--dir", home)
    (home / "thesis.tex").write_text("precious")
    (home / ".bashrc").write_text("alias ll='ls -l'")
    out = _ok("--dir", home, "--force")
    assert "kept 2 files theta demo did not write: .bashrc, thesis.tex" in " ".join(out.split())
    assert (home / "thesis.tex").read_text() == "precious"
    assert (home / ".bashrc").read_text() == "alias ll='ls -l'"


def test_manifest_entries_outside_the_directory_are_never_removed(
    theta_env: Path, fake_steps: None
) -> None:
    d = theta_env / "d"
    _ok("--dir", d)
    outside = theta_env / "outside.txt"
    outside.write_text("mine")
    manifest = json.loads((d / demo.MARKER).read_text())
    st = outside.stat()
    manifest["files"]["../outside.txt"] = [st.st_size, st.st_mtime_ns]
    manifest["files"][str(outside)] = [st.st_size, st.st_mtime_ns]
    (d / demo.MARKER).write_text(json.dumps(manifest))
    _ok("--dir", d, "--force")
    assert outside.read_text() == "mine"
