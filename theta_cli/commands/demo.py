"""`theta demo`: the whole job end to end on built-in defaults (see ``theta_cli.demo``)."""

from __future__ import annotations

from pathlib import Path

import typer

from theta_cli.core import logs
from theta_cli.core.errors import EXIT_INTERRUPTED
from theta_cli.engine.interrupt import Interrupted


def demo(
    dir_: Path = typer.Option(Path("theta-demo"), "--dir", help="Directory for everything."),
    force: bool = typer.Option(
        False, "--force", help="Start again over a previous demo (removes only files it wrote)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads for training [default: torch's, one per "
        "core].", show_default=False,
    ),
) -> None:
    """Synthesize, prepare, train, evaluate, bench and denoise: the whole job in ~5 minutes.

    Example: theta demo --dir theta-demo
    """
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    from theta_cli import demo as engine

    con = logs.console
    total = [0]  # the demo's steps, plus the last screen: numbered as one sequence

    def step(i: int, n: int, what: str) -> None:
        total[0] = n + 1
        con.print(Rule(f"[{i}/{n + 1}] {what}", align="left", style="cyan"))

    def done(i: int, what: str, seconds: float) -> None:
        con.print(Text.assemble(("done", "green"), f" [{i}] {what} in {seconds:.1f} s"))

    try:
        result = engine.run_demo(dir_, force, step, done, threads=threads)
    except Interrupted:
        # Ctrl-C in training took training's own path (as in theta new): a checkpoint is saved
        # and the resume command was the last line shown.
        raise typer.Exit(EXIT_INTERRUPTED) from None
    n = total[0] or len(result.steps) + 1
    con.print(Rule(f"[{n}/{n}] where everything is", align="left", style="cyan"))
    times = Table(title="steps", title_justify="left", show_edge=False)
    times.add_column("step")
    times.add_column("seconds", justify="right")
    for what, seconds in result.steps:
        times.add_row(what, f"{seconds:.1f}")
    times.add_row("total", f"{sum(s for _, s in result.steps):.1f}", style="bold")
    con.print(times)
    if result.bench is not None:
        from theta_cli.eval import bench

        for renderable in bench.render(result.bench):
            con.print(renderable, soft_wrap=False)
    # The last screen: the bench table above, then where the charts and the cleaned track are.
    paths = Table(title="where everything is", title_justify="left", show_header=False,
                  show_edge=False, box=None, padding=(0, 2))
    paths.add_column(no_wrap=True)
    paths.add_column(overflow="fold")  # a path is worth more whole than cut
    for what, path in result.paths.items():
        paths.add_row(what, str(path))
    con.print(paths, soft_wrap=False)
    for line in next_commands(dir_):
        con.print(line, soft_wrap=True)


def next_commands(dir_: Path) -> list[str]:
    """What to type next: activate the virtualenv when `theta` is not on PATH, then look at the
    demo's run."""
    import shutil
    import sys

    lines = ["next:"]
    activate = Path(sys.prefix) / "bin" / "activate"
    if shutil.which("theta") is None and activate.is_file():
        lines.append(f"  . {activate}")
    lines.append(f"  theta --models-dir {dir_ / 'models'} info")
    return lines


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
