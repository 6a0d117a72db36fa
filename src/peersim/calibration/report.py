"""The calibration report (Markdown), rendered from the template ``calibration.md.j2``, and its JSON.

The template (``peersim/templates/calibration.md.j2``) lays out the summary, the
targets, the generations, prior against posterior, and the prior against
posterior predictive check around the saved figures; this module only hands it
the tables. :func:`check_rows` is the predictive check as people read it (the
report and the terminal); :func:`target_records` and :func:`parameter_records`
are the same as JSON (``peersim ppc --json`` and ``calibration.json``).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from peersim.calibration.analysis import (
    IDENTIFIED_RATIO,
    INFORMATIVE_GAIN,
    NOT_INFORMED_RATIO,
    ORDINAL_PASS_SHARE,
    PRIOR_CANNOT_MEET_SHARE,
    VERDICTS,
    check_counts,
    link_parameters,
    summary_lines,
)
from peersim.calibration.inputs import BoundTargets
from peersim.io.templates import number, render
from peersim.uncertainty import FEW_EFFECTIVE_PARTICLES, Posterior

FLAG_TEXT = "PRIORS CANNOT MEET"
"""What the ``flag`` column of :func:`check_rows` shows for a target the priors cannot meet."""

TEMPLATE = "calibration.md.j2"
"""Package template of the report."""


def report_markdown(
    *,
    title: str,
    summary: dict[str, Any],
    populations: pd.DataFrame | None,
    ident: pd.DataFrame,
    ppc: pd.DataFrame,
    targets: BoundTargets,
    figures: dict[str, str],
) -> str:
    """Render the calibration report (Markdown) around saved figures.

    Parameters
    ----------
    title
        First heading.
    summary
        Listed under the title, one ``key: value`` line each; a value
        ``effective_sample_size`` below :data:`FEW_EFFECTIVE_PARTICLES` adds a
        warning.
    populations
        ABC-SMC generations (:attr:`CalibrationOutcome.populations
        <peersim.calibration.smc.CalibrationOutcome.populations>`), or ``None``
        for a check of an existing posterior.
    ident
        :func:`~peersim.calibration.analysis.identifiability`.
    ppc
        :func:`~peersim.calibration.analysis.posterior_predictive` (prior and posterior).
    targets
        The targets checked.
    figures
        Relative paths of the saved figures, by key ``marginals`` and ``ppc``.

    Returns
    -------
    str
        The report, ending with a newline.
    """
    target_rows = pd.DataFrame(
        [
            {
                "target": t.name,
                "observed": t.spec.observed_text(),
                "confidence": t.spec.confidence,
                "weight": t.spec.weight,
                "source": t.spec.source,
            }
            for t in targets.targets
        ]
    )
    return render(
        TEMPLATE,
        title=title,
        summary=summary,
        effective_sample_size=float(summary.get("effective_sample_size", math.inf)),
        few_effective_particles=FEW_EFFECTIVE_PARTICLES,
        targets=_table(target_rows),
        generations=_table(populations if populations is not None else pd.DataFrame()),
        ident=_table(link_parameters(ident, ppc)),
        not_informed_ratio=NOT_INFORMED_RATIO,
        identified_ratio=IDENTIFIED_RATIO,
        ppc=_table(check_rows(ppc)),
        ordinal_pass_share=ORDINAL_PASS_SHARE,
        informative_gain=INFORMATIVE_GAIN,
        cannot_meet_share=PRIOR_CANNOT_MEET_SHARE,
        verdicts={key: VERDICTS[key] for key in dict.fromkeys(ppc["verdict"])},
        summary_lines=summary_lines(ppc),
        figures=figures,
    )


def _interval(median: float, lo: float, hi: float) -> str:
    if not math.isfinite(median):
        return "-"
    return f"{number(median)} [{number(lo)}, {number(hi)}]"


def _pass(value: object) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else ("yes" if value else "no")
    )


def check_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Return the predictive check as people read it: prior and posterior side by side, per target.

    Columns: ``target, kind, observed, confidence``, then for ``prior`` and
    ``posterior``: ``median [95%]`` (text), ``meets`` (share of draws meeting
    the observation), ``pass`` (yes/no); ``observed pctl prior / posterior``
    (where a point observation falls among each set of draws, in percent; ``-``
    for an ordinal target, whose share meeting is its location), ``verdict``
    and ``flag`` (:data:`FLAG_TEXT` for a target the priors cannot meet).
    """
    rows = []
    for row in table.to_dict(orient="records"):
        point = row["kind"] == "point" and math.isfinite(row["posterior_percentile"])
        prior_pct = row["prior_percentile"]
        rows.append(
            {
                "target": row["target"],
                "kind": row["kind"],
                "observed": row["observed"],
                "confidence": row["confidence"],
                "prior median [95%]": _interval(row["prior_median"], row["prior_lo"], row["prior_hi"]),
                "prior meets": float(row["prior_share_meeting"]),
                "prior pass": _pass(row["prior_passed"]),
                "posterior median [95%]": _interval(
                    row["posterior_median"], row["posterior_lo"], row["posterior_hi"]
                ),
                "posterior meets": float(row["posterior_share_meeting"]),
                "posterior pass": _pass(row["posterior_passed"]),
                "observed pctl prior / posterior": (
                    f"{number(prior_pct, 0)} / {number(row['posterior_percentile'], 0)}" if point else "-"
                ),
                "verdict": row["verdict"],
                "flag": FLAG_TEXT if row["prior_cannot_meet"] else "",
            }
        )
    return pd.DataFrame(rows)


