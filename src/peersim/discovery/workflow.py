"""Scenario discovery end to end: inputs checked first, then the design, the runs, PRIM and the outputs.

Two ways in:

* :func:`discover`, for Python callers (the browser explorer): a site (a
  :class:`~peersim.core.scenario.Scenario` or a
  :class:`~peersim.planning.inputs.PlanningSite`), factors, a target and the
  sizes, and back comes a :class:`DiscoveryResult` whose ``boxes`` each have a
  ``coverage``, ``density``, ``n``, ``limits`` and ``sentence``;
  :func:`~peersim.discovery.report.discovery_json` turns it into JSON.
* :func:`prepare` then :func:`run_discovery`, for the command line: every
  input is read and checked (:class:`DiscoveryInputs`) and the output directory
  is checked (:func:`check_out`) before any pool starts, and
  :func:`discovery_workload` says how long the runs will take.

Nothing is kept if the runs are interrupted: Ctrl-C raises
:class:`~peersim.errors.Interrupted` (the command exits 130). The outputs are
written with :meth:`~peersim.io.files.OutputDirectory.write_all`, so a disk
that refuses them leaves them somewhere the error names.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.scenario import Scenario
from peersim.discovery.analysis import MAX_BOXES, MIN_DENSITY, Discovery, discover_boxes, prim_frame
from peersim.discovery.design import Design, check_n, make_design
from peersim.discovery.evaluate import OUTCOMES, evaluate
from peersim.discovery.inputs import (
    DEFAULT_TARGET,
    DUMMY,
    as_planning_site,
    categories_of,
    load_factors,
    load_site,
)
from peersim.discovery.report import discovery_json, write_discovery_outputs
from peersim.discovery.result import (
    DEFAULT_N,
    DEFAULT_REPLICATES,
    DISCOVERY_FILES,
    DiscoveryInputs,
    DiscoveryResult,
)
from peersim.errors import Interrupted, PeersimInputError, RunsFailedError
from peersim.executor import Backend, Executor, LocalExecutor, Progress, executor_for, no_progress
from peersim.io.estimates import Workload
from peersim.io.files import OutputDirectory
from peersim.io.provenance import package_version
from peersim.planning.inputs import PlanningSite, Target, parse_target
from peersim.sensitivity.inputs import FactorSpace
from peersim.simulation import estimated_seconds
from peersim.uncertainty import Posterior, resolve_posterior

__all__ = [
    "DEFAULT_N",
    "DEFAULT_REPLICATES",
    "MAX_RUNS",
    "TABLE_OUTCOMES",
    "DiscoveryInputs",
    "DiscoveryResult",
    "check_out",
    "discover",
    "discovery_json",
    "discovery_workload",
    "prepare",
    "run_discovery",
]

MAX_RUNS = 200_000
"""Most runs one discovery may make (design points x replicates).

Two hundred thousand runs of the example site take about 2.5 hours on one
core; PRIM then peels 200,000 rows in well under a minute. Every run's
outcomes are held in this process (:data:`BYTES_PER_RUN` each).
"""
MAX_REPLICATES = 1000
"""Most replicates per design point (more buys nothing PRIM can use: add design points instead)."""
BYTES_PER_RUN = 2000
"""Memory (bytes) this process holds per run: its outcomes (44 numbers), its row of the runs table and
PRIM's copies of it (an estimate, rounded up)."""

TABLE_OUTCOMES: tuple[str, ...] = (
    "participants",
    "engagement_rate",
    "fidelity_index",
    "unmet_demand",
    "readmission_rate_intervention",
    "readmission_rate_control",
    "readmissions_averted_per_100",
)
"""Outcomes written to the runs table for each run, besides the target's metric."""


