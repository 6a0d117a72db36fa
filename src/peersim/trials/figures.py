"""The held-out trials figure: per outcome, the predicted interval against the published value.

Built on :class:`matplotlib.figure.Figure` directly: no pyplot global state.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

_PREDICTED = "#4C72B0"
_OBSERVED = "#C44E52"
_NOT_TESTED = "#8C8C8C"


def trials_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """One panel per outcome, one row of panels per study.

    The bar is the central 95% predictive interval over replicates, the tick
    in it the median; the dot is the published value with its published 95%
    interval where there is one. Outcomes that are not tests (inputs,
    calibration figures) are drawn in grey and say so.

    Parameters
    ----------
    table
        Rows of ``trials.csv`` (:attr:`peersim.trials.workflow.TrialsResult.table`).
    title
        Figure title.
    """
    studies = list(dict.fromkeys(table["study"]))
    cols = max(1, int(table.groupby("study").size().max()))
    figure = Figure(figsize=(3.2 * cols, 2.4 * len(studies) + 0.6), layout="constrained")
    axes = figure.subplots(len(studies), cols, squeeze=False)
    for r, study in enumerate(studies):
        rows = table[table["study"] == study].to_dict("records")
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(rows):
                ax.set_visible(False)
                continue
            _panel(ax, rows[c], study if c == 0 else "")
    if title:
        figure.suptitle(title)
    return figure


def _panel(ax: Any, row: dict[str, Any], study: str) -> None:
    colour = _PREDICTED if row["tested"] else _NOT_TESTED
    lo, hi, median = float(row["lo"]), float(row["hi"]), float(row["median"])
    if math.isfinite(lo) and math.isfinite(hi):
        ax.barh([1], [hi - lo], left=[lo], height=0.35, color=colour, alpha=0.45, label="predicted 95%")
        ax.plot([median, median], [0.82, 1.18], color=colour, linewidth=2.0, label="predicted median")
    observed = float(row["observed"])
    low, high = row.get("observed_ci_low"), row.get("observed_ci_high")
    if low is not None and high is not None and math.isfinite(float(low)):
        xerr = [[observed - float(low)], [float(high) - observed]]
        ax.errorbar(
            [observed], [0], xerr=xerr, fmt="o", color=_OBSERVED, capsize=3, label="published (95% CI)"
        )
    else:
        ax.plot([observed], [0], "o", color=_OBSERVED, label="published")
    ax.set_yticks([0, 1], ["published", "predicted"], fontsize=8)
    ax.set_ylim(-0.6, 1.6)
    ends = [v for v in (lo, hi, observed, _number(low), _number(high)) if math.isfinite(v)]
    pad = 0.08 * (max(ends) - min(ends)) or 0.05
    ax.set_xlim(min(ends) - pad, max(ends) + pad)  # bars stick to their ends; leave room
    ax.tick_params(axis="x", labelsize=8)
    if row["tested"]:
        note = f"\npercentile {float(row['percentile']):.2f}, {'covered' if row['covered'] else 'missed'}"
    else:
        note = f" ({row['role']}: not a test)"
    ax.set_title(f"{row['metric']}{note}", fontsize=9)
    if study:
        ax.set_ylabel(study, fontsize=10)


def _number(value: Any) -> float:
    """``value`` as a float; NaN for a missing one (``None``, an empty CSV cell)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
