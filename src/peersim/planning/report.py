"""A plan as a JSON document, as text for the terminal, and as a self-contained Markdown report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from peersim.planning.analysis import GAIN_PER, MONEY_METRICS, PREDICTION_METRICS, RANKING_METRICS, LeverStep
from peersim.planning.levers import LEVER_LABELS, LEVERS, LeverValue
from peersim.planning.targets import CONFIDENCE
from peersim.planning.workflow import PlanResult
from peersim.results import package_version

SEARCH_METHOD = (
    "exhaustive grid over the lever values of the costs file (the site's own values added): every "
    "plan screened at {screen} replicates; plans the screen cannot rule out taken, in order of "
    "expected cost, through doubling replicate counts up to {n} (dropped once ruled out), until the "
    "cheapest accepted plan is certain"
)
CHANCE_TEXT = (
    "a plan meets its targets when, in a replicate (one posterior draw, if a posterior is given, and "
    "one draw of the model's randomness), every target holds; it is accepted when the one-sided "
    "{confidence:.0%} Wilson lower bound of the share of replicates meeting every target is at least "
    "{probability:g}"
)
PREDICTION_INTERVAL = (
    "mean over replicates; range: 2.5th-97.5th percentile of single-year outcomes over replicates; "
    "ci: 95% t-interval of the mean"
)
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
    return "; ".join(f"{LEVER_LABELS[k]} {_fmt_lever(a)} -> {_fmt_lever(b)}" for k, (a, b) in moved.items())


def _fmt_lever(value: LeverValue) -> str:
    return value if isinstance(value, str) else f"{float(value):g}"


def money(value: float | None, currency: str) -> str:
    """Format an amount, e.g. ``GBP 12,345``."""
    if value is None or not math.isfinite(value):
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}{currency} {abs(value):,.0f}"


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
    }


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
        over = result.stats[s.cheapest_reaching].cost_mean - (budget or 0.0)
        lines.append(
            f"No plan within the budget of {money(budget, cur)} meets {targets} "
            f"with probability >= {prob:g}. "
            f"Cheapest plan that does: {plan_text(s.cheapest_reaching)}, {money(over, cur)} over budget."
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
        lines.append("No recommendation: give --target and/or --budget to search the lever grid.")
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
            "note": "no posterior: mechanism strengths at the scenario's point values; intervals "
            "carry only the model's own randomness",
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
            "year_scale": site.year_scale,
        },
        "costs": {
            "file": costs.source,
            "currency": costs.currency,
            "price_year": costs.file.price_year,
            "unit_costs": costs.unit.model_dump(),
            "basis": costs.basis.model_dump(),
            "note": "costs are for one year of the running service; see the costs file for sources",
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


def _num(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _signed_interval(value: float | None, lo: float | None, hi: float | None, shape: str) -> str:
    return f"{_num(value, 3, True)} " + shape.format(_num(lo, 3, True), _num(hi, 3, True))


def _metric_cell(metric: str, value: float | None, currency: str, signed: bool = False) -> str:
    if metric in MONEY_METRICS:
        return (
            money(value, currency)
            if not signed or value is None
            else ("+" if value >= 0 else "") + money(value, currency)
        )
    digits = (
        1
        if metric in {"participants", "readmissions_averted_per_100", "readmissions_averted_per_year"}
        else 3
    )
    return _num(value, digits, signed)


def text_summary(result: PlanResult) -> str:
    """Plain-text summary for the terminal: answer, prediction and ranking."""
    inputs = result.inputs
    cur = inputs.costs.currency
    lines = [
        f"peersim plan: {inputs.site.site.name} ({inputs.site.source}); costs {inputs.costs.source}; "
        f"{inputs.replicates} replicates (screen {inputs.screen_replicates}), seed {inputs.seed}; "
        f"{len(result.plans)} plans; {result.runs} runs in {result.seconds:.1f} s",
        "",
        *answer_lines(result),
        "",
        f"Prediction for the site as given ({PREDICTION_INTERVAL}):",
    ]
    width = max(len(m) for m in PREDICTION_METRICS) + 2
    for row in result.prediction:
        lines.append(
            f"  {row.metric.ljust(width)}{_metric_cell(row.metric, row.mean, cur):>14}"
            f"  range [{_metric_cell(row.metric, row.lo, cur)}, {_metric_cell(row.metric, row.hi, cur)}]"
            f"  ci [{_metric_cell(row.metric, row.ci_lo, cur)}, {_metric_cell(row.metric, row.ci_hi, cur)}]"
        )
    ce = result.cost_effect
    lines.append(
        f"  {'cost_per_readmission_averted'.ljust(width)}{money(ce.value, cur):>14}"
        f"  [{money(ce.lo, cur)}, {money(ce.hi, cur) if ce.hi is not None else 'unbounded'}]"
    )
    lines += [
        "",
        f"Lever ranking: gain in {result.ranking.metric} per {money(GAIN_PER, cur)} of added yearly cost:",
    ]
    rank = 0
    for step in result.ranking.steps:
        if step.ranked:
            rank += 1
            head = f"  {rank}. "
            per = _signed_interval(step.per_10k, step.per_10k_lo, step.per_10k_hi, "[{}, {}]")
        else:
            head = "  -  "
            per = "no added resourcing cost"
        lines.append(
            f"{head}{step.label} {_fmt_lever(step.before)} -> {_fmt_lever(step.after)}: "
            f"gain {_signed_interval(step.gain, step.gain_lo, step.gain_hi, '[{}, {}]')}, "
            f"cost {money(step.delta_cost, cur)}; per {money(GAIN_PER, cur)}: {per}"
        )
    if result.failures:
        lines += ["", f"{len(result.failures)} replicate(s) failed; see the JSON 'failures'."]
    return "\n".join(lines)


def plan_markdown(result: PlanResult, figures: dict[str, str], command: str | None = None) -> str:
    """Write a self-contained Markdown report: answer, prediction, ranking, search, frontier, assumptions.

    Parameters
    ----------
    result
        The plan.
    figures
        Figure file names (relative to the report) by metric.
    command
        The command line that produced it, shown under "Reproduce".
    """
    inputs = result.inputs
    site = inputs.site
    cur = inputs.costs.currency
    s = result.search
    md: list[str] = [
        f"# Rollout plan for `{site.site.name}` ({site.scenario.name})",
        "",
        f"peersim {package_version()}; site file `{site.source}`; costs `{inputs.costs.source}` "
        f"({cur}, {inputs.costs.file.price_year} prices); {inputs.replicates} replicates, "
        f"seed {inputs.seed}.",
        "",
        "## Answer",
        "",
        *[f"- {line}" for line in answer_lines(result)],
        "",
        "## Prediction for the site as given",
        "",
        f"{describe_site(result)} Against the same people without peer support (usual care on common "
        "random numbers). Yearly figures scale the simulated recruitment window to 52 weeks of admissions.",
        "",
        "| metric | mean | 95% range of a year | 95% CI of the mean |",
        "|---|---:|---:|---:|",
    ]
    for row in result.prediction:
        md.append(
            f"| {row.description} | {_metric_cell(row.metric, row.mean, cur)} | "
            f"{_metric_cell(row.metric, row.lo, cur)} to {_metric_cell(row.metric, row.hi, cur)} | "
            f"{_metric_cell(row.metric, row.ci_lo, cur)} to {_metric_cell(row.metric, row.ci_hi, cur)} |"
        )
    ce = result.cost_effect
    if ce.value is None:
        md += ["", "Cost per readmission averted: not defined (no readmission averted on average)."]
    else:
        upper = (
            money(ce.hi, cur)
            if ce.hi is not None
            else "unbounded (the interval of readmissions averted reaches 0)"
        )
        md += [
            "",
            f"Cost per readmission averted: **{money(ce.value, cur)}** (95% interval {money(ce.lo, cur)} to "
            f"{upper}); each readmission is costed at {money(inputs.costs.unit.readmission, cur)}.",
        ]
    md += [
        "",
        "## Which lever buys the most",
        "",
        f"Each open lever moved one step from the site as given (to the next value in the costs file's "
        f"`[levers]`), run on the same replicate seeds. Gain is the change in `{result.ranking.metric}` "
        f"({'higher' if result.ranking.higher_is_better else 'lower'} is better) with its "
        f"{RANKING_INTERVAL}; per {money(GAIN_PER, cur)} divides it by the mean added yearly cost "
        "(resourcing plus the travel the "
        "step induces). Steps that add no resourcing cost are listed after the ranked ones.",
        "",
        f"| rank | step | added cost | gain | gain per {money(GAIN_PER, cur)} | engagement | fidelity | "
        "averted per 100 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    rank = 0
    for step in result.ranking.steps:
        cell_rank = "-"
        if step.ranked:
            rank += 1
            cell_rank = str(rank)
        per = (
            _signed_interval(step.per_10k, step.per_10k_lo, step.per_10k_hi, "({} to {})")
            if step.ranked
            else "no resourcing cost"
        )
        cells = []
        for metric in ("engagement_rate", "fidelity_index", "readmissions_averted_per_100"):
            d, lo, hi = step.difference(metric)
            digits = 1 if metric == "readmissions_averted_per_100" else 3
            cells.append(f"{_num(d, digits, True)} ({_num(lo, digits, True)} to {_num(hi, digits, True)})")
        md.append(
            f"| {cell_rank} | {step.label} {_fmt_lever(step.before)} -> {_fmt_lever(step.after)} | "
            f"{money(step.delta_cost, cur)} | {_num(step.gain, 3, True)} ({_num(step.gain_lo, 3, True)} to "
            f"{_num(step.gain_hi, 3, True)}) | {per} | " + " | ".join(cells) + " |"
        )
    md += [
        "",
        "## Cheapest plan meeting the targets",
        "",
        f"Targets: {', '.join(f'`{t.text}`' for t in inputs.targets) or 'none'}; budget: "
        f"{money(inputs.budget, cur) if inputs.budget is not None else 'none'}; required probability "
        f"{inputs.probability:g}.",
        "",
        f"- Chance constraint: {CHANCE_TEXT.format(confidence=CONFIDENCE, probability=inputs.probability)}.",
        f"- Budget: {BUDGET_TEXT} at most the budget.",
        f"- Search: {SEARCH_METHOD.format(screen=inputs.screen_replicates, n=inputs.replicates)}. "
        f"The grid has {len(result.plans)} plans; {s.candidates} survived the screen, {s.tried} were "
        f"taken into confirmation and {len(s.confirmed)} reached {inputs.replicates} replicates. "
        "An exhaustive grid, rather than a sequential optimiser, because the lever space is small "
        "and discrete and cost is a known function of the levers: enumeration gives the exact "
        "cheapest plan of the grid and the whole frontier for the same number of noisy evaluations.",
        "",
        "| plan | changes from the site as given | yearly cost | engagement | fidelity | averted per 100 | "
        "share meeting targets | replicates |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for role, index in result.named_plans.items():
        st = result.stats[index]
        md.append(
            f"| {role.replace('_', ' ')} | {describe_changes(result, index)} | {money(st.cost_mean, cur)} | "
            f"{_num(st.means['engagement_rate'])} | {_num(st.means['fidelity_index'])} | "
            f"{_num(st.means['readmissions_averted_per_100'], 1)} | "
            f"{_num(st.share, 2) if inputs.targets else '-'} | {st.n} |"
        )
    md += ["", "## Frontier", ""]
    for metric, name in figures.items():
        md += [f"![Yearly cost against expected {metric}]({name})", ""]
    md += [
        "Every plan of the grid; grey points were screened only, blue points confirmed at the full "
        "replicate count. The line is the frontier: no cheaper plan does better.",
        "",
        "## Assumptions",
        "",
        f"- **Costs** ({cur}, {inputs.costs.file.price_year}): "
        + "; ".join(
            f"{k.replace('_', ' ')} {money(v, cur) if v >= 100 else f'{cur} {v:g}'}"
            for k, v in inputs.costs.unit.model_dump().items()
        )
        + f". Basis: {inputs.costs.basis.full_time_hours_per_week:g} hours a week per FTE, "
        f"{inputs.costs.basis.working_weeks_per_year:g} working weeks a year. Sources are in the costs "
        "file (appendix); figures without a source there are assumptions to be replaced with local ones.",
        "- **Yearly basis**: staff for a year, team preparation counted once in the year, travel as a return "
        "journey per community session at the site's travel time; outcomes are those of one year of "
        "discharges, each followed up for 12 months.",
        f"- **Posterior**: {plan_json_posterior_text(result)}",
        f"- **Replicates**: {inputs.replicates} per confirmed plan (screen {inputs.screen_replicates}), "
        "base seed "
        f"{inputs.seed}; replicate i of every plan shares its random numbers (and posterior draw). "
        f"{result.runs} model runs in {result.seconds:.1f} s.",
        "- **Model**: mechanism strengths are hand-set, uncalibrated defaults unless a posterior is given; "
        "engagement, fidelity and readmission are emergent outcomes of the agent-based model, not data.",
    ]
    if inputs.space.dropped:
        md.append(
            "- Lever values left out (outside declared bounds): " + "; ".join(inputs.space.dropped) + "."
        )
    if result.failures:
        md.append(f"- {len(result.failures)} replicate(s) failed and count as not meeting targets.")
    if command:
        md += ["", "## Reproduce", "", "```", command, "```"]
    md += [
        "",
        "## Appendix: site file",
        "",
        "```toml",
        (result.inputs.site.text or "# (site file text not kept)").rstrip(),
        "```",
        "",
        "## Appendix: costs file",
        "",
        "```toml",
        inputs.costs.text.rstrip(),
        "```",
        "",
    ]
    return "\n".join(md)


def describe_site(result: PlanResult) -> str:
    """One sentence about the site as given."""
    site = result.inputs.site.site
    host = "a not-for-profit organisation" if site.host == "not_for_profit" else "the NHS service"
    return (
        f"{site.geography.capitalize()} site, peer workers employed by {host}, "
        f"{site.n_peer_workers} posts of {site.peer_worker_hours_per_week:g} hours a week, "
        f"{site.supervisor_hours_per_week:g} supervisor hours a week, {site.team_prep_sessions} team "
        f"preparation sessions, caseload cap {site.caseload_cap}, {site.travel_minutes_one_way:g} minutes' "
        f"travel each way, {site.eligible_admissions_per_week:g} eligible admissions a week."
    )


def plan_json_posterior_text(result: PlanResult) -> str:
    """Which mechanism strengths the plan used, in words."""
    posterior = result.inputs.posterior
    if posterior is None:
        return (
            "none given: mechanism strengths at the scenario's point values, so intervals carry only the "
            "model's own randomness, not uncertainty about the mechanisms."
        )
    return (
        f"`{posterior.source}`, {posterior.n} particles (effective sample size "
        f"{posterior.effective_sample_size:.0f}); one weighted particle drawn per replicate."
    )