def prepare(
    site: str | Path | Scenario | PlanningSite | None = None,
    factors: str | Path | FactorSpace | None = None,
    target: str | Target = DEFAULT_TARGET,
    n: int = DEFAULT_N,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    posterior: str | Path | Posterior | None = None,
    use_posterior: bool = True,
    min_density: float = MIN_DENSITY,
    max_boxes: int = MAX_BOXES,
) -> DiscoveryInputs:
    """Read and check every input of a discovery, before any simulation.

    Parameters
    ----------
    site
        One-site scenario file in service mode, a scenario or planning site;
        ``None`` for the packaged ``scenarios/new_site_example.toml``.
    factors
        Factors file or factor space; ``None`` for the packaged
        ``scenarios/discover_factors_default.toml``.
    target
        ``METRIC>=VALUE`` or ``METRIC<=VALUE``.
    n
        Design points, at least :data:`~peersim.discovery.design.MIN_N`.
    replicates
        Replicates per design point, 1 to :data:`MAX_REPLICATES`.
    seed
        Base seed (0 or more).
    posterior
        Posterior file (or posterior) to draw each run's mechanism strengths
        from; ``None`` for the shipped posterior, unless ``use_posterior`` is false.
    use_posterior
        ``False`` runs the site's point values of the mechanism strengths
        (``--no-posterior``); giving ``posterior`` as well is refused.
    min_density
        Smallest density of a box reported, in (0, 1].
    max_boxes
        Most boxes reported, 1 to 10.

    Raises
    ------
    PeersimInputError
        For any bad input, naming the file and key or the argument.
    """
    check_n(n)
    if not 1 <= replicates <= MAX_REPLICATES:
        raise PeersimInputError(f"`replicates` {replicates}: must be 1 to {MAX_REPLICATES}")
    if not 0.0 < min_density <= 1.0:
        raise PeersimInputError(f"`min_density` {min_density:g}: must lie in (0, 1]")
    if not 1 <= max_boxes <= 10:
        raise PeersimInputError(f"`max_boxes` {max_boxes}: must be 1 to 10")
    if seed < 0:
        raise PeersimInputError(f"`seed` {seed}: must be 0 or more")
    parsed = target if isinstance(target, Target) else parse_target(target)
    planning = load_site(site) if site is None or isinstance(site, (str, Path)) else as_planning_site(site)
    space = factors if isinstance(factors, FactorSpace) else load_factors(factors, planning)
    if isinstance(posterior, Posterior):
        if not use_posterior:
            raise PeersimInputError("`posterior` and `use_posterior=False` contradict each other; give one")
        chosen: Posterior | None = posterior
    else:
        chosen = resolve_posterior(posterior, use_posterior)
    if chosen is not None:
        chosen.check_against(planning.scenario)
    inputs = DiscoveryInputs(planning, space, parsed, n, replicates, seed, chosen, min_density, max_boxes)
    discovery_workload(inputs)
    return inputs


def discovery_workload(inputs: DiscoveryInputs) -> Workload:
    """Return the runs, serial seconds and memory of a discovery; refuse one beyond :data:`MAX_RUNS`.

    Raises
    ------
    PeersimInputError
        Naming ``n`` and ``replicates``, with the time and memory asked for.
    """
    runs = inputs.runs
    work = Workload(
        runs=runs,
        seconds=runs * estimated_seconds(inputs.site.scenario),
        memory=runs * BYTES_PER_RUN,
        what=f"at {inputs.n:,} design points",
    )
    if runs > MAX_RUNS:
        raise PeersimInputError(
            f"`n` {inputs.n:,} x `replicates` {inputs.replicates} asks for more than the {MAX_RUNS:,} runs "
            f"one discovery may make: {work.cost_text()}. Use a smaller `n` or fewer `replicates`"
        )
    return work


def check_out(out: Path | None, force: bool = False) -> OutputDirectory | None:
    """Return a discovery's output directory, checked; ``None`` without one.

    Raises
    ------
    PeersimInputError
        If ``out`` cannot be created or written, already holds a discovery's
        outputs, or holds other files, without ``force``.
    """
    return OutputDirectory.checked(out, DISCOVERY_FILES, force)


