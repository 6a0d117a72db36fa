"""Where the draft fails: scenario discovery (PRIM) around the site being planned, for the explorer.

:func:`find_failures` runs :func:`peersim.discovery.workflow.discover` on the
draft site with the packaged discovery factors (site conditions and levers
around the site) and the draft's target, reporting progress and stopping when
asked; :func:`boxes_table` lays the boxes out as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd

from peersim.discovery.result import DEFAULT_REPLICATES, DiscoveryResult
from peersim.discovery.workflow import discover
from peersim.executor import Executor
from peersim.explore.inputs import Draft, ExploreInputs

POINTS = 120
"""Design points the explorer samples (x :data:`DEFAULT_REPLICATES` runs: a few seconds on 2 cores)."""


class Stopped(Exception):
    """Raised inside a discovery's progress callback to stop it (a newer request replaced it)."""


def find_failures(
    inputs: ExploreInputs,
    draft: Draft,
    executor: Executor | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    n: int = POINTS,
) -> DiscoveryResult | None:
    """Find the boxes of site conditions and levers where the draft misses its target.

    Parameters
    ----------
    inputs, draft
        The site, costs and posterior; the draft (its scenario is the base the
        factors vary, its target and seed are used).
    executor
        Where the runs go (``None``: this process).
    on_progress
        Called with ``(design points done, design points)`` as points finish.
    cancelled
        Polled as points finish; when it returns ``True`` the discovery stops.
    n
        Design points (each run :data:`DEFAULT_REPLICATES` times).

    Returns
    -------
    DiscoveryResult or None
        The boxes found, or ``None`` if the discovery was stopped.
    """

    @contextmanager
    def progress(_label: str, total: int) -> Iterator[Callable[[int], None]]:
        done = [0]

        def advance(points: int) -> None:
            done[0] += points
            if on_progress is not None:
                on_progress(done[0], total)
            if cancelled is not None and cancelled():
                raise Stopped

        yield advance

    try:
        return discover(
            draft.scenario,
            None,
            draft.target,
            n=n,
            replicates=DEFAULT_REPLICATES,
            seed=draft.seed,
            posterior=inputs.posterior,
            executor=executor,
            progress=progress,
        )
    except Stopped:
        return None


def boxes_table(result: DiscoveryResult) -> pd.DataFrame:
    """Return the boxes as text: the sentence, coverage, density and runs of each."""
    rows = [
        {
            "box": box.index,
            "where the draft misses": box.sentence,
            "coverage": f"{box.coverage:.2f}",
            "density": f"{box.density:.2f}",
            "runs": box.n,
        }
        for box in result.boxes
    ]
    return pd.DataFrame(rows, columns=["box", "where the draft misses", "coverage", "density", "runs"])
