"""Planning a new site end to end: inputs checked first, then prediction, ranking and search.

:func:`prepare` reads and checks everything (site, costs, levers, targets,
budget, posterior: the shipped one unless another is given or none is asked
for; replicate counts, within :data:`MAX_REPLICATES` and
:data:`MAX_SCREEN_RUNS`) before any simulation, so bad input fails in well
under a second; :func:`plan_workload` says how long the screen will take.
:func:`plan` then checks its output directory (:func:`check_out`) and runs, on
one executor, through a :class:`PlanEvaluator`:

1. the site as given and each lever step at the full replicate count, and
   every other plan of the grid at the screening count (one pass);
2. the confirmation stage of the search (:func:`peersim.planning.search.search`).

With ``out``, every finished replicate is kept in ``out/checkpoint/``
(:mod:`peersim.planning.resume`): Ctrl-C raises
:class:`~peersim.errors.Interrupted` saying what was kept, and running again
resumes with the same answer. The report and tables
(:mod:`peersim.planning.report`) are written with
:meth:`~peersim.io.files.OutputDirectory.write_all`, so a disk that refuses them
leaves them somewhere the error names.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from peersim.errors import Interrupted, PeersimInputError, ScenarioError
from peersim.executor import Executor, Progress, no_progress
from peersim.io.checkpoint import CHECKPOINT
from peersim.io.estimates import Workload, duration_text
from peersim.io.files import OutputDirectory
from peersim.planning.analysis import (
    PlanStats,
    cost_per_readmission_averted,
    frontier_table,
    group_outcomes,
    plan_frame,
    plan_stats,
    prediction,
    rank_levers,
    year_frame,
    yearly_cost_effect,
)
from peersim.planning.evaluate import OutcomeStore, Request, evaluate, tasks_for
from peersim.planning.inputs import (
    CONFIDENCE,
    DEFAULT_PROBABILITY,
    PlanningSite,
    check_budget,
    load_costs,
    load_planning_site,
    min_replicates,
    parse_targets,
)
from peersim.planning.levers import LeverSpace, PlanSpec, build_plans, lever_space, lever_steps
from peersim.planning.result import PlanInputs, PlanResult
from peersim.planning.resume import KeptRuns, plan_key
from peersim.planning.search import search
from peersim.simulation import estimated_seconds
from peersim.uncertainty import resolve_posterior

__all__ = [
    "MAX_REPLICATES",
    "MAX_SCREEN_RUNS",
    "PlanEvaluator",
    "PlanInputs",
    "PlanResult",
    "check_out",
    "default_screen_replicates",
    "plan",
    "plan_workload",
    "prepare",
]

MAX_REPLICATES = 10_000
"""Most replicates a plan may be confirmed with.

At 10,000 replicates the Wilson bounds on the share of replicates meeting the
targets are within 0.01 of it, far finer than any decision needs; confirming
one plan of the default site at this count takes about 15 minutes on one core.
"""

MAX_SCREEN_RUNS = 2_000_000
"""Most model runs the screening pass may make (every plan of the grid at the screening count).

