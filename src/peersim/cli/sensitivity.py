"""``peersim sensitivity``: global sensitivity analysis of implementation factors (SALib)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from peersim.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_RUNS_FAILED,
    MAX_SEED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    JsonOption,
    SchedulerOption,
    backend,
    fail,
    flags,
    print_table,
    progress_for,
    warn,
)

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_OUTPUTS = "engagement_rate,fidelity_index,readmission_rate_intervention"


def command(
    factors: Annotated[
        Path | None,
        typer.Argument(
            help="Factors TOML file. Omit to use the embedded scenarios/factors_default.toml.",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="Scenario TOML file. Omit for the embedded ENRICH-like default."),
    ] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="sobol, morris or pawn.")] = "sobol",
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            help="Sobol': base samples (a power of 2; default 256). Morris: trajectories "
            "(default 40). PAWN: Latin hypercube points (default 1024).",
            show_default=False,
        ),
    ] = None,
    outputs: Annotated[
        str,
        typer.Option("--outputs", help="Comma-separated metrics (metric, or metric@site for one site)."),
    ] = DEFAULT_OUTPUTS,
    replicates: Annotated[
        int, typer.Option("--replicates", "-r", min=1, help="Replicates averaged at each point.")
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed.")] = 0,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    second_order: Annotated[
        bool,
        typer.Option("--second-order", help="Sobol': also estimate second-order indices (N(2D+2) points)."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for tables (CSV, Parquet), JSON and the figure."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow replacing peersim outputs already in --out.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Rank levers and mechanism strengths by their effect on outputs (Sobol', Morris or PAWN).

    A dummy factor that changes nothing but the random numbers is always added:
    factors whose total effect is not above its upper 95% bound are reported as
    non-influential. Replicates at each point are averaged on common random numbers.
    """
    where = backend(executor, jobs, scheduler)
    from peersim.core.scenario_files import default_scenario, load_scenario
    from peersim.sensitivity import (
        DEFAULT_N,
        METHODS,
        PeersimTarget,
        SensitivityRunError,
        check_n,
        default_factors,
        load_factors,
        run_sensitivity,
    )
    from peersim.sensitivity.workflow import check_out, sensitivity_workload

    if method not in METHODS:
        raise fail(f"--method: unknown method {method!r}; use one of {', '.join(METHODS)}")
    if second_order and method != "sobol":
        raise fail("--second-order applies to --method sobol only")
    asked = n if n is not None else DEFAULT_N[method]
    n_used, note = check_n(method, asked)
    spec = load_scenario(scenario) if scenario is not None else default_scenario()
    space = load_factors(factors, spec) if factors is not None else default_factors(spec)
    target = PeersimTarget(spec, space, [o for o in outputs.split(",") if o.strip()])
    work = sensitivity_workload(space, target, method, asked, replicates, second_order)
    check_out(out, method, force)
    if note:
        typer.echo(f"peersim: note: {note}", err=True)
    started = time.perf_counter()
    try:
        with where.start(work.seconds) as pool:
            if not json_output:
                typer.echo(f"peersim: {work.text(pool.workers)}", err=True)
            result = run_sensitivity(
                space,
                target,
                method=method,
                n=n_used,
                replicates=replicates,
                seed=seed,
                executor=pool,
                second_order=second_order,
                out=out,
                force=force,
                progress=progress_for(not json_output),
                title=f"peersim sensitivity: {spec.name}",
            )
    except SensitivityRunError as error:
        typer.echo(f"peersim: error: {error}", err=True)
        raise typer.Exit(EXIT_RUNS_FAILED) from None
    except KeyboardInterrupt:  # a second Ctrl-C while the workers stop: what finished is kept already
        typer.echo("\npeersim: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    elapsed = time.perf_counter() - started
    for message in result.warnings:
        warn(message)
    if json_output:
        document = result.to_json() | {"elapsed_seconds": round(elapsed, 3)}
        document["warnings"] = [flags(message) for message in document["warnings"]]
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    else:
        source = str(scenario) if scenario is not None else "embedded default"
        factors_source = str(factors) if factors is not None else "embedded factors_default.toml"
        typer.echo(
            f"peersim sensitivity: {method}, N = {result.design.n}, {len(space.factors)} factors + dummy "
            f"({factors_source}), scenario {spec.name} ({source}), {result.design.points} points x "
            f"{replicates} replicate(s) = {result.runs} runs, seed {seed}, {elapsed:.0f} s"
        )
        print_screening(result.analysis.indices, result.analysis.screening, result.analysis.diagnostics)
    if out is not None and not json_output:
        resumed = f" ({result.resumed} sample points resumed)" if result.resumed else ""
        typer.echo(f"\nwrote {len(result.written)} files to {out}{resumed}")


def print_screening(indices: pd.DataFrame, screening: pd.DataFrame, diagnostics: pd.DataFrame) -> None:
    """One table per output: indices with 95% half-widths, the dummy threshold and the screening."""
    import pandas as pd

    full = indices[indices["n"] == indices["n"].max()] if not indices.empty else indices
    for diag in diagnostics.itertuples():
        output, method = str(diag.output), str(diag.method)
        keys = {"sobol": ["S1", "ST"], "morris": ["mu_star", "sigma"], "pawn": ["pawn_median"]}[method]
        rows = full[full["output"] == output]
        table = screening[screening["output"] == output]
        lines = []
        for row in table.itertuples():
            line = {"factor": str(row.factor)}
            for key in keys:
                hit = rows[(rows["factor"] == row.factor) & (rows["index"] == key)]
                value, conf = float(hit["value"].iloc[0]), float(hit["conf"].iloc[0])
                line[key] = f"{value:.3f}" + (f" ± {conf:.3f}" if conf == conf else "")
            line["screening"] = (
                "threshold"
                if row.factor == "dummy"
                else ("influential" if row.influential else "non-influential")
            )
            lines.append(line)
        title = (
            f"{output}: noise share {diag.noise_share:.3f} of the variance across points; "
            f"dummy threshold {table['index'].iloc[0]} <= {diag.threshold:.3g}"
            + ("" if diag.settled else "; NOT SETTLED (see warnings)")
        )
        print_table(pd.DataFrame(lines, columns=["factor", *keys, "screening"]), title=title, right=keys)