def discover(
    site: Scenario | PlanningSite | str | Path | None = None,
    factors: FactorSpace | str | Path | None = None,
    target: str | Target = DEFAULT_TARGET,
    n: int = DEFAULT_N,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    posterior: Posterior | None = None,
    executor: Executor | Backend | None = None,
    progress: Progress = no_progress,
    *,
    min_density: float = MIN_DENSITY,
    max_boxes: int = MAX_BOXES,
    out: Path | None = None,
    force: bool = False,
) -> DiscoveryResult:
    """Find the conditions under which a rollout misses its target (scenario discovery with PRIM).

    Parameters
    ----------
    site
        One site in service mode: a scenario, a planning site, or a scenario
        file; ``None`` for the packaged example site.
    factors
        The factors to sample (a factor space, or a factors file); ``None`` for
        the packaged default factors.
    target
        ``METRIC>=VALUE`` or ``METRIC<=VALUE``, or a parsed target.
    n
        Design points of the Latin hypercube.
    replicates
        Replicates per design point, each an independent run (its own seed and,
        with a posterior, its own particle).
    seed
        Base seed of the design and of every run; the same seed gives the same
        runs and boxes with any executor and number of workers.
    posterior
        Posterior to draw each run's mechanism strengths from
        (:func:`peersim.uncertainty.default_posterior` for the shipped one, as
        ``peersim discover`` uses by default); ``None`` runs the site's point values.
    executor
        Where the runs go: a running executor, a :class:`~peersim.executor.Backend`
        (started and closed here), or ``None`` for this process.
    progress
        Progress display of the design points (label ``"discover"``).
    min_density, max_boxes
        Box choice (see :mod:`peersim.discovery.analysis`).
    out
        Directory for ``discover.json``, ``runs.csv``, ``runs.parquet``,
        ``discover.png`` and ``discover.md``.
    force
        Replace a discovery's outputs already in ``out``, or write among other files.

    Returns
    -------
    DiscoveryResult
        With ``boxes``; :func:`discovery_json` gives its JSON document.

    Raises
    ------
    PeersimInputError
        For bad input, before any simulation.
    Interrupted
        On Ctrl-C (nothing is kept).
    """
    inputs = prepare(
        site,
        factors,
        target,
        n,
        replicates,
        seed,
        posterior,
        use_posterior=posterior is not None,
        min_density=min_density,
        max_boxes=max_boxes,
    )
    return run_discovery(inputs, executor, progress, out, force)


