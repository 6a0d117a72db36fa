"""What every command shares: options, the translation of library messages into flags, output.

The library speaks in the terms of its Python API (`` `out` ``, `` `force=True` ``,
see :mod:`peersim.errors`); :func:`flags` rewrites those terms as the options a
user of the command line typed. Nothing here imports the library: ``peersim
--help`` must not wait for it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from peersim.ensemble.batches import ReplicateFailure
    from peersim.executor import Backend
    from peersim.io.estimates import Workload

EXIT_DONE = 0
"""Exit status when the command did what was asked."""
EXIT_RUNS_FAILED = 1
"""Exit status when some simulations raised (the others are reported and kept)."""
EXIT_BAD_INPUT = 2
"""Exit status for bad user input, found before any work (the same as for a bad option)."""
EXIT_NO_ANSWER = 3
"""Exit status when the inputs are valid but no answer satisfies them (no feasible plan)."""
EXIT_NOT_WRITTEN = 4
"""Exit status when the work finished but its outputs could not be written where asked."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells use."""

EXIT_CODES: dict[int, str] = {
    EXIT_DONE: "done",
    EXIT_RUNS_FAILED: "some replicates failed; the others are reported and kept",
    EXIT_BAD_INPUT: "bad input (a file, a key, a value or an option); nothing was run",
    EXIT_NO_ANSWER: "valid input, but no answer meets it (no plan within the budget and targets)",
    EXIT_NOT_WRITTEN: "finished, but the outputs could not be written where asked; "
    "the message says where they are",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); what had finished is kept, and the message says how to resume",
}
"""The one exit-code table of every command (also in the README; a test keeps them the same)."""

MAX_SEED = 2**63 - 1
"""Largest base seed (kept as a 64-bit integer in every table); equal to ``peersim.core.streams.MAX_SEED``."""

MIN_RUNS_FOR_BAR = 4
"""Work below this many units finishes too quickly for a progress bar to help."""

OPTION_NAMES: dict[str, str] = {
    "sets": "--set",
    "targets": "--target",
    "use_posterior=False": "--no-posterior",
    "screen_replicates": "--screen-replicates",
}
"""API terms whose option is not simply ``--`` and the name with hyphens."""

API_ARGUMENTS = frozenset(
    {
        "allow_design_change",
        "budget",
        "costs",
        "db",
        "draws",
        "executor",
        "force",
        "generations",
        "jobs",
        "kind",
        "max_boxes",
        "min_density",
        "method",
        "n",
        "out",
        "outputs",
        "population",
        "port",
        "posterior",
        "ppc_draws",
        "repair",
        "replicates",
        "scenario",
        "scheduler",
        "screen_replicates",
        "second_order",
        "seed",
        "sets",
        "targets",
        "use_posterior",
    }
)
"""Arguments of the Python API that library messages may name; each has a command-line option."""

_TERM = re.compile(r"`([a-z_]+)(?:=(True|False|\"[^\"`]*\"|[^`]*))?`")


