"""Figures a report can use. Each function returns a matplotlib Figure; callers save it.

Figures are built on :class:`matplotlib.figure.Figure` directly, so no global
pyplot state or interactive backend is touched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from peersim.results import OVERALL


def _site_bars(ax, summary: pd.DataFrame, metric: str, sites: list[str], title: str) -> None:  # type: ignore[no-untyped-def]
    table = summary[summary["metric"] == metric].set_index("site")
    means = np.array([table.loc[s, "mean"] if s in table.index else np.nan for s in sites])
    lo = np.array([table.loc[s, "lo"] if s in table.index else np.nan for s in sites])
    hi = np.array([table.loc[s, "hi"] if s in table.index else np.nan for s in sites])
    x = np.arange(len(sites))
    ax.bar(x, means, color="#4C72B0")
    ax.errorbar(x, means, yerr=[means - lo, hi - means], fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(x, sites, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)


def summary_figure(summary: pd.DataFrame, timeseries: pd.DataFrame, sites: list[str], title: str) -> Figure:
    """Four panels: engagement, fidelity, readmission by arm, and ward acceptance over time.

    Parameters
    ----------
    summary
        Output of :func:`peersim.summary.summarise` (mean and 95% interval per site).
    timeseries
        Stacked ``timeseries`` tables of one or more runs (``week, site, metric, value``).
    sites
        Site names in display order.
    title
        Figure title.
    """
    fig = Figure(figsize=(11, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    labels = [*sites, OVERALL] if len(sites) > 1 else list(sites)
    _site_bars(axes[0, 0], summary, "engagement_rate", labels, "Engaged (>= 2 contacts), peer support arm")
    _site_bars(axes[0, 1], summary, "fidelity_index", labels, "Delivered fidelity index (0-1)")

    ax = axes[1, 0]
    x = np.arange(len(labels))
    for offset, (metric, name, colour) in enumerate(
        (
            ("readmission_rate_intervention", "peer support", "#55A868"),
            ("readmission_rate_control", "usual care", "#C44E52"),
        )
    ):
        table = summary[summary["metric"] == metric].set_index("site")
        means = np.array([table.loc[s, "mean"] if s in table.index else np.nan for s in labels])
        lo = np.array([table.loc[s, "lo"] if s in table.index else np.nan for s in labels])
        hi = np.array([table.loc[s, "hi"] if s in table.index else np.nan for s in labels])
        pos = x + (offset - 0.5) * 0.4
        ax.bar(pos, means, width=0.4, color=colour, label=name)
        ax.errorbar(pos, means, yerr=[means - lo, hi - means], fmt="none", ecolor="black", capsize=2)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("12-month readmission by arm", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    acceptance = timeseries[timeseries["metric"] == "ward_acceptance"]
    for site in sites:
        grouped = acceptance[acceptance["site"] == site].groupby("week")["value"]
        weeks = grouped.mean().index.to_numpy()
        ax.plot(weeks, grouped.mean().to_numpy(), label=site, linewidth=1.5)
        ax.fill_between(
            weeks, grouped.quantile(0.025).to_numpy(), grouped.quantile(0.975).to_numpy(), alpha=0.15
        )
    ax.set_ylim(0, 1)
    ax.set_xlabel("week")
    ax.set_title("Ward staff acceptance over time", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    return fig
