"""A plan as a JSON document, as two reports (HTML and Markdown), and as the files ``out`` holds.

* :func:`plan_json` builds the JSON document (``peersim plan --json``);
* :func:`plan_context` chooses every value and sentence of the reports, once;
  :func:`plan_html` lays it out as one self-contained page (``report.html``,
  template ``peersim/templates/plan.html.j2``: the answer first, then the
  evidence, then the method and its limits, figures inlined as data URIs) and
  :func:`plan_markdown` as Markdown (``plan.md``, ``plan.md.j2``, linking the
  figure files);
* :func:`write_plan_outputs` writes the tables, the document, the frontier
  figures and both reports into an output directory, each file atomically.

:func:`answer_lines` (the answer in a few sentences) and :func:`metric_text`
(a value as the reports show it) serve the terminal summary of ``peersim plan`` too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peersim.io.checkpoint import CHECKPOINT
from peersim.io.files import OutputDirectory, save_figure, write_parquet, write_text
from peersim.io.html import data_uri, render_html
from peersim.io.provenance import package_version
from peersim.io.templates import money, render
from peersim.planning.analysis import (
    GAIN_PER,
    MONEY_METRICS,
    RANKING_METRICS,
    CostEffect,
    LeverStep,
    prediction_table,
)
from peersim.planning.figures import frontier_figure
from peersim.planning.inputs import CONFIDENCE, LEVERS, TARGET_METRICS, LeverValue, ServiceYears
from peersim.planning.levers import LEVER_LABELS
from peersim.planning.result import PlanResult
from peersim.uncertainty import DEFAULT_POSTERIOR_SOURCE, FEW_EFFECTIVE_PARTICLES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLAN_FILES: tuple[str, ...] = (
    "report.html",
    "plan.md",
    "plan.json",
    "plans.csv",
    "ranking.csv",
    "prediction.csv",
    "years.csv",
    "groups.csv",
    "outcomes.parquet",
)
"""Files :func:`write_plan_outputs` writes, besides the figures: ``report.html`` (the self-contained
page to send), ``plan.md`` (the same in Markdown, beside the figures), the document and the tables."""
PLAN_FIGURES: dict[str, str] = {
    "engagement_rate": "frontier_engagement.png",
    "readmissions_averted_per_100": "frontier_readmissions.png",
}
"""Frontier figures :func:`write_plan_outputs` draws, by the outcome drawn against cost."""
PLAN_OUTPUTS: tuple[str, ...] = (*PLAN_FILES, *PLAN_FIGURES.values())
"""Every file :func:`write_plan_outputs` writes."""
TEMPLATE = "plan.md.j2"
"""The Markdown report's template, in ``peersim/templates``."""
HTML_TEMPLATE = "plan.html.j2"
"""The HTML report's template (``report.html``), in ``peersim/templates``; it extends ``base.html.j2``."""
ONE_DECIMAL = frozenset({"participants", "readmissions_averted_per_100", "readmissions_averted_per_year"})
"""Metrics shown with one decimal (counts per 100 or per year); money in whole units, the rest with 3."""

SEARCH_METHOD = (
    "exhaustive grid over the lever values of the costs file (the site's own values added): every "
    "plan screened at {screen} replicates; plans the screen cannot rule out taken, in order of "
    "expected cost, through doubling replicate counts up to {n} (dropped once ruled out), until the "
    "cheapest accepted plan is certain"
)
CHANCE_TEXT = (
    "a plan meets its targets when, in a replicate (one posterior draw, unless the plan runs without a "
    "posterior, and one draw of the model's randomness), every target holds; it is accepted when the "
    "one-sided {confidence:.0%} Wilson lower bound of the share of replicates meeting every target is at "
    "least {probability:g}"
)
NO_POSTERIOR_TEXT = (
    "no posterior: mechanism strengths at the scenario's point values; intervals carry only the "
    "model's own randomness"
)
"""What the report says of a plan run without a posterior (``use_posterior=False``, ``--no-posterior``)."""
PREDICTION_INTERVAL = (
    "mean over replicates; range: 2.5th-97.5th percentile of the yearly figures over replicates; "
    "ci: 95% t-interval of the mean"
)
YEARS_TEXT = (
    "each service year with admissions (year 1 = weeks 1-52) is costed by the costs file's yearly "
    "model: resourcing pro rata to its weeks of admissions (peer worker posts, supervision, joint work, "
    "any host change), team preparation in year 1 only, the mileage of the community sessions of the "
    "people admitted in it and, from the site's funding end week, pay for the posts still held; "
    "readmissions averted are those of the people admitted in it (each one's usual-care counterfactual "
    "minus what happened, 12 months from discharge); cost per readmission averted = mean cost / mean "
    "readmissions averted over replicates, its interval the mean cost over the ends of the 95% "
    "interval of the mean readmissions averted (unbounded when that reaches 0); cumulative: years 1 to "
    "the year"
)
"""How the by-year cost per readmission averted is worked out (report and ``plan.json``)."""
GROUPS_TEXT = (
    "mean over replicates with the 95% t-interval of the mean; readmission with and without peer "
    "support of the same people (usual care on common random numbers); averted per 100 = 100 x "
    "readmissions averted / people of the group"
)
"""What the by-group outcomes are (report and ``plan.json``)."""
RANKING_INTERVAL = (
    "95% t-interval of the mean paired difference (step - site as given), common random numbers"
)
BUDGET_TEXT = "a plan is within budget when the upper end of the 95% interval of its expected yearly cost is"