def flags(message: str) -> str:
    """Rewrite the API terms of a library message as command-line options.

    ```out``` becomes ``--out``, ```force=True``` ``--force``, ```executor="dask"```
    ``--executor dask``; other text in backticks is left alone.
    """

    def option(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if name not in API_ARGUMENTS:
            return match.group(0)
        whole = f"{name}={value}" if value is not None else name
        if whole in OPTION_NAMES:
            return OPTION_NAMES[whole]
        flag = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
        if value is None or value == "True":
            return flag
        if value == "False":
            return "--no-" + flag.removeprefix("--")
        return f"{flag} {value.strip(chr(34))}"

    return _TERM.sub(option, message)


def fail(message: str) -> typer.Exit:
    """Print ``message`` to stderr as a peersim error and return the exit to raise."""
    typer.echo(f"peersim: error: {flags(message)}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


LONG_WORK_SECONDS = 10.0
"""Work estimated to take longer than this is announced before it starts."""


def announce(work: Workload, where: Backend) -> None:
    """Say on stderr how long the work will take where it runs, when that is long enough to matter."""
    from peersim.executor import local_workers

    workers = local_workers(where.jobs, work.seconds) if where.kind == "local" else where.jobs or 1
    if work.seconds / workers >= LONG_WORK_SECONDS:
        typer.echo(f"peersim: {work.text(workers)}", err=True)


def warn(message: str) -> None:
    """Print ``message`` to stderr as a peersim warning."""
    typer.echo(f"peersim: warning: {flags(message)}", err=True)


class ExecutorName(StrEnum):
    """Back ends a user can choose on the command line."""

    local = "local"
    dask = "dask"


JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Worker processes (local pool) or workers of a local Dask cluster. Default: every core "
        "when the work is long enough to pay for starting them, else this process.",
        show_default=False,
    ),
]
ExecutorOption = Annotated[
    ExecutorName,
    typer.Option(
        "--executor",
        help="local: a process pool on this machine; dask: a Dask cluster (see --scheduler).",
        case_sensitive=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Write exactly one JSON document to stdout instead of tables.")
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786. Without it --executor dask "
        "starts a LocalCluster on 127.0.0.1.",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a scenario key, e.g. low.supervisor_hours_per_week=10, "
        "mechanisms.rel_supervision=0.3, horizon.recruitment_weeks=20 (repeatable).",
        show_default=False,
    ),
]
PosteriorOption = Annotated[
    Path | None,
    typer.Option(
        "--posterior",
        help="Posterior file (Parquet) to draw mechanism strengths from, one weighted particle per "
        "replicate. Default: the shipped posterior calibrated to approximate published figures.",
        show_default=False,
    ),
]
RepairOption = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="Drop damaged parts of the run store(s) in --out and run their replicates again.",
    ),
]
NoPosteriorOption = Annotated[
    bool,
    typer.Option("--no-posterior", help="Use the scenario's point values of the mechanism strengths."),
]


def backend(
    executor: ExecutorName | str, jobs: int | None, scheduler: str | None, work_seconds: float | None = None
) -> Backend:
    """Where the command's work runs, as the options ask; a local pool's forkserver starts now.

    ``work_seconds`` estimates the serial work: without ``--jobs``, little work
    runs in this process and no forkserver is started.

    Raises
    ------
    peersim.errors.PeersimInputError
        For a scheduler without the Dask executor.
    """
    from peersim.executor import Backend, local_workers, warm_up

    kind = executor.value if isinstance(executor, ExecutorName) else executor
    where = Backend(kind, jobs, scheduler)  # type: ignore[arg-type]  # Backend checks the kind
    if where.kind == "local" and local_workers(jobs, work_seconds) > 1:
        warm_up()  # the workers' forkserver imports the model while this process reads its inputs
    return where


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield a callback that advances a bar on stderr by ``n`` units of work.

    The bar is drawn only when ``enabled``, stderr and stdout are terminals and
    ``total`` is at least :data:`MIN_RUNS_FOR_BAR`; it shows the time left.
    """
    show = enabled and total >= MIN_RUNS_FOR_BAR and sys.stderr.isatty() and sys.stdout.isatty()
    if not show:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def progress_for(enabled: bool) -> Callable[[str, int], Any]:
    """Return a progress display for the library's ``progress`` argument: a bar per phase if ``enabled``."""

    def make(label: str, total: int) -> Any:
        return progress_bar(label, total, enabled)

    return make


def print_table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    right: Sequence[str] = (),
) -> None:
    """Print a table on stdout with ``rich``, at its natural width when stdout is not a terminal.

    Parameters
    ----------
    frame
        The rows.
    columns
        Columns to show, in order (default: all).
    title
        Shown above the table.
    formats
        Text of a cell by column (default: ``str``; missing numbers as ``-``).
    right
        Columns aligned right (numbers).
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    shown = list(columns or frame.columns)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in shown:
        table.add_column(column, justify="right" if column in right else "left", no_wrap=True)
    cell = formats or {}
    for record in frame[shown].itertuples(index=False):
        table.add_row(*(cell.get(c, _plain)(v) for c, v in zip(shown, record, strict=True)))
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 10_000, highlight=False)
    console.print(table)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3f}"
    return str(value)


def describe_failures(failures: Sequence[ReplicateFailure], requested: int, where: str | None) -> str:
    """One paragraph for stderr: how many replicates failed and the first error."""
    first = failures[0]
    text = (
        f"peersim: {len(failures)} of {requested} replicate(s) failed; results cover the others. "
        f"First: replicate {first.replicate} (seed {first.seed}): {first.error}"
    )
    if where:
        text += f". Errors are recorded in {where}; run the same command again to retry them"
    return text
