"""Options shared by commands that run ensembles, and the loop that runs them.

``--jobs``, ``--executor``, ``--scheduler`` and ``--set`` mean the same in every
command; :func:`execute` starts the executor, shows progress and turns Ctrl-C
into a clean exit that leaves every store resumable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from peersim.api import run
from peersim.ensemble import EnsembleJob, EnsembleReport, ReplicateFailure, Runner, run_ensembles
from peersim.executor import make_executor
from peersim.scenario import Scenario

EXIT_RUNS_FAILED = 1
"""Exit status when some replicates raised (the others are reported)."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells use."""


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
        help="Worker processes (local pool) or workers of a local Dask cluster. Default: CPU cores.",
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


def execute(
    jobs: Sequence[EnsembleJob],
    seed: int,
    replicates: int,
    executor: ExecutorName,
    workers: int | None,
    scheduler: str | None,
    show_progress: bool,
    label: str,
    resume_hint: str | None = None,
    runner: Runner = run,
) -> list[EnsembleReport]:
    """Run the replicates each job lacks, with a progress bar, and return the reports.

    No executor is started when every sink already holds all replicates. On
    Ctrl-C the workers are stopped, what finished is kept, and the command exits
    with :data:`EXIT_INTERRUPTED` after saying how to resume.
    """
    from peersim.cli.progress import progress_bar

    pending = sum(len(set(range(replicates)) - job.sink.completed()) for job in jobs)
    if pending == 0:
        return [EnsembleReport(replicates, skipped=replicates) for _ in jobs]
    try:
        with (
            make_executor(executor.value, workers, scheduler) as pool,
            progress_bar(pending, enabled=show_progress, label=label) as advance,
        ):

            def progress(n: int) -> None:
                for _ in range(n):
                    advance(0)

            return run_ensembles(jobs, seed, replicates, pool, on_progress=progress, runner=runner)
    except KeyboardInterrupt:
        held = min(len(set(range(replicates)) & job.sink.completed()) for job in jobs)
        typer.echo(
            f"\npeersim: interrupted; {held} of {replicates} replicate(s) kept"
            + (f". {resume_hint}" if resume_hint else ""),
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


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


PosteriorOption = Annotated[
    Path | None,
    typer.Option(
        "--posterior",
        help="Posterior file (Parquet) to draw mechanism strengths from, one weighted particle per "
        "replicate. Default: the shipped posterior calibrated to approximate published figures.",
        show_default=False,
    ),
]
NoPosteriorOption = Annotated[
    bool,
    typer.Option("--no-posterior", help="Use the scenario's point values of the mechanism strengths."),
]


@dataclass(frozen=True)
class PosteriorChoice:
    """How replicates get their mechanism strengths: a runner and its description."""

    runner: Runner
    description: dict[str, Any] | None
    fingerprint: str | None


def choose_posterior(path: Path | None, no_posterior: bool, scenarios: Sequence[Scenario]) -> PosteriorChoice:
    """Resolve ``--posterior`` / ``--no-posterior`` and check the posterior fits every scenario.

    Raises
    ------
    peersim.errors.PeersimInputError
        For a missing or malformed posterior file, both options together, or a
        posterior whose parameters do not match the scenarios.
    """
    from peersim.calibration.posterior import PosteriorRunner, resolve_posterior

    chosen = resolve_posterior(path, use_posterior=not no_posterior)
    if chosen is None:
        return PosteriorChoice(run, None, None)
    for scenario in scenarios:
        chosen.check_against(scenario)
    description = chosen.describe(scenarios[0]) if scenarios else chosen.describe()
    fingerprint = description.get("fingerprint") or chosen.source
    return PosteriorChoice(PosteriorRunner(chosen), description, str(fingerprint))
