"""What the replicates say about plans: prediction, cost per readmission averted, lever ranking, frontier.

Everything here reads outcomes already run (:class:`PlanOutcomes`, over an
:class:`~peersim.planning.evaluate.OutcomeStore`); nothing runs the model. The
search for the cheapest plan, which asks for more replicates, is
:mod:`peersim.planning.search`.

Intervals
---------
* **Prediction** reports, for the site as given, the mean over replicates, the
  95% *range* of its yearly figures (2.5th-97.5th percentile over replicates,
  as ``peersim run`` does: posterior and noise together) and the 95%
  t-interval of the mean (how precisely the replicates pin the expectation).
* **Lever ranking** reuses :func:`peersim.stats.paired_differences`: each
  lever step is run on the same replicate seeds as the site as given, and the
  interval is the 95% t-interval of the mean paired difference.
* **Plan statistics** judge how often a plan meets every target with one-sided
  Wilson bounds (:func:`peersim.stats.wilson_bounds`, see
  :mod:`peersim.planning.inputs`).
* **Service years** (:func:`year_frame`, :func:`yearly_cost_effect`): each
  service year with admissions is costed by the costs file's yearly model
  (:func:`peersim.planning.levers.plan_cost_by_year`, the mileage of the
  sessions of the people admitted that year, and pay for posts still held
  after the funding end) against the readmissions averted among the people
  admitted that year; cumulative figures add the years up. Each cost per
  readmission averted is a ratio of means over replicates with the interval
  of :class:`CostEffect`.
* **Diagnostic groups** (:func:`group_outcomes`): engagement and readmission
  with and without peer support per group, with 95% intervals of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from peersim.core.results import GROUPS, OVERALL
from peersim.planning.evaluate import (
    GROUP_OUTCOME_METRICS,
    OUTCOMES,
    YEAR_OUTCOMES,
    OutcomeStore,
    group_column,
)
from peersim.planning.inputs import Costs, LeverValue, PlanningSite, Target
from peersim.planning.levers import LEVER_LABELS, PlanSpec, Step, post_week_pay, travel_cost
from peersim.stats import mean_interval, paired_differences, percentile_interval, wilson_bounds

PLAN_COLUMNS: tuple[str, ...] = (
    *OUTCOMES,
    "cost_committed",
    "travel",
    "pay_after_funding_end",
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
    "participants": "People discharged over the simulated admissions",
    "cost_total": "Yearly cost: resourcing plus travel (and any pay after the funding end)",
    "travel": "of which travel (mileage)",
    "readmission_savings": "Cost of the readmissions averted",
    "net_cost": "Net yearly cost after readmission savings",
}
"""Rows of the prediction table, with their meaning."""
MONEY_METRICS = frozenset(
    {"cost_total", "travel", "pay_after_funding_end", "readmission_savings", "net_cost", "cost_committed"}
)

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
    simulated recruitment window to 52 weeks of admissions (over several
    service years, the mean year). ``pay_after_funding_end`` is the pay of
    posts still held from the site's funding end week on (read from the
    store's per-year outcomes; 0 when funded throughout).
    """
    values = store.array(spec.index, n)
    frame = pd.DataFrame(values, columns=list(OUTCOMES))
    frame.insert(0, "replicate", np.arange(n))
    scale = site.year_scale
    minutes = spec.scenario.sites[0].travel_minutes_one_way
    frame["cost_committed"] = spec.cost.committed
    frame["travel"] = travel_cost(frame["community_contacts"].to_numpy(), minutes, scale, costs)
    frame["pay_after_funding_end"] = 0.0
    if site.service_years.funding_end_week > 0:
        held = store.year_array(spec.index, n)[:, :, YEAR_OUTCOMES.index("post_weeks_after_funding_end")]
        frame["pay_after_funding_end"] = held.sum(axis=1) * post_week_pay(spec.levers, costs) * scale
    frame["cost_total"] = frame["cost_committed"] + frame["travel"] + frame["pay_after_funding_end"]
    frame["readmissions_averted_per_year"] = frame["readmissions_averted"] * scale
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
    """One row of the prediction: mean, 95% range over replicates, 95% interval of the mean, replicates."""

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
    return cost_effect(frame["cost_total"].to_numpy(), frame["readmissions_averted_per_year"].to_numpy())


