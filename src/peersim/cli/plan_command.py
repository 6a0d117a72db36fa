"""``peersim plan``: predicted outcomes, lever ranking and the cheapest plan for a new site."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from peersim.cli.ensemble_options import (
    EXIT_INTERRUPTED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    SchedulerOption,
)
from peersim.errors import PeersimInputError

if TYPE_CHECKING:
    from peersim.planning.workflow import PlanResult

PLAN_FILES = ("plan.md", "plan.json", "plans.csv", "ranking.csv", "prediction.csv", "outcomes.parquet")
"""Files ``peersim plan --out`` writes, besides the figures."""
FIGURES = {
    "engagement_rate": "frontier_engagement.png",
    "readmissions_averted_per_100": "frontier_readmissions.png",
}
"""Frontier figures ``--out`` writes, by the outcome drawn against cost."""


def plan_cmd(
    site: Annotated[
        Path,
        typer.Argument(
            help="One-site scenario TOML file in service mode (the site as drafted).", show_default=False
        ),
    ],
    costs: Annotated[
        Path | None,
        typer.Option(
            "--costs",
            "-c",
            help="Costs TOML: unit costs and the lever options a plan may use. "
            "Default: the packaged copy of scenarios/costs_default.toml.",
            show_default=False,
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget", "-b", help="Yearly budget in the costs file's currency.", show_default=False
        ),
    ] = None,
    targets: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="METRIC>=VALUE or METRIC<=VALUE to meet with probability >= 0.8 (repeatable), "
            "e.g. engagement_rate>=0.5 or readmissions_averted_per_100>=3.",
            show_default=False,
        ),
    ] = None,
    posterior: Annotated[
        Path | None,
        typer.Option(
            "--posterior",
            help="Posterior Parquet file from peersim calibrate: mechanism strengths drawn per replicate. "
            "Without it the scenario's point values are used.",
            show_default=False,
        ),
    ] = None,
    replicates: Annotated[
        int, typer.Option("--replicates", "-n", min=2, help="Replicates per confirmed plan.")
    ] = 40,
    screen: Annotated[
        int | None,
        typer.Option(
            "--screen-replicates",
            min=2,
            help="Replicates every plan of the grid is screened with. Default: a tenth of --replicates, "
            "at least 4.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Base seed, shared by every plan.")] = 0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Write exactly one JSON document to stdout instead of text.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for plan.md (report), plan.json, the frontier figures and tables.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files already in --out.")] = False,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Plan a new site: prediction, lever ranking and the cheapest plan meeting targets.

    Predicts engagement, fidelity and 12-month readmission for the site as
    given against the same people without peer support (common random
    numbers); ranks each lever of the costs file by gain per unit cost; and
    searches the lever grid for the cheapest plan meeting every --target with
    probability >= 0.8 within --budget. A budget below the cost of the site as
    given is reported as infeasible, with the cheapest alternative, and exits 2.
    """
    from peersim.cli.progress import progress_bar
    from peersim.executor import make_executor
    from peersim.planning.report import plan_json, text_summary
    from peersim.planning.workflow import plan, prepare

    inputs = prepare(site, costs, budget, targets or (), posterior, replicates, screen, seed)
    if out is not None:
        from peersim.output import OutputDirectory

        OutputDirectory(out, force=force).check([*PLAN_FILES, *FIGURES.values()])
    try:
        with make_executor(executor.value, jobs, scheduler) as pool:

            def progress(label: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
                return progress_bar(total, enabled=not json_output, label=label)

            result = plan(inputs, pool, progress)
    except KeyboardInterrupt:
        typer.echo("\npeersim: interrupted; nothing written", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    figures = list(FIGURES.values()) if out is not None else []
    document = plan_json(result, figures)
    if out is not None:
        _write_outputs(out, result, document)
    if json_output:
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    else:
        typer.echo(text_summary(result))
        if out is not None:
            typer.echo(f"\nwrote {', '.join([*PLAN_FILES, *FIGURES.values()])} to {out}")
    if result.current_over_budget:
        lines = document["search"]["answer"]
        raise PeersimInputError(f"--budget {inputs.budget:g}: " + " ".join(lines))


def _write_outputs(out: Path, result: PlanResult, document: dict[str, Any]) -> None:
    import numpy as np
    import pandas as pd

    from peersim.output import save_figure
    from peersim.planning.analysis import prediction_table
    from peersim.planning.figures import frontier_figure
    from peersim.planning.report import plan_markdown
    from peersim.results import package_version
    from peersim.runstore import atomic_write

    inputs = result.inputs
    out.mkdir(parents=True, exist_ok=True)
    stamp: dict[str, str | int] = {
        "scenario_hash": inputs.site.scenario.hash,
        "seed": inputs.seed,
        "version": package_version(),
    }
    plans = result.frontier.assign(**stamp)
    atomic_write(out / "plans.csv", plans.to_csv(index=False).encode())
    ranking = (
        pd.DataFrame(document["ranking"]["steps"])
        .drop(columns=["differences"], errors="ignore")
        .assign(**stamp)
    )
    atomic_write(out / "ranking.csv", ranking.to_csv(index=False).encode())
    prediction = prediction_table(result.prediction).assign(**stamp)
    atomic_write(out / "prediction.csv", prediction.to_csv(index=False).encode())
    long = []
    for index, frame in sorted(result.frames.items()):
        melted = frame.melt(id_vars=["replicate"], var_name="metric", value_name="value")
        melted.insert(0, "plan", index)
        long.append(melted)
    outcomes = pd.concat(long, ignore_index=True).assign(**stamp)
    outcomes["value"] = outcomes["value"].astype(np.float64)
    outcomes.to_parquet(out / "outcomes.parquet", index=False)
    atomic_write(out / "plan.json", (json.dumps(document, indent=2, allow_nan=False) + "\n").encode())
    targets = {t.metric: t.value for t in inputs.targets}
    for metric, name in FIGURES.items():
        figure = frontier_figure(
            result.frontier,
            metric,
            result.current,
            result.search.recommended,
            inputs.budget,
            targets.get(metric),
            inputs.costs.currency,
            title=f"{inputs.site.site.name}: yearly cost against {metric.replace('_', ' ')}",
        )
        save_figure(figure, out / name)
    command = "peersim plan " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else None
    atomic_write(out / "plan.md", plan_markdown(result, FIGURES, command).encode())
