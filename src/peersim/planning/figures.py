"""Frontier figures of a plan: yearly cost against an expected outcome, for every plan of the grid.

Each function returns a :class:`matplotlib.figure.Figure` (no pyplot state);
the CLI saves it as PNG.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

FRONTIER_METRICS: dict[str, tuple[str, str]] = {
    "engagement_rate": ("Expected engagement (share with >= 2 contacts)", "frontier_engagement"),
    "readmissions_averted_per_100": (
        "Expected readmissions averted per 100 discharged",
        "frontier_readmissions",
    ),
}
"""Outcomes drawn against cost: axis label and the frontier flag column of the frontier table."""


def frontier_figure(
    frontier: pd.DataFrame,
    metric: str,
    current: int,
    recommended: int | None = None,
    budget: float | None = None,
    target: float | None = None,
    currency: str = "GBP",
    title: str = "",
) -> Figure:
    """Yearly cost against an expected outcome for every plan, with the frontier and key plans.

    Parameters
    ----------
    frontier
        Output of :func:`peersim.planning.analysis.frontier_table`.
    metric
        ``engagement_rate`` or ``readmissions_averted_per_100``.
    current, recommended
        Plan indices to mark: the site as given (square) and the recommended
        plan (star), if any.
    budget, target
        Drawn as a vertical dashed line (budget) and a horizontal dotted line
        (a target on ``metric``), when given.
    currency
        Unit of the cost axis.
    title
        Figure title.

    Notes
    -----
    Grey points are plans run at the screening replicate count, blue points
    plans confirmed at the full count; the line joins the frontier (no cheaper
    plan does better). Means are over replicates, so screened points are the
    noisier ones.
    """
    label, flag = FRONTIER_METRICS[metric]
    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    cost = frontier["cost_total"].to_numpy(dtype=float) / 1000.0
    value = frontier[metric].to_numpy(dtype=float)
    full = frontier["replicates"].to_numpy() >= frontier["replicates"].max()
    ax.scatter(cost[~full], value[~full], s=14, color="#B0B0B0", label="plan (screened)", zorder=2)
    ax.scatter(cost[full], value[full], s=18, color="#4C72B0", label="plan (confirmed)", zorder=3)
    on = frontier[flag].to_numpy(dtype=bool)
    order = np.argsort(cost[on])
    ax.plot(cost[on][order], value[on][order], color="#4C72B0", linewidth=1.2, label="frontier", zorder=3)
    plans = frontier["plan"].to_numpy()

    def point(index: int) -> tuple[list[float], list[float]]:
        at = int(np.flatnonzero(plans == index)[0])
        return [float(cost[at])], [float(value[at])]

    ax.scatter(
        *point(current),
        marker="s",
        s=70,
        facecolor="none",
        edgecolor="black",
        linewidth=1.5,
        label="site as given",
        zorder=4,
    )
    if recommended is not None:
        ax.scatter(
            *point(recommended),
            marker="*",
            s=220,
            color="#C44E52",
            edgecolor="black",
            linewidth=0.6,
            label="recommended",
            zorder=5,
        )
    if budget is not None:
        ax.axvline(budget / 1000.0, color="#DD8452", linestyle="--", linewidth=1.2, label="budget")
    if target is not None:
        ax.axhline(target, color="#55A868", linestyle=":", linewidth=1.5, label="target")
    ax.set_xlabel(f"Expected yearly cost ({currency} thousands; resourcing + travel)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