def cost_effect(cost: np.ndarray, averted: np.ndarray) -> CostEffect:
    """Mean ``cost`` over mean ``averted``, per replicate values of each (see :class:`CostEffect`).

    Parameters
    ----------
    cost
        Cost of each replicate, in the costs file's currency (NaN for a failed one).
    averted
        Readmissions averted in each replicate over the same period (count).
    """
    mean_cost = float(np.nanmean(cost)) if np.isfinite(cost).any() else math.nan
    averted_mean, lo, hi = mean_interval(averted)
    if not np.isfinite(averted_mean) or averted_mean <= 0 or not np.isfinite(mean_cost):
        return CostEffect(None, None, None)
    upper = mean_cost / lo if np.isfinite(lo) and lo > 0 else None
    lower = mean_cost / hi if np.isfinite(hi) and hi > 0 else None
    return CostEffect(mean_cost / averted_mean, lower, upper)


# ---------------------------------------------------------------------------
# Service years

YEAR_COLUMNS: tuple[str, ...] = (
    "replicate",
    "year",
    "admission_weeks",
    *YEAR_OUTCOMES,
    "cost_committed",
    "travel",
    "pay_after_funding_end",
    "cost_total",
)
"""Columns of a plan's per-replicate, per-year table (:func:`year_frame`)."""


def year_frame(store: OutcomeStore, spec: PlanSpec, n: int, site: PlanningSite, costs: Costs) -> pd.DataFrame:
    """Per-replicate outcomes and costs of each service year with admissions (replicates ``0 .. n - 1``).

    Year ``y`` costs :func:`~peersim.planning.levers.plan_cost_by_year`'s
    resourcing of the year, the mileage of the community sessions of the people
    admitted in it, and the pay of posts still held from the funding end week
    on (in the currency of ``costs``); nothing is scaled to a year.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`YEAR_COLUMNS`, one row per replicate and year, replicate by replicate.
    """
    values = store.year_array(spec.index, n)
    _, years, _ = values.shape
    committed = np.array([cost.committed for cost in spec.years], dtype=float)
    if committed.size != years:
        raise ValueError(f"plan {spec.index}: costs of {committed.size} service years, outcomes of {years}")
    horizon = site.service_years
    frame = pd.DataFrame(values.reshape(n * years, -1), columns=list(YEAR_OUTCOMES))
    frame.insert(0, "replicate", np.repeat(np.arange(n), years))
    frame.insert(1, "year", np.tile(np.arange(1, years + 1), n))
    frame.insert(2, "admission_weeks", np.tile([horizon.admission_weeks(y) for y in range(1, years + 1)], n))
    minutes = spec.scenario.sites[0].travel_minutes_one_way
    frame["cost_committed"] = np.tile(committed, n)
    frame["travel"] = travel_cost(frame["community_contacts"].to_numpy(), minutes, 1.0, costs)
    frame["pay_after_funding_end"] = frame["post_weeks_after_funding_end"] * post_week_pay(spec.levers, costs)
    frame["cost_total"] = frame["cost_committed"] + frame["travel"] + frame["pay_after_funding_end"]
    failed = frame["participants"].isna().to_numpy()
    frame.loc[failed, ["cost_total", "travel", "pay_after_funding_end"]] = np.nan
    return frame[list(YEAR_COLUMNS)]


