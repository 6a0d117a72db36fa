"""The one entry point, :func:`run`, and sequential replicates built on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from peersim.model import PeerSupportModel
from peersim.results import RunResult, collect
from peersim.scenario import Scenario
from peersim.streams import Seed, replicate_seed, replicate_seeds


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
    model = PeerSupportModel(scenario, rng=seed)
    model.run_model()
    return collect(model)


def run_replicates(
    scenario: Scenario,
    seed: int,
    replicates: int,
    on_done: Callable[[int], None] | None = None,
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
    """
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    for index, child in enumerate(replicate_seeds(seed, replicates)):
        result = run(scenario, child)
        if on_done is not None:
            on_done(index)
        yield result


@dataclass(frozen=True)
class ReplicateTask:
    """One replicate to run on any executor: scenario, base seed and replicate index."""

    scenario: Scenario
    seed: int
    index: int


def run_replicate(task: ReplicateTask) -> RunResult:
    """Run one replicate (module-level, so executors can send it to workers)."""
    return run(task.scenario, replicate_seed(task.seed, task.index))
