"""The one entry point, :func:`run`, and :class:`Runner`: one replicate, perhaps with a posterior draw.

Every experiment (ensembles, comparisons, sensitivity analysis, calibration,
planning) runs the model through these two, so a replicate is the same
whichever of them asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from peersim.core.results import RunResult
from peersim.core.scenario import Scenario
from peersim.core.streams import Seed, replicate_seed, replicate_seeds
from peersim.uncertainty import Posterior


def run(scenario: Scenario, seed: Seed = 0) -> RunResult:
    """Simulate a scenario once and return its tidy result tables.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`peersim.load_scenario`).
    seed
        A non-negative ``int`` or a :class:`numpy.random.SeedSequence`. The same
        seed gives identical tables in any process.

    Returns
    -------
    RunResult
        Headline metrics, per-arm outcomes, staff, weekly series and the
        participant table.
    """
    # Mesa, and the model with it, is imported here rather than at the top: it takes
    # about 1.5 s, which a command that runs the model only in worker processes never pays.
    from peersim.model import PeerSupportModel, collect

    model = PeerSupportModel(scenario, rng=seed)
    model.run_model()
    return collect(model)


SECONDS_PER_WEEK = 0.0005
SECONDS_PER_SITE_WEEK = 0.00005
"""Rough cost of one simulated week, and of each site in it (2-core machine, 2026)."""


def estimated_seconds(scenario: Scenario) -> float:
    """Rough serial seconds one run of ``scenario`` takes: enough to decide whether a pool pays.

    About 0.1 s for the 7-site default and 0.05 s for one site; the real time
    varies with the machine by a factor of two.
    """
    weeks = scenario.horizon.recruitment_weeks + scenario.horizon.follow_up_weeks + 10
    return weeks * (SECONDS_PER_WEEK + SECONDS_PER_SITE_WEEK * len(scenario.sites))


@dataclass(frozen=True)
class Runner:
    """Runs one replicate of a scenario, drawing its mechanism strengths from ``posterior`` if given.

    ``Runner()(scenario, seed)`` is :func:`run`. With a posterior, each seed (a
    replicate seed) draws one particle from a stream of its own
    (:meth:`~peersim.uncertainty.Posterior.apply_to`), so replicate ``i`` draws the
    same particle in every scenario of a comparison; the result keeps the given
    scenario's hash, so the replicates of one scenario group together. Picklable,
    so it travels to process and Dask workers.

    Attributes
    ----------
    posterior
        Weighted particles of mechanism strengths, or ``None`` for the
        scenario's point values.
    """

    posterior: Posterior | None = None

    def __call__(self, scenario: Scenario, seed: Seed) -> RunResult:
        """Run ``scenario`` once with seed ``seed`` (and its posterior draw)."""
        if self.posterior is None:
            return run(scenario, seed)
        result = run(self.posterior.apply_to(scenario, seed), seed)
        return replace(result, scenario_hash=scenario.hash)

    def replicate(self, scenario: Scenario, seed: int, index: int) -> RunResult:
        """Run replicate ``index`` of base seed ``seed`` (``replicate_seed(seed, index)``)."""
        return self(scenario, replicate_seed(seed, index))


def run_replicates(
    scenario: Scenario,
    seed: int,
    replicates: int,
    on_done: Callable[[int], None] | None = None,
    runner: Runner | None = None,
) -> Iterator[RunResult]:
    """Run replicates one after another, yielding each result as it finishes.

    Replicate ``i`` uses the ``i``-th child of ``SeedSequence(seed).spawn``, so
    it is the same whatever ``replicates`` is.

    Parameters
    ----------
    scenario
        The scenario to run.
    seed
        Base seed (non-negative).
    replicates
        Number of replicates, at least 1.
    on_done
        Called with the replicate index after each run (for progress display).
    runner
        Runs each replicate (default: :func:`run`, the scenario's point values).
    """
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    one = runner if runner is not None else Runner()
    for index, child in enumerate(replicate_seeds(seed, replicates)):
        result = one(scenario, child)
        if on_done is not None:
            on_done(index)
        yield result