Two million runs of a one-site plan take about 30 hours on one core; every
replicate's outcomes are held in this process (:func:`bytes_per_run` each).
"""

BYTES_PER_RUN = 730
"""Memory (bytes) this process holds per replicate run besides its per-year outcomes: its outcomes in
the store (measured with tracemalloc over 20,000 runs in batches of 5: 767 bytes a run with one
service year, 807 with two, 967 with six; 44 numbers in an array and the dictionaries keying them)."""
BYTES_PER_SERVICE_YEAR = 40
"""Memory (bytes) per replicate run and service year: the numbers of its per-year outcomes."""


def bytes_per_run(years: int) -> int:
    """Memory this process holds per replicate run of a plan with ``years`` service years (bytes)."""
    return BYTES_PER_RUN + BYTES_PER_SERVICE_YEAR * years


def default_screen_replicates(replicates: int) -> int:
    """Screening replicates per plan: a tenth of the full count, at least 4 (at most all)."""
    return min(replicates, max(4, math.ceil(replicates / 10)))


def prepare(
    site_path: str | Path,
    costs_path: str | Path | None,
    budget: float | None = None,
    targets: Sequence[str] = (),
    posterior_path: str | Path | None = None,
    replicates: int = 40,
    screen_replicates: int | None = None,
    seed: int = 0,
    probability: float = DEFAULT_PROBABILITY,
    use_posterior: bool = True,
) -> PlanInputs:
    """Read and check every input of a plan, before any simulation.

    Parameters
    ----------
    site_path
        One-site scenario file in service mode (the site as drafted).
    costs_path
        Costs file; ``None`` reads the packaged ``costs_default.toml``.
    budget
        Yearly budget in the costs file's currency, 0 or more; ``None`` for none.
    targets
        ``METRIC>=VALUE`` or ``METRIC<=VALUE`` texts (:func:`~peersim.planning.inputs.parse_target`).
    posterior_path
        Posterior file to draw mechanism strengths from, one weighted particle
        per replicate; ``None`` draws them from the shipped posterior (as
        ``peersim run`` and ``compare`` do) unless ``use_posterior`` is false.
    replicates
        Replicates per confirmed plan, at least 2 (with targets, at least
        :func:`~peersim.planning.inputs.min_replicates`).
    screen_replicates
        Replicates every plan of the grid is screened with, 2 to ``replicates``;
        ``None`` for :func:`default_screen_replicates`.
    seed
        Base seed, shared by every plan (common random numbers).
    probability
        Probability, in (0, 1), with which a recommended plan must meet every target.
    use_posterior
        ``False`` runs the scenario's point values of the mechanism strengths
        (``--no-posterior``): intervals then carry only the model's own
        randomness. Giving ``posterior_path`` as well is refused.

    Raises
    ------
    PeersimInputError
        For any bad input, naming the file and key or the argument.
    """
    if replicates < 2:
        raise PeersimInputError(f"`replicates` {replicates}: at least 2 are needed for intervals")
    if not 0.0 < probability < 1.0:
        raise PeersimInputError(f"`probability` {probability}: must lie strictly between 0 and 1")
    parsed = parse_targets(targets)
    needed = min_replicates(probability)
    if parsed and replicates < needed:
        raise PeersimInputError(
            f"`replicates` {replicates}: with targets, at least {needed} replicates are needed to show "
            f"with {CONFIDENCE:.0%} confidence that a plan meets them with probability {probability:g}"
        )
    screen = default_screen_replicates(replicates) if screen_replicates is None else screen_replicates
    if not 2 <= screen <= replicates:
        raise PeersimInputError(
            f"`screen_replicates` {screen}: must be between 2 and `replicates` {replicates}"
        )
    site = load_planning_site(site_path)
    costs = load_costs(costs_path)
    space = lever_space(costs, site)
    check_size(site, space, replicates, screen, costs.source)
    return PlanInputs(
        site=site,
        costs=costs,
        space=space,
        targets=parsed,
        budget=check_budget(budget),
        # As `peersim run` and `compare`: the shipped posterior unless a file is given or none is asked for.
        posterior=resolve_posterior(posterior_path, use_posterior),
        replicates=replicates,
        screen_replicates=screen,
        seed=seed,
        probability=probability,
    )


def _screen_workload(site: PlanningSite, space: LeverSpace, replicates: int, screen: int) -> Workload:
    """Return the work of the screen: every plan at ``screen`` replicates, the site and its steps at all.

    The lever steps are counted as one per open lever (an upper bound), so no
    plan needs to be built.
    """
    full = min(space.size, 1 + len(space.levers))
    runs = space.size * screen + full * (replicates - screen)
    return Workload(
        runs=runs,
        seconds=runs * estimated_seconds(site.scenario),
        memory=runs * bytes_per_run(site.service_years.count),
        what=f"to screen {space.size:,} plans, then more to confirm the best",
    )


def check_size(site: PlanningSite, space: LeverSpace, replicates: int, screen: int, source: str) -> None:
    """Refuse more than :data:`MAX_REPLICATES` or :data:`MAX_SCREEN_RUNS`, saying what was asked would cost.

    Raises
    ------
    PeersimInputError
        Naming ``replicates`` or ``screen_replicates``, with the time and memory of the screen asked for.
    """
    work = _screen_workload(site, space, replicates, screen)
    if replicates > MAX_REPLICATES:
        one = replicates * estimated_seconds(site.scenario)
        raise PeersimInputError(
            f"`replicates` {replicates:,} is more than the {MAX_REPLICATES:,} a plan may be confirmed with: "
            f"confirming one plan would take about {duration_text(one)} on one core, and the screen alone "
            f"{work.cost_text()}"
        )
    if work.runs > MAX_SCREEN_RUNS:
        raise PeersimInputError(
            f"`screen_replicates` {screen:,} over the {space.size:,} plans of the lever grid of {source} "
            f"asks for more than the {MAX_SCREEN_RUNS:,} runs a screen may make: {work.cost_text()}. "
            "Use fewer `screen_replicates` or `replicates`, or fewer lever values"
        )


def plan_workload(inputs: PlanInputs) -> Workload:
    """Return the runs, serial seconds and memory of a plan's screening pass (the search adds to it)."""
    return _screen_workload(inputs.site, inputs.space, inputs.replicates, inputs.screen_replicates)


