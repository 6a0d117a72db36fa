"""What the replicates say about plans: prediction, cost per readmission averted, lever ranking, frontier.

Everything here reads outcomes already run (:class:`PlanOutcomes`, over an
:class:`~peersim.planning.evaluate.OutcomeStore`); nothing runs the model. The
search for the cheapest plan, which asks for more replicates, is
:mod:`peersim.planning.search`.

Intervals
---------
* **Prediction** reports, for the site as given, the mean over replicates, the
  95% *range* of single-year outcomes (2.5th-97.5th percentile over replicates,
  as ``peersim run`` does: posterior and noise together) and the 95%
  t-interval of the mean (how precisely the replicates pin the expectation).
* **Lever ranking** reuses :func:`peersim.stats.paired_differences`: each
  lever step is run on the same replicate seeds as the site as given, and the
  interval is the 95% t-interval of the mean paired difference.
* **Plan statistics** judge how often a plan meets every target with one-sided
  Wilson bounds (:func:`peersim.stats.wilson_bounds`, see
  :mod:`peersim.planning.inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from peersim.core.results import OVERALL
from peersim.planning.evaluate import OUTCOMES, OutcomeStore
from peersim.planning.inputs import Costs, LeverValue, PlanningSite, Target
from peersim.planning.levers import LEVER_LABELS, PlanSpec, Step, travel_cost
from peersim.stats import mean_interval, paired_differences, percentile_interval, wilson_bounds

PLAN_COLUMNS: tuple[str, ...] = (
    *OUTCOMES,
    "cost_committed",
    "travel",
    "cost_total",
    "readmissions_averted_per_year",
    "readmission_savings",
    "net_cost",
)
"""Columns of a plan's per-replicate table (:func:`plan_frame`)."""

PREDICTION_METRICS: dict[str, str] = {
    "engagement_rate": "Engagement: share offered with at least 2 contacts (0-1)",
    "fidelity_index": "Delivered fidelity index (0-1)",
    "readmission_rate_intervention": "12-month readmission with peer support (0-1)",
    "readmission_rate_control": "12-month readmission without peer support, same people (0-1)",
    "readmissions_averted_per_100": "Readmissions averted per 100 people discharged",
    "readmissions_averted_per_year": "Readmissions averted in a year",
    "participants": "People discharged in the simulated year",
    "cost_total": "Yearly cost: resourcing plus travel",
    "travel": "of which travel (mileage)",
    "readmission_savings": "Cost of the readmissions averted",
    "net_cost": "Net yearly cost after readmission savings",
}
"""Rows of the prediction table, with their meaning."""
MONEY_METRICS = frozenset({"cost_total", "travel", "readmission_savings", "net_cost", "cost_committed"})

RANKING_METRICS: tuple[str, ...] = (
    "engagement_rate",
    "fidelity_index",
    "readmissions_averted_per_100",
    "cost_total",
    "travel",
)
"""Metrics whose paired differences the lever ranking reports."""
DEFAULT_RANK_METRIC = "engagement_rate"
GAIN_PER = 10_000.0
"""Gains are reported per this much added yearly cost (10,000 in the costs file's currency)."""


def plan_frame(store: OutcomeStore, spec: PlanSpec, n: int, site: PlanningSite, costs: Costs) -> pd.DataFrame:
    """Per-replicate outcomes of a plan (replicates ``0 .. n - 1``) with its yearly costs.

    Columns: ``replicate`` and :data:`PLAN_COLUMNS`. Yearly figures scale the
    simulated recruitment window to 52 weeks of admissions.
    """
    values = store.array(spec.index, n)
    frame = pd.DataFrame(values, columns=list(OUTCOMES))
    frame.insert(0, "replicate", np.arange(n))
    scale = site.year_scale
    minutes = spec.scenario.sites[0].travel_minutes_one_way
    frame["cost_committed"] = spec.cost.committed
    frame["travel"] = travel_cost(frame["community_contacts"].to_numpy(), minutes, scale, costs)
    frame["cost_total"] = frame["cost_committed"] + frame["travel"]
    frame["readmissions_averted_per_year"] = (
        frame["readmissions_averted_per_100"] / 100.0 * frame["participants"] * scale
    )
    frame["readmission_savings"] = frame["readmissions_averted_per_year"] * costs.unit.readmission
    frame["net_cost"] = frame["cost_total"] - frame["readmission_savings"]
    return frame


