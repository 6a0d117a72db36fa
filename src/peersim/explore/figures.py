"""Figures of an exploration, on :class:`matplotlib.figure.Figure` directly (no pyplot state)."""

from __future__ import annotations

from matplotlib.figure import Figure

from peersim.explore.evaluate import ARMS, WEEKLY_METRICS
from peersim.explore.view import ExploreView

PANEL_TITLES: dict[str, str] = {
    "engagement_rate": "Engaged share of those offered so far (0-1)",
    "fidelity_index": "Fidelity of peer workers in post (0-1)",
    "caseload": "People in peer support (caseload, all posts)",
    "ward_acceptance": "Ward staff acceptance of peer workers (0-1)",
}
"""Panel titles of :func:`bands_figure`, one per :data:`~peersim.explore.evaluate.WEEKLY_METRICS`."""
ARM_COLOURS: dict[str, str] = {"plan": "#7f7f7f", "draft": "#1f77b4"}
"""The plan in grey, the draft in blue, in every figure."""


def bands_figure(view: ExploreView, site: str) -> Figure:
    """Weekly mean and 95% band of replicates of each weekly metric, plan against draft (2 x 2 panels)."""
    figure = Figure(figsize=(9.0, 6.0), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True)
    bands = view.bands
    for ax, metric in zip(axes.flat, WEEKLY_METRICS, strict=True):
        for arm in ARMS:
            rows = bands[(bands["site"] == arm) & (bands["metric"] == metric)]
            if rows.empty:
                continue
            colour = ARM_COLOURS[arm]
            week = rows["week"].to_numpy(dtype=float)
            ax.fill_between(
                week,
                rows["lo"].to_numpy(dtype=float),
                rows["hi"].to_numpy(dtype=float),
                color=colour,
                alpha=0.2,
                linewidth=0,
            )
            ax.plot(week, rows["mean"].to_numpy(dtype=float), color=colour, label=arm)
        ax.set_title(PANEL_TITLES[metric], fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("week of the service")
    axes.flat[0].legend(loc="lower right", fontsize=9)
    figure.suptitle(f"{site}: plan and draft week by week (mean and 95% of {view.n} replicates)", fontsize=11)
    return figure