def check_out(out: Path | None, force: bool = False) -> OutputDirectory | None:
    """Return a plan's output directory, checked; ``None`` without one.

    Raises
    ------
    PeersimInputError
        If ``out`` cannot be created or written (under a file, read-only,
        ``/proc``), already holds a plan's outputs, or holds other files,
        without ``force``. Its checkpoint (``checkpoint/``) is its own.
    """
    from peersim.planning.report import PLAN_OUTPUTS  # heavy: matplotlib

    return OutputDirectory.checked(out, PLAN_OUTPUTS, force, owned=(CHECKPOINT,))


class PlanEvaluator:
    """The plans of a grid, the outcomes of their replicates so far, and the executor that runs more.

    It offers what prediction, ranking, frontier
    (:class:`~peersim.planning.analysis.PlanOutcomes`) and the search
    (:class:`~peersim.planning.search.Evaluator`) need. Statistics are cached
    per plan and replicate count, so asking again costs nothing until more
    replicates are asked for.

    Statistics and tables read the replicates *asked for* (held without a
    gap), never more: replicates kept by an earlier, interrupted plan
    (``kept``) save running them again but do not change what the search sees
    at each step, so a resumed plan reaches the same answer.

    Parameters
    ----------
    inputs
        The checked inputs (site, costs, targets, posterior, seed).
    plans
        Every plan of the grid (:func:`~peersim.planning.levers.build_plans`).
    executor
        Where replicates run.
    progress
        Progress display, one per phase of work.
    kept
        The checkpoint replicates are kept in (and restored from), or ``None``.

    Attributes
    ----------
    store
        Outcomes of every replicate run (or restored) so far, and the failures.
    asked
        Replicates asked for so far, by plan (``0 .. asked - 1``).
    """

    def __init__(
        self,
        inputs: PlanInputs,
        plans: Sequence[PlanSpec],
        executor: Executor,
        progress: Progress = no_progress,
        kept: KeptRuns | None = None,
    ) -> None:
        self.inputs = inputs
        self._plans = list(plans)
        self.executor = executor
        self.progress = progress
        self.store = OutcomeStore()
        self.kept = kept
        self.asked: dict[int, int] = {}
        self._stats: dict[tuple[int, int], PlanStats] = {}
        if kept is not None:
            kept.restore(self.store, len(self._plans), inputs.site.service_years.count)

    @property
    def plans(self) -> list[PlanSpec]:
        """Every plan of the grid, in grid order."""
        return self._plans

    @property
    def runs(self) -> int:
        """Model runs the answer rests on so far: the replicates asked for (finished, failed or restored)."""
        return sum(self.asked.values())

    @property
    def resumed(self) -> int:
        """Replicates asked for that were restored from the checkpoint rather than run."""
        if self.kept is None:
            return 0
        restored = self.kept.restored
        return sum(sum(1 for r in restored.get(plan, ()) if r < n) for plan, n in self.asked.items())

    def run(self, requests: Sequence[Request], label: str) -> None:
        """Run what ``requests`` need that is not held yet, showing progress as ``label``."""
        for request in requests:
            self.asked[request.plan] = max(self.asked.get(request.plan, 0), request.replicates)
        inputs = self.inputs
        total = sum(len(task.replicates) for task in tasks_for(requests, self.store, inputs.seed, None))
        if total == 0:
            return
        keep = self.kept.keep if self.kept is not None else None
        with self.progress(label, total) as advance:
            evaluate(requests, self.store, inputs.seed, self.executor, inputs.posterior, advance, keep)

    def ensure(self, indices: Sequence[int], replicates: int) -> None:
        """Run the plans ``indices`` up to ``replicates`` replicates each (the confirmation stage)."""
        self.run([Request(i, self._plans[i].scenario, replicates) for i in indices], "plan: confirm")

    def held(self, index: int) -> int:
        """Replicates of plan ``index`` the statistics read: held without a gap, and asked for."""
        return min(self.store.n_held(index), self.asked.get(index, 0))

    def frame(self, index: int) -> pd.DataFrame:
        """Per-replicate table of plan ``index`` over the replicates :meth:`held`."""
        inputs = self.inputs
        return plan_frame(self.store, self._plans[index], self.held(index), inputs.site, inputs.costs)

    def year_frame(self, index: int) -> pd.DataFrame:
        """Per-replicate, per-year table of plan ``index`` over the replicates :meth:`held`."""
        inputs = self.inputs
        return year_frame(self.store, self._plans[index], self.held(index), inputs.site, inputs.costs)

    def stats(self, index: int) -> PlanStats:
        """Statistics of plan ``index`` from the replicates :meth:`held`."""
        key = (index, self.held(index))
        if key not in self._stats:
            targets, confidence = self.inputs.targets, self.inputs.confidence
            self._stats[key] = plan_stats(self.frame(index), self._plans[index], targets, confidence)
        return self._stats[key]

    def interrupted(self, out: Path | None) -> Interrupted:
        """Return the :class:`Interrupted` to raise on Ctrl-C: what is kept and how to resume."""
        unit = "plan run(s) asked for so far"
        if self.kept is None:
            return Interrupted(
                0,
                self.runs,
                unit,
                "Nothing is kept without `out`: run with `out` DIR to keep finished runs and resume",
            )
        self.kept.flush()
        kept = self.kept.kept
        missing = sum(len(task.replicates) for task in tasks_for(self._requests(), self.store, 0, None))
        return Interrupted(kept, kept + missing, unit, f"Run again with `out` {out} to resume")

    def _requests(self) -> list[Request]:
        return [Request(plan, self._plans[plan].scenario, n) for plan, n in self.asked.items()]


