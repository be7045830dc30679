"""theta demo: its directory rules, its packaged recipe, and (slow) the whole job and a wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_refused, invoke

from theta_cli import demo

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_recipe_is_the_example(tmp_path: Path) -> None:
    example = json.loads((ROOT / "examples" / "cpu-small.json").read_text())
    assert demo.recipe() == example


def test_demo_refuses_a_foreign_directory_and_a_previous_demo_without_force(
    theta_env: Path,
) -> None:
    mine = theta_env / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    assert_refused(invoke("demo", "--dir", mine, "--force"), "not a theta demo directory")
    assert (mine / "thesis.tex").read_text() == "precious"
    previous = theta_env / "d"
    demo.claim_dir(previous, force=False)
    (previous / "old.txt").write_text("x")
    assert_refused(invoke("demo", "--dir", previous), "previous demo", "--force")
    demo.claim_dir(previous, force=True)  # starts again, but old.txt is not the demo's: kept
    assert sorted(p.name for p in previous.iterdir()) == [demo.MARKER, "old.txt"]


@pytest.mark.slow
def test_the_whole_demo_runs(theta_env: Path) -> None:
    result = invoke("demo", "--dir", theta_env / "d")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "where everything is" in out and "cleaned track (GPX)" in out
    assert list((theta_env / "d" / "sample").glob("*_clean.gpx"))


@pytest.mark.slow
def test_the_wheel_holds_what_the_demo_needs(tmp_path: Path) -> None:
    """`pip install .` builds a wheel with the package data the demo reads."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "w"), str(ROOT)], check=True)  # fmt: skip
    wheel = next((tmp_path / "w").glob("theta_cli-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True)  # fmt: skip
    code = (
        "import theta_cli, theta_cli.cli\n"
        "from theta_cli import demo\n"
        "from theta_cli.artifact.resolve import builtin_dir\n"
        "print(theta_cli.__file__)\n"
        "print(demo.recipe()['hidden'])\n"
        "print((builtin_dir() / 'model.safetensors').stat().st_size > 1e6)\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)})
    where, hidden, has_builtin = got.stdout.split()
    assert where.startswith(str(target)) and hidden == "64", got.stderr
    assert has_builtin == "True", "the wheel ships the built-in model"