def _clean(value: Any) -> Any:
    """Return a JSON-ready value: plain Python, ``None`` for a missing number."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _predictive(row: dict[Any, Any], which: str) -> dict[str, Any]:
    return {
        "median": _clean(row[f"{which}_median"]),
        "lo": _clean(row[f"{which}_lo"]),
        "hi": _clean(row[f"{which}_hi"]),
        "share_meeting": _clean(row[f"{which}_share_meeting"]),
        "passed": _clean(row[f"{which}_passed"]),
        "observed_percentile": _clean(row[f"{which}_percentile"]),
        "n_draws": _clean(row["prior_n_draws" if which == "prior" else "n_draws"]),
    }


def target_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the predictive check as JSON records, one per target.

    Each is ``{"name", "kind", "observed", "confidence", "weight",
    "sets_parameter", "prior_predictive": {...}, "posterior_predictive": {...},
    "verdict", "verdict_text", "prior_cannot_meet"}``; each predictive object has
    ``median, lo, hi`` (95% interval), ``share_meeting``, ``passed``,
    ``observed_percentile`` (percent; ``null`` for an ordinal target) and
    ``n_draws``. Missing numbers are ``null``.
    """
    return [
        {
            "name": row["target"],
            "kind": row["kind"],
            "observed": row["observed"],
            "confidence": row["confidence"],
            "weight": _clean(row["weight"]),
            "sets_parameter": row["sets_parameter"] or None,
            "prior_predictive": _predictive(row, "prior"),
            "posterior_predictive": _predictive(row, "posterior"),
            "verdict": row["verdict"],
            "verdict_text": VERDICTS[row["verdict"]],
            "prior_cannot_meet": bool(row["prior_cannot_meet"]),
        }
        for row in table.to_dict(orient="records")
    ]


def parameter_records(ident: pd.DataFrame, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Return identifiability as JSON records (every column, with ``set_by`` and ``verdict``)."""
    linked = link_parameters(ident, table)
    return [
        {str(key): _clean(value) for key, value in row.items()} | {"set_by": row["set_by"] or None}
        for row in linked.to_dict(orient="records")
    ]


def check_document(
    posterior: Posterior, ident: pd.DataFrame, table: pd.DataFrame, /, **about: Any
) -> dict[str, Any]:
    """Return one JSON document of a check.

    Keys: ``about`` (e.g. target set, scenario, draws, seed) first, then
    ``posterior`` (source, particles, effective sample size, ...), ``targets``
    (:func:`target_records`), ``parameters`` (:func:`parameter_records`) and
    ``predictive_summary`` (:func:`~peersim.calibration.analysis.check_counts`, with the
    summary lines as ``lines``).
    """
    return {
        **{key: _clean(value) for key, value in about.items()},
        "posterior": posterior.describe(),
        "targets": target_records(table),
        "parameters": parameter_records(ident, table),
        "predictive_summary": check_counts(table) | {"lines": summary_lines(table)},
    }


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    """Return ``frame`` as the template takes it: column names, and rows of plain Python values."""
    return {"columns": [str(c) for c in frame.columns], "rows": frame.to_dict(orient="records")}