def run_discovery(
    inputs: DiscoveryInputs,
    executor: Executor | Backend | None = None,
    progress: Progress = no_progress,
    out: Path | None = None,
    force: bool = False,
) -> DiscoveryResult:
    """Sample the design, run it, find the boxes and write the outputs (see :func:`discover`).

    Raises
    ------
    PeersimInputError
        If ``out`` cannot be used (before any simulation).
    RunsFailedError
        If every run failed.
    Interrupted
        On Ctrl-C (nothing is kept).
    OutputsNotWritten
        If the outputs could not be written to ``out``; the message names where they were kept.
    """
    started = time.perf_counter()
    directory = check_out(out, force)
    work = discovery_workload(inputs)
    design = make_design(inputs.space, inputs.n, inputs.seed)
    done = [0]
    try:
        where = executor if executor is not None else LocalExecutor(1)
        with executor_for(where, work.seconds) as pool, progress("discover", design.n) as advance:

            def step(k: int) -> None:
                done[0] += k
                advance(k)

            values, failures = evaluate(inputs.site, design, inputs.replicates, pool, inputs.posterior, step)
    except KeyboardInterrupt:
        raise Interrupted(
            0,
            design.n,
            "design point(s)",
            f"{done[0]} had finished; a discovery keeps nothing when stopped: run it again, "
            "perhaps with a smaller `n`",
        ) from None
    table = runs_table(inputs, design, values, failures)
    finished = ~table["failed"].to_numpy()
    if not finished.any():
        first = failures[min(failures)]
        raise RunsFailedError(f"every one of the {len(table)} runs failed; first: {first}")
    kept = np.flatnonzero(finished)
    points = table["point"].to_numpy()[kept]
    x = prim_frame(inputs.space, design.values[points], table[DUMMY].to_numpy()[kept])
    miss = ~table["met"].to_numpy()[kept]
    found = discover_boxes(inputs.space, x, miss, inputs.target, inputs.min_density, inputs.max_boxes)
    boxes = tuple(replace(box, rows=kept[box.rows]) for box in found.boxes)
    in_box = np.zeros(len(table), dtype=np.int64)
    for box in boxes:
        in_box[box.rows] = box.index
    table["box"] = in_box
    result = DiscoveryResult(
        inputs=inputs,
        design=design,
        table=table,
        boxes=boxes,
        unchosen=found.unchosen,
        notes=_notes(found, failures, len(table)),
        warnings=found.warnings,
        failures=failures,
        seconds=time.perf_counter() - started,
        stamp=_stamp(inputs),
    )
    if directory is None:
        return result
    written = directory.write_all(lambda target: write_discovery_outputs(target, result))
    return replace(result, written=tuple(written))


def runs_table(
    inputs: DiscoveryInputs, design: Design, values: np.ndarray, failures: dict[tuple[int, int], str]
) -> pd.DataFrame:
    """One row per run (see :attr:`DiscoveryResult.table`), without the ``box`` column."""
    n, replicates = design.n, inputs.replicates
    point = np.repeat(np.arange(n), replicates)
    replicate = np.tile(np.arange(replicates), n)
    flat = values.reshape(n * replicates, len(OUTCOMES))
    columns: dict[str, Any] = {"point": point, "replicate": replicate}
    for j, factor in enumerate(inputs.space.factors):
        applied = design.values[point, j]
        levels = categories_of(factor)
        if levels is not None:
            columns[factor.label] = np.array(levels, dtype=object)[applied.astype(int)]
        elif factor.kind == "integer":
            columns[factor.label] = applied.astype(np.int64)
        else:
            columns[factor.label] = applied
    columns[DUMMY] = design.dummy[point]
    metric = inputs.target.metric
    for name in dict.fromkeys((*TABLE_OUTCOMES, metric)):
        columns[name] = _outcome(flat, name, inputs.site)
    failed = np.array([(int(i), int(r)) in failures for i, r in zip(point, replicate, strict=True)])
    columns["met"] = inputs.target.met(columns[metric]) & ~failed
    columns["failed"] = failed
    return pd.DataFrame(columns)


def _outcome(flat: np.ndarray, name: str, site: PlanningSite) -> np.ndarray:
    """One outcome of every run; ``readmissions_averted_per_year`` scales the recruitment window to a year."""
    if name == "readmissions_averted_per_year":
        return flat[:, OUTCOMES.index("readmissions_averted")] * site.year_scale
    return flat[:, OUTCOMES.index(name)].copy()


def _notes(found: Discovery, failures: dict[tuple[int, int], str], runs: int) -> tuple[str, ...]:
    notes = list(found.notes)
    if failures:
        first = failures[min(failures)].splitlines()[0]
        notes.append(f"{len(failures)} of {runs} runs failed and are left out of PRIM; first: {first}")
    return tuple(notes)


def _stamp(inputs: DiscoveryInputs) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "site": inputs.site.site.name,
        "scenario": inputs.site.scenario.name,
        "scenario_hash": inputs.site.scenario.hash,
        "site_source": inputs.site.source,
        "factors_source": inputs.space.source,
        "factors_hash": inputs.space.text_hash,
        "version": package_version(),
        "ema_workbench_version": version("ema_workbench"),
    }
