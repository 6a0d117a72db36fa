"""The explorer's view as text: tables and sentences, shared by the page and its report.

Pure functions of an :class:`~peersim.explore.view.ExploreView`; numbers are
formatted as peersim's reports format them (:mod:`peersim.io.templates`).
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from peersim.explore.view import MONEY, ExploreView, TargetChance
from peersim.io.templates import money, number, signed
from peersim.planning.analysis import CostEffect
from peersim.planning.inputs import Target

DIFFERENCE_HEADERS: tuple[str, ...] = (
    "metric",
    "meaning",
    "plan",
    "draft",
    "difference",
    "interval of the mean",
    "predictive interval",
    "P(draft better)",
)
"""Columns of :func:`differences_table` (intervals are 95%; ``meaning`` is the metric in words)."""


def _value(metric: str, value: float, currency: str, sign: bool = False) -> str:
    if metric in MONEY:
        text = money(value, currency)
        return f"+{text}" if sign and math.isfinite(value) and value > 0 else text
    return signed(value) if sign else number(value)


def _interval(metric: str, lo: float, hi: float, currency: str) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "-"
    return f"[{_value(metric, lo, currency, True)}, {_value(metric, hi, currency, True)}]"


def differences_table(view: ExploreView, currency: str) -> pd.DataFrame:
    """Return the paired differences as text, one row per metric (columns :data:`DIFFERENCE_HEADERS`)."""
    rows = []
    for row in view.differences.to_dict(orient="records"):
        metric = str(row["metric"])
        rows.append(
            (
                metric,
                str(row["description"]),
                _value(metric, row["plan"], currency),
                _value(metric, row["draft"], currency),
                _value(metric, row["difference"], currency, True),
                _interval(metric, row["mean_lo"], row["mean_hi"], currency),
                _interval(metric, row["predictive_lo"], row["predictive_hi"], currency),
                number(row["p_better"], 2),
            )
        )
    return pd.DataFrame(rows, columns=list(DIFFERENCE_HEADERS))


def differences_html(view: ExploreView, currency: str) -> str:
    """Return the paired differences as an HTML table: each row's meaning over its metric name."""
    table = differences_table(view, currency)
    headers = [h for h in DIFFERENCE_HEADERS if h != "meaning"]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in table.to_dict(orient="records"):
        meaning, metric = escape(str(row["meaning"])), escape(str(row["metric"]))
        cells = [f"<td>{meaning}<br><small><code>{metric}</code></small></td>"]
        cells += [f"<td>{escape(str(row[h]))}</td>" for h in headers[1:]]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="peersim-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def table_html(table: pd.DataFrame) -> str:
    """Return a table of texts as an HTML table for the page (escaped)."""
    return table.to_html(index=False, escape=True, border=0, classes="peersim-table")


def chance_text(chance: TargetChance) -> str:
    """``P(target met) = 0.83`` with its 95% Wilson interval."""
    if chance.n == 0:
        return "P(target met) = -"
    interval = f"[{chance.lo:.2f}, {chance.hi:.2f}]"
    return f"P(target met) = {chance.share:.2f} {interval}, {chance.met} of {chance.n} replicates"


def effect_text(effect: CostEffect, currency: str, interval: bool = True) -> str:
    """Format a cost per readmission averted (with its interval unless ``interval`` is false)."""
    if effect.value is None:
        return "no readmission averted on average"
    if not interval:
        return money(effect.value, currency)
    upper = money(effect.hi, currency) if effect.hi is not None else "unbounded"
    return f"{money(effect.value, currency)} [{money(effect.lo, currency)}, {upper}]"


def answer_lines(view: ExploreView, target: Target, currency: str) -> list[str]:
    """Return the answer in plain words: the draft's chance of the target and its cost, against the plan."""
    if view.n == 0:
        return ["no replicate has finished yet"]
    plan, draft = view.chance["plan"], view.chance["draft"]
    lines = [
        f"The draft meets {target.text} in {draft.share:.0%} of {draft.n} replicates "
        f"(95% interval {draft.lo:.0%} to {draft.hi:.0%}); the plan as given in {plan.share:.0%}.",
        f"Yearly cost: draft {money(view.cost['draft'], currency)}, "
        f"plan {money(view.cost['plan'], currency)} "
        f"({_value('cost_total', view.cost['draft'] - view.cost['plan'], currency, True)}).",
        "Cost per readmission averted against usual care: "
        f"draft {effect_text(view.cost_per_averted['draft'], currency)}; "
        f"plan {effect_text(view.cost_per_averted['plan'], currency)}.",
    ]
    if view.failed:
        lines.append(f"{view.failed} run(s) failed and are left out.")
    return lines


def years_table(view: ExploreView, currency: str) -> pd.DataFrame:
    """Outcomes per service year of both arms (empty with one year)."""
    rows = []
    for arm, years in view.years.items():
        for year in years:
            rows.append(
                {
                    "arm": arm,
                    "year": year.year,
                    "engagement": number(year.engagement_rate),
                    "readmissions averted": number(year.averted, 1),
                    "cost": money(year.cost, currency),
                    "cost per readmission averted": effect_text(year.effect, currency),
                    "to date": effect_text(year.cumulative_effect, currency),
                }
            )
    return pd.DataFrame(rows)


def groups_table(view: ExploreView) -> pd.DataFrame:
    """Outcomes per diagnostic group of both arms: means with 95% intervals of the mean."""

    def shown(values: tuple[float, float, float]) -> str:
        mean, lo, hi = values
        return f"{number(mean)} [{number(lo)}, {number(hi)}]" if math.isfinite(mean) else "-"

    rows = []
    for arm, groups in view.groups.items():
        for group in groups:
            rows.append(
                {
                    "arm": arm,
                    "group": group.group.replace("_", " "),
                    "people": number(group.participants, 1),
                    "engagement": shown(group.engagement),
                    "readmission with peer support": shown(group.readmission_intervention),
                    "readmission without": shown(group.readmission_control),
                    "averted per 100": shown(group.averted_per_100),
                }
            )
    return pd.DataFrame(rows)


def progress_text(view: ExploreView) -> str:
    """``12 of 40 replicates``."""
    return f"{view.n} of {view.total} replicates"