def plan(
    inputs: PlanInputs,
    executor: Executor,
    progress: Progress = no_progress,
    out: Path | None = None,
    force: bool = False,
    command: str | None = None,
) -> PlanResult:
    """Predict, rank the levers and search the grid for a site (see the module docstring).

    Parameters
    ----------
    inputs
        Checked inputs (:func:`prepare`).
    executor
        Where replicates run; results do not depend on it.
    progress
        Progress display, one per phase (``"plan: screen"``, ``"plan: confirm"``).
    out
        Output directory: finished replicates are kept in ``out/checkpoint/`` as
        they finish (running again with the same inputs resumes), and the
        report, JSON document, tables and figures are written there at the end.
    force
        Replace a plan's outputs already in ``out``, write among other files,
        and discard a checkpoint kept there for another site, grid, seed or posterior.
    command
        The command line that asked for the plan, quoted in the report.

    Returns
    -------
    PlanResult
        With ``written``, the files written to ``out``.

    Raises
    ------
    PeersimInputError
        If ``out`` cannot be used (before any simulation), a lever combination
        is invalid, or every replicate of the site as given fails.
    Interrupted
        On Ctrl-C, after keeping the finished replicates (with ``out``).
    OutputsNotWritten
        If the outputs could not be written to ``out``; the message names where they were kept.
    """
    started = time.perf_counter()
    directory = check_out(out, force)
    site, costs = inputs.site, inputs.costs
    try:
        plans, current = build_plans(site, inputs.space, costs)
    except ScenarioError as error:
        raise PeersimInputError(f"{costs.source}: a lever combination is not a valid site: {error}") from None
    kept = None
    if directory is not None:
        key = plan_key(site.site.name, site.scenario.hash, plans, inputs.seed, inputs.posterior)
        kept = KeptRuns.open(directory.path, key, force)
    runs = PlanEvaluator(inputs, plans, executor, progress, kept)
    try:
        result = _plan(runs, current)
    except KeyboardInterrupt:
        raise runs.interrupted(out) from None
    finally:
        if kept is not None:
            kept.flush()
    result.seconds = time.perf_counter() - started
    if directory is not None:
        result.written = _write(directory, result, command)
    return result