def long_frame(frame: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Reshape a plan's table to ``site, metric, value, replicate`` rows (for paired differences)."""
    long = frame.melt(id_vars=["replicate"], value_vars=list(metrics), var_name="metric", value_name="value")
    long.insert(0, "site", OVERALL)
    return long[["site", "metric", "value", "replicate"]]


# ---------------------------------------------------------------------------
# Chance constraints and plan summaries


@dataclass(frozen=True)
class PlanStats:
    """What the replicates held so far say about one plan.

    Attributes
    ----------
    index
        The plan's index in the grid.
    n
        Replicates held (``0 .. n - 1``); ``failed`` of them raised (NaN outcomes).
    failed
        Replicates that failed.
    cost_committed
        Yearly resourcing cost (exact), in the costs file's currency.
    cost_mean, cost_hi
        Mean expected yearly cost including travel, and the upper end of its
        95% t-interval (the mean itself with fewer than 2 replicates).
    means
        Mean of each column of :data:`PLAN_COLUMNS` over the replicates (NaN if none).
    successes
        Replicates meeting every target (without targets: replicates that did not fail).
    target_shares
        Share of replicates (0-1) meeting each target, by its text.
    lower, upper
        One-sided Wilson bounds (0-1) of the share meeting every target.
    """

    index: int
    n: int
    failed: int
    cost_committed: float
    cost_mean: float
    cost_hi: float
    means: dict[str, float]
    successes: int
    target_shares: dict[str, float]
    lower: float
    upper: float

    @property
    def share(self) -> float:
        """Share of replicates meeting every target."""
        return self.successes / self.n if self.n else math.nan


def plan_stats(
    frame: pd.DataFrame, spec: PlanSpec, targets: Sequence[Target], confidence: float
) -> PlanStats:
    """Summarise a plan's replicates: costs, means and how often it meets every target.

    Parameters
    ----------
    frame
        The plan's per-replicate table (:func:`plan_frame`).
    spec
        The plan.
    targets
        Targets every replicate is judged against (none: every finished replicate counts).
    confidence
        One-sided confidence of the Wilson bounds, in (0, 1).
    """
    n = len(frame)
    failed = int(frame["participants"].isna().sum())
    met = np.ones(n, dtype=bool)
    shares: dict[str, float] = {}
    for target in targets:
        hit = target.met(frame[target.metric].to_numpy())
        shares[target.text] = float(hit.mean()) if n else math.nan
        met &= hit
    successes = int(met.sum()) if targets else n - failed
    lower, upper = wilson_bounds(successes, n, confidence)
    cost_mean, _, cost_hi = mean_interval(frame["cost_total"].to_numpy())
    if not np.isfinite(cost_hi):
        cost_hi = cost_mean
    means = {
        column: float(np.nanmean(frame[column])) if frame[column].notna().any() else math.nan
        for column in PLAN_COLUMNS
    }
    return PlanStats(
        spec.index, n, failed, spec.cost.committed, cost_mean, cost_hi, means, successes, shares, lower, upper
    )


class PlanOutcomes(Protocol):
    """The plans of a grid and what their replicates held so far say: what ranking and frontier read.

    :class:`peersim.planning.workflow.PlanEvaluator` is the one used by
    :func:`peersim.planning.workflow.plan`.
    """

    @property
    def plans(self) -> Sequence[PlanSpec]:
        """Every plan of the grid, in grid order (``plans[i].index == i``)."""
        ...

    def frame(self, index: int) -> pd.DataFrame:
        """Per-replicate table of plan ``index`` over the replicates held (:func:`plan_frame`)."""
        ...

    def stats(self, index: int) -> PlanStats:
        """Statistics of plan ``index`` from the replicates held (:func:`plan_stats`)."""
        ...


# ---------------------------------------------------------------------------
# Prediction


@dataclass(frozen=True)
class PredictionRow:
    """One row of the prediction: mean, 95% range of a year, 95% interval of the mean, replicates."""

    metric: str
    description: str
    mean: float
    lo: float
    hi: float
    ci_lo: float
    ci_hi: float
    n: int


def prediction_table(rows: Sequence[PredictionRow]) -> pd.DataFrame:
    """Prediction rows as a table (columns are the fields of :class:`PredictionRow`)."""
    return pd.DataFrame([vars(row) for row in rows])


def prediction(frame: pd.DataFrame) -> list[PredictionRow]:
    """Mean, 95% range over replicates and 95% interval of the mean of each prediction metric.

    Parameters
    ----------
    frame
        Per-replicate table of the site as given (:func:`plan_frame`).
    """
    rows = []
    for metric, description in PREDICTION_METRICS.items():
        values = frame[metric].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        mean, ci_lo, ci_hi = mean_interval(finite)
        if finite.size:
            lo, hi = percentile_interval(finite)
        else:
            lo = hi = math.nan
        rows.append(PredictionRow(metric, description, mean, lo, hi, ci_lo, ci_hi, int(finite.size)))
    return rows


@dataclass(frozen=True)
class CostEffect:
    """Cost per readmission averted: ratio of mean yearly cost to mean readmissions averted a year.

    ``lo``/``hi`` divide the mean cost by the ends of the 95% interval of the
    mean readmissions averted (cost varies only through travel); ``hi`` is
    ``None`` (unbounded) when that interval reaches 0, and everything is
    ``None`` when no readmission is averted on average.
    """

    value: float | None
    lo: float | None
    hi: float | None


def cost_per_readmission_averted(frame: pd.DataFrame) -> CostEffect:
    """Cost per readmission averted for one plan's replicates (see :class:`CostEffect`)."""
    cost = float(np.nanmean(frame["cost_total"]))
    averted, lo, hi = mean_interval(frame["readmissions_averted_per_year"].to_numpy())
    if not np.isfinite(averted) or averted <= 0:
        return CostEffect(None, None, None)
    upper = cost / lo if np.isfinite(lo) and lo > 0 else None
    lower = cost / hi if np.isfinite(hi) and hi > 0 else None
    return CostEffect(cost / averted, lower, upper)


# ---------------------------------------------------------------------------
# Lever ranking


@dataclass(frozen=True)
class LeverStep:
    """One lever moved one step from the site as given, compared on common random numbers.

    Attributes
    ----------
    lever, label
        Lever name and human name.
    before, after, direction
        Values before and after the step; ``up``, ``down`` or ``switch``.
    plan
        Index of the stepped plan.
    delta_committed
        Change in yearly resourcing cost (exact).
    delta_cost
        Mean paired change in yearly cost including travel.
    differences
        Paired differences (step - as given) of :data:`RANKING_METRICS`, from
        :func:`peersim.stats.paired_differences`.
    gain, gain_lo, gain_hi
        Change in the rank metric (sign turned so that positive is better),
        with its 95% interval.
    per_10k, per_10k_lo, per_10k_hi
        Gain per 10,000 of added yearly cost, when the step adds resourcing
        cost; ``None`` otherwise.
    """

    lever: str
    label: str
    before: LeverValue
    after: LeverValue
    direction: str
    plan: int
    delta_committed: float
    delta_cost: float
    differences: pd.DataFrame
    gain: float
    gain_lo: float
    gain_hi: float
    per_10k: float | None
    per_10k_lo: float | None
    per_10k_hi: float | None

    @property
    def ranked(self) -> bool:
        """Whether the step is ranked per unit cost (it adds resourcing cost)."""
        return self.per_10k is not None

    def difference(self, metric: str) -> tuple[float, float, float]:
        """``(difference, lo, hi)`` of one metric."""
        row = self.differences[self.differences["metric"] == metric]
        if row.empty:
            return math.nan, math.nan, math.nan
        first = row.iloc[0]
        return float(first["difference"]), float(first["lo"]), float(first["hi"])


@dataclass(frozen=True)
class Ranking:
    """Lever steps in rank order: ranked per unit cost first, then steps adding no resourcing cost."""

    metric: str
    higher_is_better: bool
    steps: tuple[LeverStep, ...]


def rank_levers(
    outcomes: PlanOutcomes,
    current: int,
    steps: Sequence[Step],
    metric: str = DEFAULT_RANK_METRIC,
    higher_is_better: bool = True,
) -> Ranking:
    """Rank lever steps by gain in ``metric`` per unit of added yearly cost.

    Parameters
    ----------
    outcomes
        The grid with the replicates held; each stepped plan must hold the same
        replicates as the site as given.
    current
        Index of the site as given.
    steps
        The lever steps to rank (:func:`peersim.planning.levers.lever_steps`).
    metric
        Rank metric; ``higher_is_better`` says its direction.

    Notes
    -----
    Steps that add resourcing cost are ranked by gain per 10,000 of added
    yearly cost (resourcing plus the travel the step induces), its interval
    being the gain's interval over the mean added cost. Steps that add none
    (a caseload cap, a host change the costs file prices at 0, or a step down
    when the site is at the top of a lever's range) follow, ordered by gain.
    """
    metrics = sorted({*RANKING_METRICS, metric})
    base_long = long_frame(outcomes.frame(current), metrics)
    base_committed = outcomes.plans[current].cost.committed
    out = []
    sign = 1.0 if higher_is_better else -1.0
    for step in steps:
        diffs = paired_differences(base_long, long_frame(outcomes.frame(step.plan), metrics), step.lever)
        row = diffs[diffs["metric"] == metric].iloc[0]
        gain, lo, hi = (sign * float(row[k]) for k in ("difference", "lo", "hi"))
        if sign < 0:
            lo, hi = hi, lo
        delta_committed = outcomes.plans[step.plan].cost.committed - base_committed
        cost_row = diffs[diffs["metric"] == "cost_total"].iloc[0]
        delta_cost = float(cost_row["difference"])
        per: tuple[float | None, float | None, float | None] = (None, None, None)
        if delta_committed > 0 and delta_cost > 0:
            per = (gain / delta_cost * GAIN_PER, lo / delta_cost * GAIN_PER, hi / delta_cost * GAIN_PER)
        out.append(
            LeverStep(
                step.lever,
                LEVER_LABELS[step.lever],
                step.before,
                step.after,
                step.direction,
                step.plan,
                delta_committed,
                delta_cost,
                diffs,
                gain,
                lo,
                hi,
                *per,
            )
        )
    ranked = sorted((s for s in out if s.ranked), key=lambda s: -_finite(s.per_10k))
    free = sorted((s for s in out if not s.ranked), key=lambda s: -_finite(s.gain))
    return Ranking(metric, higher_is_better, tuple(ranked + free))


def _finite(value: float | None) -> float:
    return value if value is not None and np.isfinite(value) else -math.inf


# ---------------------------------------------------------------------------
# Frontier


def frontier_table(outcomes: PlanOutcomes, has_targets: bool = True) -> pd.DataFrame:
    """One row per plan: levers, replicates held, expected cost and outcomes, frontier flags.

    ``frontier_engagement`` / ``frontier_readmissions`` mark plans no cheaper
    plan beats on expected engagement / readmissions averted per 100 (the
    cost-effectiveness frontier of the grid). Without targets the share meeting
    them and its Wilson bounds are missing.
    """
    rows = []
    for spec in outcomes.plans:
        s = outcomes.stats(spec.index)
        row: dict[str, Any] = {"plan": spec.index, **{k: v for k, v in spec.levers.items()}}
        row.update(
            {
                "replicates": s.n,
                "cost_committed": s.cost_committed,
                "cost_total": s.cost_mean,
                "cost_total_hi": s.cost_hi,
                "engagement_rate": s.means["engagement_rate"],
                "fidelity_index": s.means["fidelity_index"],
                "readmissions_averted_per_100": s.means["readmissions_averted_per_100"],
                "readmissions_averted_per_year": s.means["readmissions_averted_per_year"],
                "net_cost": s.means["net_cost"],
                "share_meeting_targets": s.share if has_targets else math.nan,
                "wilson_lower": s.lower if has_targets else math.nan,
                "wilson_upper": s.upper if has_targets else math.nan,
            }
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    for metric, flag in (
        ("engagement_rate", "frontier_engagement"),
        ("readmissions_averted_per_100", "frontier_readmissions"),
    ):
        table[flag] = pareto(table["cost_total"].to_numpy(), table[metric].to_numpy())
    return table


def pareto(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Whether each point is on the frontier: no point costs less (or the same) and does better."""
    order = np.lexsort((-np.nan_to_num(value, nan=-np.inf), cost))
    flags = np.zeros(len(cost), dtype=bool)
    best = -math.inf
    for i in order:
        if np.isfinite(value[i]) and value[i] > best:
            flags[i] = True
            best = float(value[i])
    return flags