@dataclass(frozen=True)
class YearRow:
    """One service year of a plan: means over replicates, its cost per readmission averted, and to date.

    Attributes
    ----------
    year, admission_weeks
        The service year (1 = delivery weeks 1-52) and its weeks of admissions (52, or fewer in a last one).
    participants, engagement_rate
        Mean people admitted in the year, and their mean engagement (0-1).
    averted, averted_lo, averted_hi
        Mean readmissions averted among them (count), with the 95% t-interval of the mean.
    cost, travel, pay_after_funding_end
        Mean cost of the year (currency), and of it the mileage and the pay of
        posts held after the funding end.
    effect
        Cost per readmission averted in the year (:func:`cost_effect`).
    cumulative_cost, cumulative_averted
        Mean cost and readmissions averted of years 1 to ``year``.
    cumulative_effect
        Cost per readmission averted of years 1 to ``year``: mean cumulative
        cost over mean cumulative readmissions averted.
    n
        Replicates with values.
    """

    year: int
    admission_weeks: int
    participants: float
    engagement_rate: float
    averted: float
    averted_lo: float
    averted_hi: float
    cost: float
    travel: float
    pay_after_funding_end: float
    effect: CostEffect
    cumulative_cost: float
    cumulative_averted: float
    cumulative_effect: CostEffect
    n: int


def yearly_cost_effect(frame: pd.DataFrame) -> list[YearRow]:
    """Cost per readmission averted of each service year and cumulatively, from :func:`year_frame`."""
    years = sorted(int(y) for y in frame["year"].unique())
    n = int(frame["replicate"].nunique())

    def column(name: str) -> np.ndarray:  # (replicates, years), rows in replicate order
        return frame[name].to_numpy(dtype=float).reshape(n, len(years))

    cost, averted = column("cost_total"), column("readmissions_averted")
    to_date_cost, to_date_averted = np.cumsum(cost, axis=1), np.cumsum(averted, axis=1)
    rows = []
    for k, year in enumerate(years):
        mean_averted, lo, hi = mean_interval(averted[:, k])
        rows.append(
            YearRow(
                year=year,
                admission_weeks=int(frame["admission_weeks"].to_numpy()[k]),
                participants=_mean(column("participants")[:, k]),
                engagement_rate=_mean(column("engagement_rate")[:, k]),
                averted=mean_averted,
                averted_lo=lo,
                averted_hi=hi,
                cost=_mean(cost[:, k]),
                travel=_mean(column("travel")[:, k]),
                pay_after_funding_end=_mean(column("pay_after_funding_end")[:, k]),
                effect=cost_effect(cost[:, k], averted[:, k]),
                cumulative_cost=_mean(to_date_cost[:, k]),
                cumulative_averted=_mean(to_date_averted[:, k]),
                cumulative_effect=cost_effect(to_date_cost[:, k], to_date_averted[:, k]),
                n=int(np.isfinite(cost[:, k]).sum()),
            )
        )
    return rows


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


# ---------------------------------------------------------------------------
# Diagnostic groups


@dataclass(frozen=True)
class GroupRow:
    """Outcomes of one diagnostic group under a plan: means over replicates with 95% t-intervals of the mean.

    Attributes
    ----------
    group
        One of :data:`peersim.core.results.GROUPS`.
    participants
        Mean people of the group admitted over the simulated admissions.
    engagement, readmission_intervention, readmission_control, averted_per_100
        ``(mean, lo, hi)`` of engagement (0-1), 12-month readmission with and
        without peer support (same people, 0-1), and readmissions averted per
        100 people of the group.
    """

    group: str
    participants: float
    engagement: tuple[float, float, float]
    readmission_intervention: tuple[float, float, float]
    readmission_control: tuple[float, float, float]
    averted_per_100: tuple[float, float, float]


def group_outcomes(frame: pd.DataFrame) -> list[GroupRow]:
    """Each diagnostic group's outcomes from a plan's per-replicate table (:func:`plan_frame`)."""
    rows = []
    for group in GROUPS:
        values = {m: frame[group_column(group, m)].to_numpy(dtype=float) for m in GROUP_OUTCOME_METRICS}
        participants = values["participants"]
        with np.errstate(invalid="ignore", divide="ignore"):
            averted = 100.0 * values["readmissions_averted"] / participants
        rows.append(
            GroupRow(
                group=group,
                participants=_mean(participants),
                engagement=mean_interval(values["engagement_rate"]),
                readmission_intervention=mean_interval(values["readmission_rate_intervention"]),
                readmission_control=mean_interval(values["readmission_rate_control"]),
                averted_per_100=mean_interval(np.where(participants > 0, averted, np.nan)),
            )
        )
    return rows


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