def _plan(runs: PlanEvaluator, current: int) -> PlanResult:
    """Screen the grid, predict, rank the levers and search, on ``runs``."""
    inputs, plans, site = runs.inputs, runs.plans, runs.inputs.site
    steps = lever_steps(inputs.space, plans, current)
    full = {current, *(step.plan for step in steps)}
    screen = [
        Request(p.index, p.scenario, inputs.replicates if p.index in full else inputs.screen_replicates)
        for p in plans
    ]
    runs.run(screen, "plan: screen")

    base = runs.frame(current)
    if base["participants"].isna().all():
        first_error = next(iter(runs.store.failures.values()), "unknown error")
        raise PeersimInputError(f"{site.source}: every replicate of the site as given failed: {first_error}")
    metric, higher = inputs.rank_metric
    ranking = rank_levers(runs, current, steps, metric, higher)
    found = search(
        runs,
        inputs.targets,
        inputs.budget,
        inputs.replicates,
        inputs.probability,
        metric,
        higher,
        chunk=max(2, runs.executor.workers),
    )
    result = PlanResult(
        inputs=inputs,
        plans=plans,
        current=current,
        prediction=prediction(base),
        cost_effect=cost_per_readmission_averted(base),
        ranking=ranking,
        search=found,
        frontier=frontier_table(runs, bool(inputs.targets)),
        stats={},
        frames={},
        runs=runs.runs,
        seconds=0.0,
        failures=dict(runs.store.failures),
        resumed=runs.resumed,
    )
    for index in {*result.named_plans.values(), *(s.plan for s in ranking.steps)}:
        result.stats[index] = runs.stats(index)
        result.frames[index] = runs.frame(index)
    for index in set(result.named_plans.values()):
        result.years[index] = yearly_cost_effect(runs.year_frame(index))
        result.groups[index] = group_outcomes(result.frames[index])
    return result


def _write(directory: OutputDirectory, result: PlanResult, command: str | None) -> list[Path]:
    """Write the plan's outputs into ``directory``, or somewhere the error names if the disk refuses."""
    from peersim.planning.report import PLAN_FIGURES, plan_json, write_plan_files  # heavy: matplotlib

    document = plan_json(result, list(PLAN_FIGURES.values()))
    return directory.write_all(lambda target: write_plan_files(target, result, document, command))
