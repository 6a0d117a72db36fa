"""What the explorer shows for an exploration: a pure function of its finished pairs.

:func:`view_of` summarises an :class:`~peersim.explore.workflow.Exploration`
(partial or finished) with peersim's planning analysis: per metric, the
plan's and the draft's means and their paired difference with the 95%
interval of the mean and the 95% predictive interval (where one replicate's
effect falls: posterior draws and model noise); the chance each meets the
target; yearly cost and cost per readmission averted; weekly bands of
engagement, fidelity, caseload and ward acceptance; outcomes per service
year (with several) and per diagnostic group. The page, the report and the
tests all read the same :class:`ExploreView`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peersim.core.results import HIGHER_IS_BETTER
from peersim.ensemble.summary import BAND_COLUMNS
from peersim.ensemble.summary import weekly_bands as summary_bands
from peersim.explore.evaluate import ARMS
from peersim.explore.workflow import Exploration
from peersim.planning.analysis import (
    CostEffect,
    GroupRow,
    YearRow,
    cost_per_readmission_averted,
    group_outcomes,
    plan_frame,
    year_frame,
    yearly_cost_effect,
)
from peersim.stats import paired_summary, wilson_bounds

DIFFERENCE_METRICS: dict[str, str] = {
    "engagement_rate": "engagement: share offered with 2 or more contacts",
    "fidelity_index": "fidelity to peer support principles (0-1)",
    "readmission_rate_intervention": "readmitted within 12 months, with peer support",
    "readmissions_averted_per_100": "readmissions averted per 100 discharged",
    "readmissions_averted_per_year": "readmissions averted a year",
    "mean_wait_weeks": "wait for a peer worker (weeks)",
    "unmet_demand": "share referred but never allocated",
    "pw_strain": "peer worker strain (0-1)",
    "cost_total": "yearly cost",
    "net_cost": "yearly cost after readmission savings",
}
"""Rows of the paired differences table, with their meaning."""
MONEY: frozenset[str] = frozenset({"cost_total", "net_cost"})
"""Rows in the costs file's currency."""
DIRECTIONS: dict[str, bool | None] = {
    **HIGHER_IS_BETTER,
    "readmissions_averted_per_100": True,
    "readmissions_averted_per_year": True,
    "cost_total": False,
    "net_cost": False,
}
"""Whether more is better, per row of the differences (the model's own, plus the planning rows)."""
DIFFERENCE_COLUMNS: tuple[str, ...] = (
    "metric",
    "description",
    "plan",
    "draft",
    "difference",
    "mean_lo",
    "mean_hi",
    "predictive_lo",
    "predictive_hi",
    "p_better",
    "n",
)
"""Columns of :attr:`ExploreView.differences`."""


@dataclass(frozen=True)
class TargetChance:
    """How often one side meets the target: the share of its replicates, with 95% Wilson bounds (0-1)."""

    share: float
    lo: float
    hi: float
    met: int
    n: int


@dataclass(frozen=True)
class ExploreView:
    """Everything the page shows for an exploration.

    Attributes
    ----------
    n, total
        Paired replicates summarised, and asked for.
    differences
        Columns :data:`DIFFERENCE_COLUMNS`: per metric of
        :data:`DIFFERENCE_METRICS`, both means, the mean paired difference
        (draft - plan), its 95% t-interval of the mean, the 95% predictive
        interval of one replicate's difference and the share of pairs in which
        the draft is better.
    chance
        :class:`TargetChance` of the plan and the draft, by arm.
    cost
        Mean yearly cost (currency) of each arm.
    cost_per_averted
        Cost per readmission averted of each arm (against usual care).
    bands
        Weekly mean and 95% band of each arm (:func:`weekly_bands`; the arm in ``site``).
    years
        Per arm, each service year's outcomes and costs (only with several years).
    groups
        Per arm, each diagnostic group's outcomes.
    failed
        Runs that failed (they are left out of every statistic).
    """

    n: int
    total: int
    differences: pd.DataFrame
    chance: dict[str, TargetChance]
    cost: dict[str, float]
    cost_per_averted: dict[str, CostEffect]
    bands: pd.DataFrame
    years: dict[str, list[YearRow]]
    groups: dict[str, list[GroupRow]]
    failed: int

    @property
    def done(self) -> bool:
        """Whether every replicate asked for is summarised."""
        return self.n >= self.total


def view_of(exploration: Exploration) -> ExploreView:
    """Summarise the pairs an exploration has finished (see :class:`ExploreView`).

    With no finished pair, every statistic is missing (NaN) and the tables are empty.
    """
    inputs, draft = exploration.inputs, exploration.draft
    n = len(exploration.held)
    frames: list[pd.DataFrame] = []
    store = exploration.compact()
    for spec in exploration.specs:
        frames.append(plan_frame(store, spec, n, inputs.site, inputs.costs) if n else pd.DataFrame())
    rows = []
    for metric, description in DIFFERENCE_METRICS.items():
        if n:
            a = frames[0][metric].to_numpy(dtype=float)
            b = frames[1][metric].to_numpy(dtype=float)
            base, whatif, mean, lo, hi, plo, phi, better, _harm, pairs = paired_summary(
                a, b, DIRECTIONS.get(metric)
            )
        else:
            base = whatif = mean = lo = hi = plo = phi = better = math.nan
            pairs = 0
        rows.append((metric, description, base, whatif, mean, lo, hi, plo, phi, better, pairs))
    differences = pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))
    chance: dict[str, TargetChance] = {}
    cost: dict[str, float] = {}
    effect: dict[str, CostEffect] = {}
    years: dict[str, list[YearRow]] = {}
    groups: dict[str, list[GroupRow]] = {}
    several_years = inputs.site.service_years.count > 1
    for arm, frame, spec in zip(ARMS, frames, exploration.specs, strict=True):
        if not n:
            chance[arm] = TargetChance(math.nan, math.nan, math.nan, 0, 0)
            cost[arm] = math.nan
            effect[arm] = CostEffect(None, None, None)
            years[arm], groups[arm] = [], []
            continue
        values = frame[draft.target.metric].to_numpy(dtype=float)
        finite = np.isfinite(values)
        met = int(draft.target.met(values).sum())
        lo, hi = wilson_bounds(met, int(finite.sum()))
        chance[arm] = TargetChance(met / max(int(finite.sum()), 1), lo, hi, met, int(finite.sum()))
        cost[arm] = float(np.nanmean(frame["cost_total"])) if frame["cost_total"].notna().any() else math.nan
        effect[arm] = cost_per_readmission_averted(frame)
        groups[arm] = group_outcomes(frame)
        years[arm] = (
            yearly_cost_effect(year_frame(store, spec, n, inputs.site, inputs.costs)) if several_years else []
        )
    failed = len(exploration.store.failures)
    return ExploreView(
        n,
        exploration.total,
        differences,
        chance,
        cost,
        effect,
        weekly_bands(exploration),
        years,
        groups,
        failed,
    )


def weekly_bands(exploration: Exploration) -> pd.DataFrame:
    """Weekly mean and 95% band over the finished pairs, per arm and metric of :data:`WEEKLY_METRICS`.

    Returns
    -------
    pandas.DataFrame
        :func:`peersim.ensemble.summary.weekly_bands` of the pairs, with the
        arm (``plan``, ``draft``) in the ``site`` column: the band is missing
        in weeks some replicate does not reach.
    """
    held = exploration.held
    if not held:
        return pd.DataFrame(columns=list(BAND_COLUMNS))
    rows = pd.concat([exploration.weekly[i].assign(replicate=i) for i in held], ignore_index=True)
    return summary_bands(rows, replicates=len(held))
