"""``peersim plan``: predicted outcomes, lever ranking and the cheapest plan for a new site."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from peersim.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NO_ANSWER,
    MAX_SEED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    NoPosteriorOption,
    PosteriorOption,
    SchedulerOption,
    backend,
    flags,
    print_table,
    progress_for,
    warn,
)

if TYPE_CHECKING:
    from peersim.planning.workflow import PlanResult


def command(
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
            "--budget",
            "-b",
            help="Yearly budget in the costs file's currency (over several service years: the mean year).",
            show_default=False,
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
    posterior: PosteriorOption = None,
    no_posterior: NoPosteriorOption = False,
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
    seed: Annotated[
        int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed, shared by every plan.")
    ] = 0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Write exactly one JSON document to stdout instead of text.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for report.html (one self-contained page to send or print), plan.md (the same "
            "in Markdown), plan.json, the frontier figures and tables.",
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
    probability >= 0.8 within --budget. By default each replicate draws its
    mechanism strengths from the shipped posterior (one weighted particle,
    shared by every plan of the replicate), so intervals and chances carry
    parameter uncertainty as well as noise. When no plan of the grid meets the
    targets within the budget (a budget below the cheapest plan included), the
    outputs are still written and the command exits 3 with the reason. With
    --out, finished runs are kept as they finish: after Ctrl-C, the same
    command resumes.
    """
    where = backend(executor, jobs, scheduler)
    # The library (pandas, the model) is imported only when the command runs: `peersim --help` stays fast.
    from peersim.planning.report import PLAN_FIGURES, PLAN_OUTPUTS, no_answer, plan_json
    from peersim.planning.workflow import check_out, plan, plan_workload, prepare

    use_posterior = not no_posterior
    inputs = prepare(
        site, costs, budget, targets or (), posterior, replicates, screen, seed, use_posterior=use_posterior
    )
    check_out(out, force)
    work = plan_workload(inputs)
    try:
        with where.start(work.seconds) as pool:
            if not json_output:
                typer.echo(f"peersim: {work.text(pool.workers)}", err=True)
            result = plan(inputs, pool, progress_for(not json_output), out, force, command_line())
    except KeyboardInterrupt:  # a second Ctrl-C while the workers stop: what finished is kept already
        typer.echo("\npeersim: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if json_output:
        document = plan_json(result, list(PLAN_FIGURES.values()) if out is not None else [])
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    else:
        print_summary(result)
        if out is not None:
            typer.echo(f"\nwrote {', '.join(PLAN_OUTPUTS)} to {out}")
    reason = no_answer(result)
    if reason is not None:
        typer.echo(f"peersim: no answer: {flags(reason)}", err=True)
        raise typer.Exit(EXIT_NO_ANSWER)
    if result.current_over_budget:
        warn(
            f"`budget` {inputs.budget:g}: the site as given is over budget; the answer gives a plan that fits"
        )


def command_line() -> str | None:
    """Return the ``peersim plan`` command as typed (shell-quoted) for the report; ``None`` if bare."""
    return "peersim plan " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else None


def posterior_text(result: PlanResult) -> str:
    """Say where the mechanism strengths of the plan came from (the posterior, or the point values)."""
    posterior = result.inputs.posterior
    if posterior is None:
        return "no posterior (--no-posterior): mechanism strengths at the scenario's point values"
    return (
        f"mechanism strengths drawn from {posterior.source} ({posterior.n} particles, effective sample "
        f"size {posterior.effective_sample_size:.0f}), one particle per replicate"
    )


def print_summary(result: PlanResult) -> None:
    """Print the plan for the terminal: what ran, the answer, the prediction and the lever ranking."""
    # Heavy (pandas) and the library: imported only when a plan has run, as in `command`.
    import pandas as pd

    from peersim.io.templates import money, signed
    from peersim.planning.analysis import GAIN_PER
    from peersim.planning.report import PREDICTION_INTERVAL, answer_lines, lever_text, metric_text

    inputs = result.inputs
    cur = inputs.costs.currency
    typer.echo(
        f"peersim plan: {inputs.site.site.name} ({inputs.site.source}); costs {inputs.costs.source}; "
        f"{inputs.replicates} replicates (screen {inputs.screen_replicates}), seed {inputs.seed}; "
        f"{len(result.plans)} plans; {result.runs} runs in {result.seconds:.1f} s"
        + (f" ({result.resumed} resumed from --out)" if result.resumed else "")
    )
    typer.echo(posterior_text(result))
    typer.echo("")
    for line in answer_lines(result):
        typer.echo(line)
    typer.echo("")
    rows = [
        {
            "metric": row.metric,
            "mean": metric_text(row.metric, row.mean, cur),
            "range": f"[{metric_text(row.metric, row.lo, cur)}, {metric_text(row.metric, row.hi, cur)}]",
            "ci": f"[{metric_text(row.metric, row.ci_lo, cur)}, {metric_text(row.metric, row.ci_hi, cur)}]",
        }
        for row in result.prediction
    ]
    effect = result.cost_effect
    upper = money(effect.hi, cur) if effect.hi is not None else "unbounded"
    rows.append(
        {
            "metric": "cost_per_readmission_averted",
            "mean": money(effect.value, cur),
            "range": "",
            "ci": f"[{money(effect.lo, cur)}, {upper}]",
        }
    )
    # Titles are echoed, not given to the table, which would wrap them at its own width.
    typer.echo(f"Prediction for the site as given ({PREDICTION_INTERVAL}):")
    print_table(pd.DataFrame(rows), right=["mean"])
    typer.echo("")

    per = f"per {money(GAIN_PER, cur)}"
    steps = []
    rank = 0
    for step in result.ranking.steps:
        per_cost = "no added resourcing cost"
        if step.ranked:
            rank += 1
            per_cost = f"{signed(step.per_10k)} [{signed(step.per_10k_lo)}, {signed(step.per_10k_hi)}]"
        steps.append(
            {
                "rank": f"{rank}." if step.ranked else "-",
                "step": f"{step.label} {lever_text(step.before)} -> {lever_text(step.after)}",
                "gain": f"{signed(step.gain)} [{signed(step.gain_lo)}, {signed(step.gain_hi)}]",
                "cost": money(step.delta_cost, cur),
                per: per_cost,
            }
        )
    typer.echo(f"Lever ranking: gain in {result.ranking.metric} {per} of added yearly cost:")
    print_table(
        pd.DataFrame(steps, columns=["rank", "step", "gain", "cost", per]),
        right=["rank", "gain", "cost", per],
    )
    print_years(result)
    if result.failures:
        typer.echo(f"\n{len(result.failures)} replicate(s) failed; see the JSON 'failures'.")


def print_years(result: PlanResult) -> None:
    """Print the chosen plan's cost per readmission averted by service year, with several years."""
    import pandas as pd

    from peersim.io.templates import money, number
    from peersim.planning.report import year_records

    role, index = result.chosen
    records = year_records(result, index)
    if len(records) < 2:
        return
    cur = result.inputs.costs.currency

    def effect(values: dict[str, float | None]) -> str:
        if values["value"] is None:
            return "-"
        upper = money(values["hi"], cur) if values["hi"] is not None else "unbounded"
        return f"{money(values['value'], cur)} [{money(values['lo'], cur)}, {upper}]"

    rows = [
        {
            "year": str(r["year"]),
            "averted": number(r["readmissions_averted"], 1),
            "cost": money(r["cost"], cur),
            "per readmission averted": effect(r["cost_per_readmission_averted"]),
            "to date": effect(r["cumulative"]["cost_per_readmission_averted"]),
        }
        for r in records
    ]
    plan = "the site as given" if index == result.current else f"{role.replace('_', ' ')} plan"
    typer.echo(f"\nCost per readmission averted by service year, {plan} (95% intervals; see plan.md):")
    print_table(pd.DataFrame(rows), right=["year", "averted", "cost", "per readmission averted", "to date"])
