"""Prediction, lever ranking, the search for the cheapest plan, and the frontier.

Everything here works on outcomes already run (an
:class:`~peersim.planning.evaluate.OutcomeStore`); the search asks for more
replicates through a callback, so it runs on any executor.

Intervals
---------
* **Prediction** reports, for the site as given, the mean over replicates, the
  95% *range* of single-year outcomes (2.5th-97.5th percentile over replicates,
  as ``peersim run`` does: posterior and noise together) and the 95%
  t-interval of the mean (how precisely the replicates pin the expectation).
* **Lever ranking** reuses :func:`peersim.compare.paired_differences`: each
  lever step is run on the same replicate seeds as the site as given, and the
  interval is the 95% t-interval of the mean paired difference.

Search
------
The lever grid is searched exhaustively, in two stages:

1. **screen**: every plan runs a few replicates (common random numbers);
2. **confirm**: plans whose screen cannot rule out the targets (upper Wilson
   bound >= the required probability) are taken, in order of expected cost,
   through doubling replicate counts up to the full count, and dropped as soon
   as their upper bound falls below the probability; a plan is accepted only
   at the full count (lower Wilson bound >= the probability; see
   :mod:`peersim.planning.targets`). This goes on until a plan is accepted and
   no cheaper candidate is left. Committed costs are exact and travel is never negative, so a plan
   whose committed cost exceeds the accepted plan's expected cost cannot be
   cheaper: the first accepted plan in this order is the cheapest in the grid.

A plan is *within budget* when the upper end of the 95% interval of its
expected yearly cost (resourcing, known exactly, plus simulated travel) is at
most the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peersim.compare import paired_differences, t_quantile
from peersim.planning.costs import Costs
from peersim.planning.evaluate import OUTCOMES, OutcomeStore
from peersim.planning.levers import LEVER_LABELS, LeverSpace, LeverValue, PlanCost, PlanningSite, travel_cost
from peersim.planning.targets import DEFAULT_PROBABILITY, Target, wilson_bounds
from peersim.results import OVERALL
from peersim.scenario import Scenario
from peersim.summary import INTERVAL

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


@dataclass(frozen=True)
class PlanSpec:
    """One plan of the grid: its lever settings, scenario and yearly resourcing cost."""

    index: int
    levers: dict[str, LeverValue]
    scenario: Scenario
    cost: PlanCost


def build_plans(site: PlanningSite, space: LeverSpace, costs: Costs) -> tuple[list[PlanSpec], int]:
    """Every plan of the grid and the index of the site as given.

    Raises
    ------
    ScenarioError
        If a lever combination fails scenario validation (named with the plan).
    """
    from peersim.planning.levers import plan_cost

    current = space.current
    plans = []
    current_index = -1
    for index, levers in enumerate(space.plans()):
        scenario = site.with_levers(levers)
        plans.append(PlanSpec(index, levers, scenario, plan_cost(levers, costs, str(current["host"]))))
        if levers == current:
            current_index = index
    if current_index < 0:  # pragma: no cover - the site's values are always in the grid
        raise RuntimeError("the site as given is not in the lever grid")
    return plans, current_index


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


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval of the mean of the finite values (NaN when undefined)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    half = (
        t_quantile(0.5 + confidence / 2, values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)
    )
    return mean, mean - half, mean + half


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
            lo, hi = (float(v) for v in np.percentile(finite, INTERVAL))
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
        :func:`peersim.compare.paired_differences`.
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
    base: pd.DataFrame,
    steps: Sequence[tuple[str, LeverValue, LeverValue, str, PlanSpec, pd.DataFrame]],
    base_cost: PlanCost,
    metric: str = DEFAULT_RANK_METRIC,
    higher_is_better: bool = True,
) -> Ranking:
    """Rank lever steps by gain in ``metric`` per unit of added yearly cost.

    Parameters
    ----------
    base
        Per-replicate table of the site as given (:func:`plan_frame`).
    steps
        ``(lever, before, after, direction, plan, table)`` per step; ``table``
        covers the same replicates as ``base``.
    base_cost
        Resourcing cost of the site as given.
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
    base_long = long_frame(base, metrics)
    out = []
    sign = 1.0 if higher_is_better else -1.0
    for lever, before, after, direction, spec, table in steps:
        diffs = paired_differences(base_long, long_frame(table, metrics), lever)
        row = diffs[diffs["metric"] == metric].iloc[0]
        gain, lo, hi = (sign * float(row[k]) for k in ("difference", "lo", "hi"))
        if sign < 0:
            lo, hi = hi, lo
        delta_committed = spec.cost.committed - base_cost.committed
        cost_row = diffs[diffs["metric"] == "cost_total"].iloc[0]
        delta_cost = float(cost_row["difference"])
        per: tuple[float | None, float | None, float | None] = (None, None, None)
        if delta_committed > 0 and delta_cost > 0:
            per = (gain / delta_cost * GAIN_PER, lo / delta_cost * GAIN_PER, hi / delta_cost * GAIN_PER)
        out.append(
            LeverStep(
                lever,
                LEVER_LABELS[lever],
                before,
                after,
                direction,
                spec.index,
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
# Chance constraints and plan summaries


@dataclass(frozen=True)
class PlanStats:
    """What the replicates held so far say about one plan."""

    index: int
    n: int
    failed: int
    cost_committed: float
    cost_mean: float
    cost_hi: float
    means: dict[str, float]
    successes: int
    """Replicates meeting every target."""
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
    """Summarise a plan's replicates: costs, means and how often it meets every target."""
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


# ---------------------------------------------------------------------------
# Search


@dataclass
class SearchResult:
    """Outcome of the search for the cheapest plan meeting the targets within the budget.

    ``status`` is one of:

    * ``feasible``: ``recommended`` meets every target with the required
      probability and is within budget (or no budget was given);
    * ``infeasible_budget``: plans reach the targets, but none within budget;
      ``cheapest_reaching`` is the cheapest that does, ``best_within_budget``
      the within-budget plan most likely to meet them;
    * ``infeasible_targets``: no plan in the grid reaches the targets with the
      required probability; ``best_within_budget`` (or ``best_overall``) is the
      one most likely to;
    * ``best_within_budget``: no targets; ``recommended`` is the within-budget
      plan with the best expected rank metric;
    * ``no_budget_plan``: a budget below every plan's cost;
    * ``no_recommendation``: neither targets nor a budget were given.
    """

    status: str
    recommended: int | None = None
    cheapest_reaching: int | None = None
    best_within_budget: int | None = None
    best_overall: int | None = None
    best_values_within_budget: dict[str, dict[str, Any]] = field(default_factory=dict)
    confirmed: list[int] = field(default_factory=list)
    """Plans run to the full replicate count during the search."""
    candidates: int = 0
    """Plans the screen could not rule out."""
    tried: int = 0
    """Candidates taken into confirmation (some ruled out on the way)."""


Ensure = Callable[[Sequence[int], int], None]
"""Callback: run the given plans up to ``n`` replicates."""


def search(
    plans: Sequence[PlanSpec],
    stats: Callable[[int], PlanStats],
    ensure: Ensure,
    targets: Sequence[Target],
    budget: float | None,
    replicates: int,
    probability: float = DEFAULT_PROBABILITY,
    rank_metric: str = DEFAULT_RANK_METRIC,
    higher_is_better: bool = True,
    chunk: int = 2,
) -> SearchResult:
    """Find the cheapest plan meeting every target with ``probability``, within ``budget``.

    Parameters
    ----------
    plans
        The grid; every plan must already have its screening replicates.
    stats
        Returns a plan's :class:`PlanStats` from the replicates held now.
    ensure
        Runs plans up to a replicate count (the confirmation stage).
    targets, budget, probability
        The chance-constrained problem; see the module docstring.
    replicates
        Replicates a plan is confirmed with.
    rank_metric, higher_is_better
        Without targets, a budget recommendation maximises this metric.
    chunk
        Plans confirmed together (keeps every worker busy).
    """
    within = _within_budget(budget)
    if not targets:
        if budget is None:
            return SearchResult("no_recommendation")
        affordable = [p.index for p in plans if stats(p.index).cost_mean <= budget]
        if not affordable:
            return SearchResult("no_budget_plan", best_overall=_cheapest(plans, stats))
        sign = 1.0 if higher_is_better else -1.0
        top = sorted(affordable, key=lambda i: -sign * _nan_low(stats(i).means[rank_metric], sign))[:3]
        ensure(top, replicates)
        ok = [i for i in top if within(stats(i))]
        if not ok:
            return SearchResult("no_budget_plan", best_overall=_cheapest(plans, stats), confirmed=top)
        best = max(ok, key=lambda i: sign * _nan_low(stats(i).means[rank_metric], sign))
        return SearchResult("best_within_budget", recommended=best, confirmed=top)

    candidates = [p.index for p in plans if stats(p.index).upper >= probability]
    candidates.sort(key=lambda i: (stats(i).cost_mean, i))
    confirmed: list[int] = []
    accepted: int | None = None
    tried = 0
    queue = list(candidates)
    while queue:
        best_cost = stats(accepted).cost_mean if accepted is not None else math.inf
        # A plan committing at least the accepted plan's expected cost cannot be cheaper.
        queue = [i for i in queue if stats(i).cost_committed < best_cost]
        batch, queue = queue[:chunk], queue[chunk:]
        if not batch:
            break
        tried += len(batch)
        for n in stages(min(stats(i).n for i in batch), replicates):
            ensure(batch, n)
            # Drop plans the replicates so far rule out (upper bound below the probability).
            batch = [i for i in batch if stats(i).upper >= probability]
        confirmed.extend(batch)
        for index in batch:
            s = stats(index)
            if s.lower >= probability and (accepted is None or s.cost_mean < stats(accepted).cost_mean):
                accepted = index
    result = SearchResult("feasible", confirmed=list(confirmed), candidates=len(candidates), tried=tried)
    if accepted is not None and within(stats(accepted)):
        result.recommended = accepted
        return result
    result.cheapest_reaching = accepted
    result.status = "infeasible_budget" if accepted is not None else "infeasible_targets"
    _best_achievable(result, plans, stats, ensure, targets, budget, replicates)
    return result


def stages(start: int, replicates: int) -> list[int]:
    """Replicate counts a candidate is taken through: doubling from ``start``, ending at ``replicates``."""
    out = []
    n = max(1, start)
    while n * 2 < replicates:
        n *= 2
        out.append(n)
    out.append(replicates)
    return out


def _within_budget(budget: float | None) -> Callable[[PlanStats], bool]:
    if budget is None:
        return lambda _s: True
    return lambda s: s.cost_hi <= budget


def _nan_low(value: float, sign: float) -> float:
    return value if np.isfinite(value) else -sign * math.inf


def _cheapest(plans: Sequence[PlanSpec], stats: Callable[[int], PlanStats]) -> int:
    return min(plans, key=lambda p: (stats(p.index).cost_mean, p.index)).index


def _best_achievable(
    result: SearchResult,
    plans: Sequence[PlanSpec],
    stats: Callable[[int], PlanStats],
    ensure: Ensure,
    targets: Sequence[Target],
    budget: float | None,
    replicates: int,
) -> None:
    """Fill in the best the grid can do: within budget, and overall."""

    def likeliest(pool: list[int]) -> int | None:
        if not pool:
            return None
        top = sorted(pool, key=lambda i: (-stats(i).share, stats(i).cost_mean))[:3]
        ensure(top, replicates)
        result.confirmed.extend(i for i in top if i not in result.confirmed)
        return min(top, key=lambda i: (-stats(i).share, stats(i).cost_mean))

    every = [p.index for p in plans]
    affordable = every if budget is None else [i for i in every if stats(i).cost_mean <= budget]
    result.best_overall = likeliest(every)
    result.best_within_budget = likeliest(affordable) if budget is not None else result.best_overall
    for target in targets:
        pool = affordable if affordable else every
        sign = 1.0 if target.higher_is_better else -1.0
        best = max(pool, key=lambda i: sign * _nan_low(stats(i).means[target.metric], sign))
        ensure([best], replicates)  # report the best value at the full replicate count
        s = stats(best)
        result.best_values_within_budget[target.text] = {
            "metric": target.metric,
            "value": s.means[target.metric],
            "plan": best,
            "replicates": s.n,
            "within_budget": bool(affordable),
        }


# ---------------------------------------------------------------------------
# Frontier


def frontier_table(
    plans: Sequence[PlanSpec], stats: Callable[[int], PlanStats], has_targets: bool = True
) -> pd.DataFrame:
    """One row per plan: levers, replicates held, expected cost and outcomes, frontier flags.

    ``frontier_engagement`` / ``frontier_readmissions`` mark plans no cheaper
    plan beats on expected engagement / readmissions averted per 100 (the
    cost-effectiveness frontier of the grid). Without targets the share meeting
    them and its Wilson bounds are missing.
    """
    rows = []
    for spec in plans:
        s = stats(spec.index)
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