def _clean(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _value(value: LeverValue) -> LeverValue:
    return value if isinstance(value, str) else _clean(value)


def changes(result: PlanResult, index: int) -> dict[str, tuple[LeverValue, LeverValue]]:
    """Levers a plan sets differently from the site as given: ``{lever: (before, after)}``."""
    current = result.plans[result.current].levers
    levers = result.plans[index].levers
    return {name: (current[name], levers[name]) for name in LEVERS if levers[name] != current[name]}


def describe_changes(result: PlanResult, index: int) -> str:
    """Human text of a plan as changes from the site as given."""
    moved = changes(result, index)
    if not moved:
        return "the site as given"
    return "; ".join(f"{LEVER_LABELS[k]} {lever_text(a)} -> {lever_text(b)}" for k, (a, b) in moved.items())


HOST_NAMES: dict[str, str] = {"nhs": "NHS", "not_for_profit": "not-for-profit"}
"""How the HTML report names the hosts."""


def plain_value(value: LeverValue) -> str:
    """Format a lever's value for the HTML report: a host by name (``NHS``), else :func:`lever_text`."""
    return HOST_NAMES.get(value, value) if isinstance(value, str) else lever_text(value)


def plain_changes(result: PlanResult, index: int) -> list[dict[str, str]]:
    """List a plan's changes from the site as given for the HTML report: ``[{"lever", "from", "to"}]``."""
    return [
        {"lever": LEVER_LABELS[k], "from": plain_value(a), "to": plain_value(b)}
        for k, (a, b) in changes(result, index).items()
    ]


def plan_record(result: PlanResult, index: int) -> dict[str, Any]:
    """JSON-ready record of one plan: levers, changes, costs, outcomes and target shares."""
    spec = result.plans[index]
    s = result.stats[index]
    return {
        "plan": index,
        "description": describe_changes(result, index),
        "levers": {k: _value(v) for k, v in spec.levers.items()},
        "changes": {k: {"from": _value(a), "to": _value(b)} for k, (a, b) in changes(result, index).items()},
        "cost": {
            **{k: _clean(v) for k, v in spec.cost.as_dict().items()},
            "travel": _clean(s.means["travel"]),
            "total": _clean(s.cost_mean),
            "total_upper_95": _clean(s.cost_hi),
        },
        "replicates": s.n,
        "failed_replicates": s.failed,
        "means": {
            k: _clean(s.means[k])
            for k in (
                "engagement_rate",
                "fidelity_index",
                "readmission_rate_intervention",
                "readmission_rate_control",
                "readmissions_averted_per_100",
                "readmissions_averted_per_year",
                "readmission_savings",
                "net_cost",
            )
        },
        "share_meeting_targets": _clean(s.share) if result.inputs.targets else None,
        "wilson_lower": _clean(s.lower) if result.inputs.targets else None,
        "wilson_upper": _clean(s.upper) if result.inputs.targets else None,
        "target_shares": {k: _clean(v) for k, v in s.target_shares.items()},
        "years": year_records(result, index),
        "groups": group_records(result, index),
    }


def _effect_record(effect: CostEffect) -> dict[str, float | None]:
    return {"value": _clean(effect.value), "lo": _clean(effect.lo), "hi": _clean(effect.hi)}


def year_records(result: PlanResult, index: int) -> list[dict[str, Any]]:
    """JSON-ready rows of a plan's cost per readmission averted by service year and to date.

    See :data:`YEARS_TEXT`; empty for a plan the report does not name.
    """
    return [
        {
            "year": row.year,
            "admission_weeks": row.admission_weeks,
            "participants": _clean(row.participants),
            "engagement_rate": _clean(row.engagement_rate),
            "readmissions_averted": _clean(row.averted),
            "readmissions_averted_lo": _clean(row.averted_lo),
            "readmissions_averted_hi": _clean(row.averted_hi),
            "cost": _clean(row.cost),
            "travel": _clean(row.travel),
            "pay_after_funding_end": _clean(row.pay_after_funding_end),
            "cost_per_readmission_averted": _effect_record(row.effect),
            "cumulative": {
                "cost": _clean(row.cumulative_cost),
                "readmissions_averted": _clean(row.cumulative_averted),
                "cost_per_readmission_averted": _effect_record(row.cumulative_effect),
            },
            "replicates": row.n,
        }
        for row in result.years.get(index, [])
    ]


def group_records(result: PlanResult, index: int) -> dict[str, dict[str, Any]]:
    """JSON-ready outcomes of a plan by diagnostic group (see :data:`GROUPS_TEXT`); empty if not named."""

    def interval(values: tuple[float, float, float]) -> dict[str, float | None]:
        return dict(zip(("mean", "lo", "hi"), (_clean(v) for v in values), strict=True))

    return {
        row.group: {
            "participants": _clean(row.participants),
            "engagement_rate": interval(row.engagement),
            "readmission_rate_intervention": interval(row.readmission_intervention),
            "readmission_rate_control": interval(row.readmission_control),
            "readmissions_averted_per_100": interval(row.averted_per_100),
        }
        for row in result.groups.get(index, [])
    }


def horizon_text(horizon: ServiceYears) -> str:
    """Say in a sentence what the yearly figures of a plan over ``horizon`` are."""
    weeks = horizon.recruitment_weeks
    if horizon.years <= 1:
        text = (
            f"{weeks} weeks of admissions are simulated; yearly figures scale them to 52 weeks of "
            "admissions, with team preparation counted once"
        )
    else:
        text = (
            f"{weeks} weeks of admissions ({horizon.count} service years) are simulated; yearly figures "
            f"are the mean year, per 52 weeks of admissions, with team preparation spread over the "
            f"{horizon.years:g} years"
        )
    if horizon.funding_end_week > 0:
        text += (
            f"; funding ends in week {horizon.funding_end_week}: from then a post that falls vacant is "
            "not refilled and only posts still held are paid"
        )
    return text + "."


def _step_record(step: LeverStep, rank: int | None) -> dict[str, Any]:
    return {
        "rank": rank,
        "lever": step.lever,
        "label": step.label,
        "from": _value(step.before),
        "to": _value(step.after),
        "direction": step.direction,
        "plan": step.plan,
        "delta_committed_cost": _clean(step.delta_committed),
        "delta_cost": _clean(step.delta_cost),
        "gain": _clean(step.gain),
        "gain_lo": _clean(step.gain_lo),
        "gain_hi": _clean(step.gain_hi),
        "gain_per_10k": _clean(step.per_10k),
        "gain_per_10k_lo": _clean(step.per_10k_lo),
        "gain_per_10k_hi": _clean(step.per_10k_hi),
        "differences": {
            metric: dict(
                zip(("difference", "lo", "hi"), (_clean(v) for v in step.difference(metric)), strict=True)
            )
            for metric in RANKING_METRICS
        },
    }


def answer_lines(result: PlanResult) -> list[str]:
    """Write the plan's answer in a few sentences (status, recommended plan, infeasibility)."""
    inputs = result.inputs
    cur = inputs.costs.currency
    s = result.search
    budget = inputs.budget
    prob = inputs.probability
    lines: list[str] = []
    targets = ", ".join(t.text for t in inputs.targets)

    def plan_text(index: int) -> str:
        st = result.stats[index]
        text = f"{describe_changes(result, index)} (expected yearly cost {money(st.cost_mean, cur)}"
        if inputs.targets:
            text += (
                f"; meets every target in {st.successes} of {st.n} replicates, "
                f"share {st.share:.2f}, {CONFIDENCE:.0%} lower bound {st.lower:.2f}"
            )
        else:
            metric, _ = inputs.rank_metric
            text += f"; expected {metric} {st.means[metric]:.3f}"
        return text + ")"

    if result.current_over_budget:
        lines.append(
            "Infeasible as given: the site as given costs "
            f"{money(result.stats[result.current].cost_mean, cur)} "
            f"a year, above the budget of {money(budget, cur)}."
        )
    if s.status == "feasible" and s.recommended is not None:
        where = f" within the budget of {money(budget, cur)}" if budget is not None else ""
        lines.append(
            f"Cheapest plan meeting {targets} with probability >= {prob:g}{where}: "
            f"{plan_text(s.recommended)}."
        )
    elif s.status == "infeasible_budget" and s.cheapest_reaching is not None:
        # Over budget by the budget rule: the upper end of the cost interval, which may exceed the
        # budget when the expected cost does not (travel varies between replicates).
        cost = result.stats[s.cheapest_reaching]
        over = f"{money(cost.cost_mean - (budget or 0.0), cur)} over budget"
        if cost.cost_mean <= (budget or 0.0):
            over = (
                f"the upper end of the 95% interval of its expected yearly cost, {money(cost.cost_hi, cur)}, "
                f"is {money(cost.cost_hi - (budget or 0.0), cur)} over budget"
            )
        lines.append(
            f"No plan within the budget of {money(budget, cur)} meets {targets} "
            f"with probability >= {prob:g}. "
            f"Cheapest plan that does: {plan_text(s.cheapest_reaching)}, {over}."
        )
    elif s.status == "infeasible_targets":
        where = " in the lever grid"
        lines.append(f"No plan{where} meets {targets} with probability >= {prob:g}.")
    elif s.status == "best_within_budget" and s.recommended is not None:
        metric, _ = inputs.rank_metric
        lines.append(
            f"Best expected {metric} within the budget of {money(budget, cur)}: {plan_text(s.recommended)}."
        )
    elif s.status == "no_budget_plan":
        cheapest = s.best_overall
        text = f"No plan in the lever grid fits the budget of {money(budget, cur)}."
        if cheapest is not None and cheapest in result.stats:
            text += f" The cheapest is {plan_text(cheapest)}."
        lines.append(text)
    elif s.status == "no_recommendation":
        lines.append("No recommendation: give targets and/or a budget to search the lever grid.")
    if s.status in ("infeasible_budget", "infeasible_targets"):
        likeliest = s.best_within_budget if budget is not None else s.best_overall
        scope = " within budget" if budget is not None else ""
        if likeliest is None:
            likeliest, scope = s.best_overall, " (no plan fits the budget)"
        if likeliest is not None and result.stats[likeliest].successes == 0:
            lines.append(f"No plan{scope} met the targets in any of its replicates.")
        elif likeliest is not None:
            lines.append(f"Most likely to meet the targets{scope}: {plan_text(likeliest)}.")
        for text, best in s.best_values_within_budget.items():
            scope = "within budget" if budget is not None and best["within_budget"] else "in the grid"
            lines.append(
                f"Best expected {best['metric']} {scope} (target {text}): {best['value']:.3f}, "
                f"with {describe_changes(result, best['plan'])} ({best['replicates']} replicates)."
            )
    if result.current_over_budget:
        alternative = s.recommended if s.recommended is not None else s.best_within_budget
        if alternative is not None and alternative != result.current:
            lines.append(f"Cheapest alternative: {describe_changes(result, alternative)}.")
        elif s.cheapest_reaching is not None:
            lines.append(
                f"Cheapest alternative reaching the targets: {describe_changes(result, s.cheapest_reaching)}."
            )
    return lines


def no_answer(result: PlanResult) -> str | None:
    """Say in one sentence why no plan answers what was asked; ``None`` when one does.

    The sentence names the budget (as `` `budget` ``) when it is the reason, and
    the cheapest plan meeting the targets when there is one.
    """
    if result.answered:
        return None
    inputs = result.inputs
    cur = inputs.costs.currency
    s = result.search
    budget = inputs.budget
    targets = ", ".join(t.text for t in inputs.targets)
    given = ""
    if result.current_over_budget:
        given = f" (the site as given costs {money(result.stats[result.current].cost_mean, cur)} a year)"
    if s.status == "infeasible_budget" and s.cheapest_reaching is not None:
        cheapest = s.cheapest_reaching
        return (
            f"`budget` {budget:g}: no plan within the budget of {money(budget, cur)}{given} meets "
            f"{targets} with probability >= {inputs.probability:g}; the cheapest that does is "
            f"{describe_changes(result, cheapest)}, at {money(result.stats[cheapest].cost_mean, cur)} a year"
        )
    if s.status == "no_budget_plan":
        text = f"`budget` {budget:g}: no plan in the lever grid fits the budget of {money(budget, cur)}"
        text += given
        lowest = s.best_overall
        if lowest is not None and lowest in result.stats:
            text += (
                f"; the cheapest is {describe_changes(result, lowest)}, "
                f"at {money(result.stats[lowest].cost_mean, cur)} a year"
            )
        return text
    where = f" within the budget of {money(budget, cur)}" if budget is not None else ""
    return (
        f"`targets` {targets}: no plan in the lever grid{where} meets them with probability "
        f">= {inputs.probability:g}; see the answer for the plan most likely to"
    )


def plan_json(result: PlanResult, figures: Sequence[str] = ()) -> dict[str, Any]:
    """Build the ``peersim plan --json`` document (``null`` for missing values)."""
    inputs = result.inputs
    site = inputs.site
    scenario = site.scenario
    costs = inputs.costs
    s = result.search
    posterior: dict[str, Any]
    if inputs.posterior is None:
        posterior = {
            "source": None,
            "embedded_default": False,
            "particles": None,
            "effective_sample_size": None,
            "note": NO_POSTERIOR_TEXT,
        }
    else:
        posterior = inputs.posterior.describe(scenario)
    prediction = {
        row.metric: {
            "description": row.description,
            **{k: _clean(getattr(row, k)) for k in ("mean", "lo", "hi", "ci_lo", "ci_hi")},
            "n": int(row.n),
        }
        for row in result.prediction
    }
    ranked = 0
    steps = []
    for step in result.ranking.steps:
        rank = None
        if step.ranked:
            ranked += 1
            rank = ranked
        steps.append(_step_record(step, rank))
    named = {role: plan_record(result, index) for role, index in result.named_plans.items()}
    frontier = [
        {k: _clean(v) if not isinstance(v, str) else v for k, v in row.items()}
        for row in result.frontier.to_dict("records")
    ]
    return {
        "peersim_version": package_version(),
        "site": {
            "file": site.source,
            "scenario": scenario.name,
            "site": site.site.name,
            "hash": scenario.hash,
            "host": site.site.host,
            "geography": site.site.geography,
            "travel_minutes_one_way": site.site.travel_minutes_one_way,
            "recruitment_weeks": scenario.horizon.recruitment_weeks,
            "follow_up_weeks": scenario.horizon.follow_up_weeks,
            "funding_end_week": site.site.funding_end_week,
            "year_scale": site.year_scale,
        },
        "costs": {
            "file": costs.source,
            "currency": costs.currency,
            "price_year": costs.file.price_year,
            "unit_costs": costs.unit.model_dump(),
            "basis": costs.basis.model_dump(),
            "note": "costs are for one year of the running service: "
            + horizon_text(site.service_years)
            + " See the costs file for sources.",
        },
        "service_years": {
            "count": site.service_years.count,
            "recruitment_weeks": site.service_years.recruitment_weeks,
            "funding_end_week": site.service_years.funding_end_week,
            "method": YEARS_TEXT,
            "groups": GROUPS_TEXT,
            "chosen": {"role": result.chosen[0], "plan": result.chosen[1]},
            "note": "each named plan's `years` (by service year and cumulatively) and `groups` (by "
            "diagnostic group) are in search.plans",
        },
        "levers": [
            {
                "name": lever.name,
                "label": lever.label,
                "values": [_value(v) for v in lever.values],
                "current": _value(lever.current),
            }
            for lever in inputs.space.levers
        ],
        "grid_plans": len(result.plans),
        "dropped_lever_values": list(inputs.space.dropped),
        "targets": [
            {"metric": t.metric, "op": t.op, "value": t.value, "text": t.text} for t in inputs.targets
        ],
        "budget": inputs.budget,
        "probability": inputs.probability,
        "chance_constraint": CHANCE_TEXT.format(confidence=CONFIDENCE, probability=inputs.probability),
        "budget_rule": f"{BUDGET_TEXT} at most the budget",
        "posterior": posterior,
        "seed": inputs.seed,
        "replicates": inputs.replicates,
        "screen_replicates": inputs.screen_replicates,
        "runs": result.runs,
        "seconds": round(result.seconds, 2),
        "prediction": {
            "plan": named["current"],
            "interval": PREDICTION_INTERVAL,
            "metrics": prediction,
            "cost_per_readmission_averted": {
                "value": _clean(result.cost_effect.value),
                "lo": _clean(result.cost_effect.lo),
                "hi": _clean(result.cost_effect.hi),
                "note": "mean yearly cost / mean readmissions averted a year; interval from the "
                "95% interval of readmissions averted (hi null: unbounded)",
            },
        },
        "ranking": {
            "metric": result.ranking.metric,
            "higher_is_better": result.ranking.higher_is_better,
            "per": GAIN_PER,
            "interval": RANKING_INTERVAL,
            "note": "steps that add resourcing cost are ranked by gain per 10,000 of added yearly cost "
            "(travel included); steps adding none are listed after, unranked",
            "steps": steps,
        },
        "search": {
            "method": SEARCH_METHOD.format(screen=inputs.screen_replicates, n=inputs.replicates),
            "status": s.status,
            "answer": answer_lines(result),
            "candidates": s.candidates,
            "tried": s.tried,
            "confirmed": len(s.confirmed),
            "plans": named,
            "best_values": {
                text: {
                    **{k: _clean(v) for k, v in best.items()},
                    "description": describe_changes(result, best["plan"]),
                }
                for text, best in s.best_values_within_budget.items()
            },
        },
        "current_over_budget": result.current_over_budget,
        "figures": list(figures),
        "frontier": frontier,
        "failures": [
            {"plan": plan, "replicate": replicate, "error": error.splitlines()[0]}
            for (plan, replicate), error in sorted(result.failures.items())
        ],
    }


def lever_text(value: LeverValue) -> str:
    """Format a lever's value: a host name as it is, a number in its shortest form (``2.5``, ``4``)."""
    return value if isinstance(value, str) else f"{float(value):g}"


def metric_text(metric: str, value: float | None, currency: str) -> str:
    """Format a value of ``metric`` as the reports show it: money, 1 or 3 decimals; ``-`` when missing."""
    if metric in MONEY_METRICS:
        return money(value, currency)
    digits = 1 if metric in ONE_DECIMAL else 3
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# ---------------------------------------------------------------------------
# The reports: one context, rendered as Markdown and as HTML


def plan_markdown(result: PlanResult, figures: Mapping[str, str], command: str | None = None) -> str:
    """Render the self-contained Markdown report: answer, prediction, ranking, search, frontier, assumptions.

    Parameters
    ----------
    result
        The plan.
    figures
        Figure file names (relative to the report) by metric.
    command
        The command line that produced it, shown under "Reproduce".
    """
    return render(TEMPLATE, **plan_context(result, figures, command))


def plan_html(
    result: PlanResult,
    figures: Mapping[str, str],
    command: str | None = None,
    images: Mapping[str, Figure | Path | bytes] | None = None,
) -> str:
    """Render the report as one self-contained HTML page (:data:`HTML_TEMPLATE`), figures inlined.

    The page says what :func:`plan_markdown` says, from the same context
    (:func:`plan_context`), in the order answer, evidence, method and limits.

    Parameters
    ----------
    result, figures, command
        As for :func:`plan_markdown`.
    images
        The figures themselves by metric (a matplotlib figure, a PNG file or
        PNG bytes), inlined as data URIs; a figure without one is left out.
    """
    return render_html(HTML_TEMPLATE, plan_context(result, figures, command, images))


def plan_context(
    result: PlanResult,
    figures: Mapping[str, str],
    command: str | None = None,
    images: Mapping[str, Figure | Path | bytes] | None = None,
) -> dict[str, Any]:
    """Return the values and sentences both report templates lay out (plain dicts, lists, numbers, text).

    Numbers are left for the template's filters (``num``, ``signed``, ``money``)
    where those format them; values with a format of their own come as text.
    Each figure has its ``file`` (for the Markdown) and its ``src``: a data URI
    of ``images[metric]`` (for the HTML page), ``None`` without one.
    """
    inputs = result.inputs
    site = inputs.site
    costs = inputs.costs
    s = result.search
    posterior = inputs.posterior
    return {
        "site_name": site.site.name,
        "scenario_name": site.scenario.name,
        "version": package_version(),
        "site_file": site.source,
        "costs_file": costs.source,
        "currency": costs.currency,
        "price_year": costs.file.price_year,
        "replicates": inputs.replicates,
        "screen_replicates": inputs.screen_replicates,
        "seed": inputs.seed,
        "answer": answer_lines(result),
        "headline": _headline(result),
        "site": _site_context(result),
        "horizon": horizon_text(site.service_years),
        "years_method": YEARS_TEXT,
        "year_tables": [
            {
                "plan": _plan_heading(result, role, index),
                "role": _role_text(result, role, index),
                "changes": plain_changes(result, index),
                "rows": year_records(result, index),
            }
            for role, index in _year_plans(result)
        ],
        "groups_method": GROUPS_TEXT,
        "groups": {
            "plan": _plan_heading(result, *result.chosen),
            "role": _role_text(result, *result.chosen),
            "changes": plain_changes(result, result.chosen[1]),
            "rows": group_records(result, result.chosen[1]),
        },
        "prediction": [
            {
                "description": row.description,
                "money": row.metric in MONEY_METRICS,
                "digits": 1 if row.metric in ONE_DECIMAL else 3,
                **{k: getattr(row, k) for k in ("mean", "lo", "hi", "ci_lo", "ci_hi")},
            }
            for row in result.prediction
        ],
        "cost_effect": None
        if result.cost_effect.value is None
        else {"value": result.cost_effect.value, "lo": result.cost_effect.lo, "hi": result.cost_effect.hi},
        "readmission_cost": costs.unit.readmission,
        "ranking": {
            "metric": result.ranking.metric,
            "better": "higher" if result.ranking.higher_is_better else "lower",
            "interval": RANKING_INTERVAL,
            "per": GAIN_PER,
            "steps": _ranking_context(result.ranking.steps),
        },
        "targets": [t.text for t in inputs.targets],
        "target_details": [
            {
                "text": t.text,
                "metric": t.metric,
                "symbol": "\u2265" if t.op == ">=" else "\u2264",
                "value": f"{t.value:g}",
                "description": TARGET_METRICS.get(t.metric, t.metric),
            }
            for t in inputs.targets
        ],
        "budget": inputs.budget,
        "probability": f"{inputs.probability:g}",
        "confidence": f"{CONFIDENCE:.0%}",
        "chance_rule": CHANCE_TEXT.format(confidence=CONFIDENCE, probability=inputs.probability),
        "budget_rule": f"{BUDGET_TEXT} at most the budget",
        "search": {
            "method": SEARCH_METHOD.format(screen=inputs.screen_replicates, n=inputs.replicates),
            "plans": len(result.plans),
            "candidates": s.candidates,
            "tried": s.tried,
            "confirmed": len(s.confirmed),
        },
        "named": [
            {
                "role": role.replace("_", " "),
                "chosen": index == result.chosen[1] and role == result.chosen[0],
                "description": describe_changes(result, index),
                "changes": plain_changes(result, index),
                "cost": result.stats[index].cost_mean,
                "means": result.stats[index].means,
                "share": result.stats[index].share if inputs.targets else None,
                "replicates": result.stats[index].n,
            }
            for role, index in result.named_plans.items()
        ],
        "figures": [
            {
                "metric": metric,
                "file": name,
                "label": metric.replace("_", " "),
                "src": data_uri(images[metric]) if images and metric in images else None,
            }
            for metric, name in figures.items()
        ],
        "unit_costs": [
            {
                "name": name.replace("_", " "),
                "amount": money(value, costs.currency) if value >= 100 else f"{costs.currency} {value:g}",
            }
            for name, value in costs.unit.model_dump().items()
        ],
        "basis": {
            "hours": f"{costs.basis.full_time_hours_per_week:g}",
            "weeks": f"{costs.basis.working_weeks_per_year:g}",
        },
        "posterior": None
        if posterior is None
        else {
            "source": posterior.source,
            "particles": posterior.n,
            "effective_sample_size": posterior.effective_sample_size,
            "embedded_default": posterior.source == DEFAULT_POSTERIOR_SOURCE,
            "targets": posterior.meta.get("targets"),
            "parameters": len(posterior.parameters),
            "few": posterior.effective_sample_size < FEW_EFFECTIVE_PARTICLES,
        },
        "no_posterior": "the mechanism strengths are the scenario's point values (--no-posterior)",
        "runs": result.runs,
        "seconds": result.seconds,
        "dropped": list(inputs.space.dropped),
        "failures": len(result.failures),
        "command": command,
        "site_text": (site.text or "# (site file text not kept)").rstrip(),
        "costs_text": costs.text.rstrip(),
    }


HEADLINE_VERDICT: dict[str, str] = {
    "feasible": "Recommended plan: the cheapest that meets the targets{within}",
    "best_within_budget": "Recommended plan: the best expected {metric} within the budget",
    "no_recommendation": "No targets or budget given: the prediction for the site as given",
    "infeasible_budget": "No plan within the budget meets the targets; the cheapest that does is shown",
    "infeasible_targets": "No plan in the lever grid meets the targets; the one most likely to is shown",
    "no_budget_plan": "No plan in the lever grid fits the budget; the cheapest is shown",
}
"""The answer's first sentence by search status (the HTML report's headline)."""


def _headline(result: PlanResult) -> dict[str, Any]:
    """Return the answer as figures: the plan put forward (:attr:`PlanResult.chosen`), cost and chances."""
    inputs = result.inputs
    role, index = result.chosen
    chosen, given = result.stats[index], result.stats[result.current]
    metric, _ = inputs.rank_metric
    within = f" within the budget of {money(inputs.budget, inputs.costs.currency)}" if inputs.budget else ""
    return {
        "answered": result.answered,
        "status": result.search.status,
        "verdict": HEADLINE_VERDICT[result.search.status].format(within=within, metric=metric),
        "role": ROLE_TEXT[role],
        "is_current": index == result.current,
        "changes": plain_changes(result, index),
        "cost": chosen.cost_mean,
        "cost_hi": chosen.cost_hi,
        "current_cost": given.cost_mean,
        "difference": chosen.cost_mean - given.cost_mean,
        "n": chosen.n,
        "successes": chosen.successes,
        "share": chosen.share if inputs.targets else None,
        "lower": chosen.lower if inputs.targets else None,
        "current_share": given.share if inputs.targets else None,
        "target_shares": [
            {
                "text": t.text,
                "share": chosen.target_shares.get(t.text),
                "current": given.target_shares.get(t.text),
            }
            for t in inputs.targets
        ],
        "means": chosen.means,
        "current_means": given.means,
        "over_budget": result.current_over_budget,
    }


ROLE_TEXT: dict[str, str] = {
    "current": "the site as given",
    "recommended": "the recommended plan",
    "cheapest_reaching_targets": "the cheapest plan reaching the targets",
    "best_within_budget": "the within-budget plan most likely to meet the targets",
    "best_overall": "the plan most likely to meet the targets",
}
"""How the report names each role of :attr:`~peersim.planning.result.PlanResult.named_plans`."""


def _role_text(result: PlanResult, role: str, index: int) -> str:
    """Name a plan by its role (:data:`ROLE_TEXT`), e.g. ``the recommended plan``."""
    if index == result.current:
        return ROLE_TEXT["current"]
    return ROLE_TEXT[role] if role != "best_overall" or result.inputs.targets else "the cheapest plan"


def _plan_heading(result: PlanResult, role: str, index: int) -> str:
    """Name a plan by its role and its changes from the site as given (or as the site as given)."""
    text = _role_text(result, role, index)
    return text if index == result.current else f"{text} ({describe_changes(result, index)})"


def _year_plans(result: PlanResult) -> list[tuple[str, int]]:
    """Plans the by-year tables show: the site as given, then the chosen plan if it is another."""
    role, chosen = result.chosen
    plans = [("current", result.current)]
    return plans if chosen == result.current else [*plans, (role, chosen)]


def _site_context(result: PlanResult) -> dict[str, Any]:
    site = result.inputs.site.site
    return {
        "geography": site.geography.capitalize(),
        "host": "a not-for-profit organisation" if site.host == "not_for_profit" else "the NHS service",
        "posts": site.n_peer_workers,
        "hours": f"{site.peer_worker_hours_per_week:g}",
        "supervision": f"{site.supervisor_hours_per_week:g}",
        "preparation": site.team_prep_sessions,
        "caseload_cap": site.caseload_cap,
        "travel": f"{site.travel_minutes_one_way:g}",
        "admissions": f"{site.eligible_admissions_per_week:g}",
    }


def _ranking_context(steps: Sequence[LeverStep]) -> list[dict[str, Any]]:
    rows = []
    rank = 0
    for step in steps:
        if step.ranked:
            rank += 1
        rows.append(
            {
                "rank": str(rank) if step.ranked else "-",
                "step": f"{step.label} {lever_text(step.before)} -> {lever_text(step.after)}",
                "change": {
                    "lever": step.label,
                    "from": plain_value(step.before),
                    "to": plain_value(step.after),
                },
                "cost": step.delta_cost,
                "gain": (step.gain, step.gain_lo, step.gain_hi),
                "per": (step.per_10k, step.per_10k_lo, step.per_10k_hi) if step.ranked else None,
                "engagement": step.difference("engagement_rate"),
                "fidelity": step.difference("fidelity_index"),
                "averted": step.difference("readmissions_averted_per_100"),
            }
        )
    return rows


# ---------------------------------------------------------------------------
# Output files


def write_plan_outputs(
    out: OutputDirectory, result: PlanResult, document: dict[str, Any], command: str | None = None
) -> list[Path]:
    """Write a plan's tables, JSON document, frontier figures and reports (HTML and Markdown) into ``out``.

    Parameters
    ----------
    out
        The output directory (created if needed).
    result
        The plan.
    document
        Its JSON document (:func:`plan_json`, given the figure names of
        :data:`PLAN_FIGURES`), written as ``plan.json``; ``ranking.csv`` is
        its ranking steps.
    command
        The command line that produced it, quoted in the report.

    Returns
    -------
    list[pathlib.Path]
        The files written (:data:`PLAN_OUTPUTS`), each atomically.

    Raises
    ------
    PeersimInputError
        If ``out`` is a file, or holds these files without ``force``.
    """
    out.check(PLAN_OUTPUTS, owned=(CHECKPOINT,))
    return write_plan_files(out, result, document, command)


def write_plan_files(
    out: OutputDirectory, result: PlanResult, document: dict[str, Any], command: str | None = None
) -> list[Path]:
    """Write what :func:`write_plan_outputs` writes, without checking ``out`` (checked before the work)."""
    inputs = result.inputs
    stamp: dict[str, str | int] = {
        "scenario_hash": inputs.site.scenario.hash,
        "seed": inputs.seed,
        "version": package_version(),
    }
    ranking = (
        pd.DataFrame(document["ranking"]["steps"])
        .drop(columns=["differences"], errors="ignore")
        .assign(**stamp)
    )
    prediction = prediction_table(result.prediction).assign(**stamp)
    years = years_table(result).assign(**stamp)
    groups = groups_table(result).assign(**stamp)
    written = [
        write_text(out.file("plans.csv"), result.frontier.assign(**stamp).to_csv(index=False)),
        write_text(out.file("ranking.csv"), ranking.to_csv(index=False)),
        write_text(out.file("prediction.csv"), prediction.to_csv(index=False)),
        write_text(out.file("years.csv"), years.to_csv(index=False)),
        write_text(out.file("groups.csv"), groups.to_csv(index=False)),
        write_parquet(out.file("outcomes.parquet"), outcomes_table(result).assign(**stamp)),
        write_text(out.file("plan.json"), json.dumps(document, indent=2, allow_nan=False) + "\n"),
    ]
    targets = {t.metric: t.value for t in inputs.targets}
    images: dict[str, Path] = {}
    for metric, name in PLAN_FIGURES.items():
        figure = frontier_figure(
            result.frontier,
            metric,
            result.current,
            result.search.recommended,
            inputs.budget,
            targets.get(metric),
            inputs.costs.currency,
            title=f"{inputs.site.site.name}: yearly cost against {metric.replace('_', ' ')}",
        )
        images[metric] = save_figure(figure, out.file(name))
        written.append(images[metric])
    # One context for both reports: the Markdown links the figure files, the page inlines them.
    context = plan_context(result, PLAN_FIGURES, command, images)
    written.append(write_text(out.file("plan.md"), render(TEMPLATE, **context)))
    written.append(write_text(out.file("report.html"), render_html(HTML_TEMPLATE, context)))
    return written


def years_table(result: PlanResult) -> pd.DataFrame:
    """By service year of each plan the report names: means, cost per readmission averted, to date.

    One row per plan and year (columns ``plan, year, admission_weeks, participants,
    engagement_rate, readmissions_averted[_lo, _hi], cost, travel, pay_after_funding_end,
    cost_per_readmission_averted[_lo, _hi], cumulative_cost, cumulative_readmissions_averted,
    cumulative_cost_per_readmission_averted[_lo, _hi], replicates``; see :data:`YEARS_TEXT`).
    """
    rows = []
    for index in sorted(result.years):
        for record in year_records(result, index):
            effect, cumulative = record.pop("cost_per_readmission_averted"), record.pop("cumulative")
            to_date = cumulative.pop("cost_per_readmission_averted")
            rows.append(
                {
                    "plan": index,
                    **record,
                    **_flat("cost_per_readmission_averted", effect, "value"),
                    "cumulative_cost": cumulative["cost"],
                    "cumulative_readmissions_averted": cumulative["readmissions_averted"],
                    **_flat("cumulative_cost_per_readmission_averted", to_date, "value"),
                }
            )
    return pd.DataFrame(rows)


def groups_table(result: PlanResult) -> pd.DataFrame:
    """By diagnostic group of each plan the report names, one row per plan and group.

    Columns ``plan, group, participants`` and per metric ``METRIC``,
    ``METRIC_lo``, ``METRIC_hi`` (mean and 95% t-interval of the mean; see :data:`GROUPS_TEXT`).
    """
    rows = []
    for index in sorted(result.groups):
        for group, record in group_records(result, index).items():
            row: dict[str, Any] = {"plan": index, "group": group, "participants": record.pop("participants")}
            for metric, values in record.items():
                row.update(_flat(metric, values, "mean"))
            rows.append(row)
    return pd.DataFrame(rows)


def _flat(name: str, values: Mapping[str, Any], middle: str) -> dict[str, Any]:
    """``{name: values[middle], name_lo: values["lo"], name_hi: values["hi"]}``."""
    return {name: values[middle], f"{name}_lo": values["lo"], f"{name}_hi": values["hi"]}


def outcomes_table(result: PlanResult) -> pd.DataFrame:
    """Every replicate of the plans the report names: ``plan, replicate, metric, value`` rows."""
    long = []
    for index, frame in sorted(result.frames.items()):
        melted = frame.melt(id_vars=["replicate"], var_name="metric", value_name="value")
        melted.insert(0, "plan", index)
        long.append(melted)
    outcomes = pd.concat(long, ignore_index=True)
    outcomes["value"] = outcomes["value"].astype(np.float64)
    return outcomes
