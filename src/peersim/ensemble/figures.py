"""Figures of ensembles and comparisons. Each function returns a matplotlib Figure; callers save it.

Figures are built on :class:`matplotlib.figure.Figure` directly, so no global
pyplot state or interactive backend is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from peersim.core.results import ARMS, OVERALL
from peersim.ensemble.summary import MAIN_YEAR_METRICS, weekly_bands

TRAJECTORY_METRICS: dict[str, str] = {
    "engagement_rate": "Engaged share of those offered so far (0-1)",
    "fidelity_index": "Fidelity index of peer workers in post (0-1)",
    "ward_acceptance": "Ward staff acceptance (0-1)",
    "pw_strain": "Peer worker strain (0-1)",
}
"""Weekly series drawn by :func:`trajectories_figure`, with panel titles."""

SHARE_METRICS: tuple[str, ...] = (
    "engagement_rate",
    "fidelity_index",
    "fidelity_trusting_relationships",
    "fidelity_reciprocity_mutuality",
    "fidelity_leadership_choice_control",
    "fidelity_strengths_community",
    "readmission_rate_intervention",
    "readmission_rate_control",
    "readmission_rate_engaged",
    "readmission_rate_not_engaged",
    "itt_risk_difference",
    "pw_strain",
    "ward_acceptance",
)
"""Metrics on a 0-1 scale, drawn on one shared axis in :func:`forest_figure`."""
OTHER_METRICS: tuple[str, ...] = (
    "mean_contacts",
    "contacts_before_discharge",
    "supervision_sessions",
    "vacancy_weeks",
    "itt_odds_ratio",
)
"""Metrics on their own scales, one small panel each in :func:`forest_figure`."""

COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def _colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


PREDICTIVE_LEGEND = "thick: 95% predictive interval of the effect (posterior + model noise)"
PREDICTIVE_LEGEND_POINT = "thick: 95% predictive interval of the effect (model noise only, no posterior)"
MEAN_LEGEND = "thin, light: 95% interval of the mean"
"""Legend entries of :func:`forest_figure` for its two intervals."""


def forest_figure(
    differences: pd.DataFrame, site: str = OVERALL, title: str = "", with_posterior: bool = True
) -> Figure:
    """Forest plot of paired differences (what-if - base) with both 95% intervals.

    Parameters
    ----------
    differences
        Output of :func:`peersim.stats.paired_differences` for one or more
        what-ifs (column ``comparison`` tells them apart).
    site
        Which site's differences to draw (default: all sites pooled).
    title
        Figure title.
    with_posterior
        Whether the replicates drew mechanism strengths from a posterior; the
        legend says the predictive interval then carries posterior + model
        noise, else model noise only.

    Notes
    -----
    Each metric gets a thick, dark bar for the 95% predictive interval of the
    effect (``predictive_lo`` to ``predictive_hi``: where the difference of one
    paired run falls, posterior + model noise; the primary answer), a thin,
    light bar inside it for the 95% interval of the mean (``lo`` to ``hi``),
    and a dot at the mean difference; the legend says which is which. A frame
    without the predictive columns (from before they existed) draws the
    interval of the mean only. Shares and indices on a 0-1 scale share one axis
    (left); contacts, sessions, vacancy weeks and the odds ratio each get a
    small panel with their own scale (right). A dotted line marks no difference.
    """
    from matplotlib.lines import Line2D

    rows = differences[differences["site"] == site]
    labels = list(dict.fromkeys(rows["comparison"]))
    fig = Figure(figsize=(12, 7.5), layout="constrained")
    grid = fig.add_gridspec(len(OTHER_METRICS), 2, width_ratios=(1.5, 1))
    offsets = ((len(labels) - 1) / 2 - np.arange(len(labels))) * (0.7 / max(1, len(labels)))  # first on top

    ax = fig.add_subplot(grid[:, 0])
    shares = [m for m in SHARE_METRICS if m in set(rows["metric"])]
    y = np.arange(len(shares))[::-1].astype(float)
    for k, label in enumerate(labels):
        table = rows[rows["comparison"] == label].set_index("metric")
        _forest_points(ax, table, shares, y + offsets[k], _colour(k))
    ax.axvline(0.0, color="black", linewidth=0.8, linestyle=":")
    ax.set_yticks(y, shares, fontsize=8)
    ax.set_xlabel("difference, what-if - base (0-1 scale)")
    ax.set_title("Shares and indices", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if labels:
        handles: list[Any] = [
            Line2D([], [], color=_dark(_colour(k)), linewidth=_PREDICTIVE_WIDTH, marker="o",
                   markersize=4, markerfacecolor="white", label=label)
            for k, label in enumerate(labels)
        ]  # fmt: skip
        handles += [
            Line2D(
                [],
                [],
                color="#333333",
                linewidth=_PREDICTIVE_WIDTH,
                label=PREDICTIVE_LEGEND if with_posterior else PREDICTIVE_LEGEND_POINT,
            ),
            Line2D([], [], color="#BBBBBB", linewidth=_MEAN_WIDTH, label=MEAN_LEGEND),
        ]
        fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncol=2)

    for r, metric in enumerate(OTHER_METRICS):
        sub = fig.add_subplot(grid[r, 1])
        for k, label in enumerate(labels):
            table = rows[rows["comparison"] == label].set_index("metric")
            _forest_points(sub, table, [metric], np.array([offsets[k]]), _colour(k))
        sub.axvline(0.0, color="black", linewidth=0.8, linestyle=":")
        sub.set_yticks([])
        sub.set_ylim(-0.6, 0.6)
        sub.set_title(metric, fontsize=8, loc="left")
        sub.tick_params(axis="x", labelsize=7)
        sub.grid(axis="x", alpha=0.3)
    fig.suptitle(
        title
        or f"Paired differences (what-if - base), {site}: 95% predictive interval (thick) "
        "and interval of the mean (thin)"
    )
    return fig


_PREDICTIVE_WIDTH = 5.0
_MEAN_WIDTH = 1.4


def _dark(colour: str, factor: float = 0.65) -> tuple[float, float, float]:
    """``colour`` darkened towards black (``factor`` of each channel kept)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return r * factor, g * factor, b * factor


def _light(colour: str, factor: float = 0.7) -> tuple[float, float, float]:
    """``colour`` lightened towards white (``factor`` of the way)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return r + (1 - r) * factor, g + (1 - g) * factor, b + (1 - b) * factor


def _forest_points(ax: Any, table: pd.DataFrame, metrics: Sequence[str], y: np.ndarray, colour: str) -> None:
    """Draw each metric's predictive interval (thick, dark), interval of the mean (thin, light) and mean."""

    def column(name: str) -> np.ndarray:
        if name not in table.columns:
            return np.full(len(metrics), np.nan)
        return np.array([table.loc[m, name] if m in table.index else np.nan for m in metrics], dtype=float)

    mean, lo, hi = column("difference"), column("lo"), column("hi")
    plo, phi = column("predictive_lo"), column("predictive_hi")
    shown = np.isfinite(plo) & np.isfinite(phi)
    ax.hlines(y[shown], plo[shown], phi[shown], color=_dark(colour), linewidth=_PREDICTIVE_WIDTH, zorder=2)
    shown = np.isfinite(lo) & np.isfinite(hi)
    ax.hlines(y[shown], lo[shown], hi[shown], color=_light(colour), linewidth=_MEAN_WIDTH, zorder=3)
    ax.plot(mean, y, "o", color=_dark(colour), markerfacecolor="white", markersize=4, zorder=4)


def _draw_bands(ax: Any, part: pd.DataFrame, colour: str, label: str | None) -> None:
    """Draw one site's weekly mean and band; weeks without one (NaN) are gaps."""
    part = part.sort_values("week")
    weeks = part["week"].to_numpy()
    lo, hi = part["lo"].to_numpy(dtype=float), part["hi"].to_numpy(dtype=float)
    ax.plot(weeks, part["mean"].to_numpy(dtype=float), color=colour, linewidth=1.6, label=label)
    ax.fill_between(weeks, lo, hi, where=np.isfinite(lo) & np.isfinite(hi), color=colour, alpha=0.15)


def partial_weeks_note(bands: pd.DataFrame) -> str:
    """Say which weeks a figure of :func:`~peersim.ensemble.summary.weekly_bands` leaves out (or ``""``).

    For example ``"Weeks 71-79 not drawn: fewer than all 8 replicates last that long."``
    """
    partial = bands[bands["reached"] < bands["replicates"]]
    if partial.empty:
        return ""
    replicates = int(bands["replicates"].max())
    complete = bands.loc[bands["reached"] >= bands["replicates"], "week"]
    last = int(complete.max()) if not complete.empty else None
    late = partial[partial["week"] > last] if last is not None else partial
    note = ""
    if not late.empty:
        first, final = int(late["week"].min()), int(late["week"].max())
        weeks = f"Week {first}" if first == final else f"Weeks {first}-{final}"
        note = f"{weeks} not drawn: fewer than all {replicates} replicates last that long"
    early = len(partial) - len(late)
    if early:
        note += ("; " if note else "") + f"{early} other site-week(s) not drawn: not every replicate has them"
    return note + "."


def trajectories_figure(bands: pd.DataFrame, sites: Sequence[str], title: str = "") -> Figure:
    """Weekly engagement, fidelity, ward acceptance and strain per site with 95% bands.

    Parameters
    ----------
    bands
        Columns ``site, metric, week, mean, lo, hi, n, replicates`` (see
        :func:`peersim.ensemble.summary.timeseries_bands`); the band is the 2.5th to
        97.5th percentile of replicate values that week.
    sites
        Site names in display order.
    title
        Figure title.

    Notes
    -----
    A week whose mean and band are missing (fewer than all replicates last
    that long, see :func:`peersim.ensemble.summary.weekly_bands`) is left out,
    and a note under the panels says which weeks, so every line drawn
    describes every replicate the title counts.
    """
    fig = Figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    for ax, (metric, name) in zip(axes.flat, TRAJECTORY_METRICS.items(), strict=True):
        for k, site in enumerate(sites):
            part = bands[(bands["metric"] == metric) & (bands["site"] == site)]
            if not part.empty:
                _draw_bands(ax, part, _colour(k), site)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("week of delivery")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", fontsize=8, title="site")
    fig.suptitle(title or "Trajectories per site: mean and 95% band of replicates")
    drawn = bands[bands["metric"].isin(list(TRAJECTORY_METRICS))]
    note = partial_weeks_note(drawn) if "reached" in bands else ""
    if note:
        fig.supxlabel(note, fontsize=8)
    return fig


OUTCOME_PANELS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("readmission_rate", "12-month readmission by arm (0-1)", ARMS, True),
    ("engagement_rate", "Engaged (>= 2 contacts), peer support arm (0-1)", ARMS[:1], True),
    ("mean_contacts", "Peer support contacts per participant, peer support arm", ARMS[:1], False),
    ("fidelity_index", "Delivered fidelity index, peer support arm (0-1)", ARMS[:1], True),
)
"""End-of-run outcomes drawn by :func:`outcomes_figure`: metric, title, arms, 0-1 scale."""


def outcomes_figure(summary: pd.DataFrame, sites: Sequence[str], title: str = "") -> Figure:
    """End-of-run outcomes per site and arm: means with 95% intervals of replicates.

    Parameters
    ----------
    summary
        Columns ``site, arm, metric, mean, lo, hi`` (see
        :func:`peersim.ensemble.summary.outcome_summary`).
    sites
        Site names in display order; ``overall`` is added when there are several.
    title
        Figure title.
    """
    labels = [*sites, OVERALL] if len(sites) > 1 else list(sites)
    fig = Figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    x = np.arange(len(labels))
    arm_names = {"peer_support": "peer support", "usual_care": "usual care"}
    for ax, (metric, name, panel_arms, unit_scale) in zip(axes.flat, OUTCOME_PANELS, strict=True):
        part = summary[summary["metric"] == metric]
        arms = [a for a in panel_arms if not part[part["arm"] == a].empty]
        width = 0.8 / max(1, len(arms))
        for k, arm in enumerate(arms):
            table = part[part["arm"] == arm].set_index("site")
            mean, lo, hi = (
                np.array([table.loc[s, c] if s in table.index else np.nan for s in labels], dtype=float)
                for c in ("mean", "lo", "hi")
            )
            pos = x + (k - (len(arms) - 1) / 2) * width
            ax.bar(pos, mean, width=width, color=_colour(k + 2), label=arm_names.get(arm, arm))
            ax.errorbar(pos, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="black", capsize=2)
        ax.set_xticks(
            x, labels, rotation=30 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center"
        )
        if unit_scale:
            ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if len(arms) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title or "End-of-run outcomes per site and arm: mean and 95% interval of replicates")
    return fig


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
        Output of :func:`peersim.ensemble.summary.summarise` (mean and 95% interval per site).
    timeseries
        Stacked ``timeseries`` tables of one or more runs (``week, site, metric,
        value, replicate``), or their bands (:func:`peersim.ensemble.summary.weekly_bands`).
        Weeks that not every replicate reaches are not drawn.
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
    if "mean" not in acceptance.columns:
        acceptance = weekly_bands(acceptance)
    for k, site in enumerate(sites):
        _draw_bands(ax, acceptance[acceptance["site"] == site], _colour(k), site)
    ax.set_ylim(0, 1)
    note = partial_weeks_note(acceptance)
    ax.set_xlabel("week" + (f"\n{note}" if note else ""), fontsize=8 if note else None)
    ax.set_title("Ward staff acceptance over time", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    return fig


YEAR_PANELS: dict[str, tuple[str, bool]] = {
    "engagement_rate": ("Engaged (>= 2 contacts), peer support arm (0-1)", True),
    "unmet_demand": ("Unmet demand: never given a peer worker (share)", False),
    "fidelity_index": ("Delivered fidelity index (0-1)", True),
    "ward_acceptance": ("Ward staff acceptance, mean over the year (0-1)", True),
    "readmissions_averted": ("Readmissions averted (count)", False),
    "peer_worker_leavers": ("Peer workers who left (count)", False),
}
"""Panel titles of :func:`years_figure` by metric of ``MAIN_YEAR_METRICS``, and whether the
axis is the whole 0-1 scale (else it starts at 0, or below for negative values, and fits the data)."""


def years_figure(years: pd.DataFrame, sites: Sequence[str], title: str = "") -> Figure:
    """Outcomes by service year: the overall mean and 95% band of replicates, with each site's mean.

    Parameters
    ----------
    years
        Columns ``year, site, metric, mean, lo, hi`` (see
        :func:`peersim.ensemble.summary.store_summary` of the ``years`` table),
        for the years to draw (1 = delivery weeks 1-52).
    sites
        Site names in display order; with one site only ``overall`` is drawn.
    title
        Figure title.

    Notes
    -----
    One panel per metric of :data:`~peersim.ensemble.summary.MAIN_YEAR_METRICS`.
    The band is the 2.5th to 97.5th percentile over replicates of the value
    pooled over all sites (counts: their total); the sites' means are thin
    lines without bands, so the band stays readable. A year without a value
    (no participants in it) is a gap.
    """
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(12, 7.5), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True)
    shown_sites = list(sites) if len(sites) > 1 else []
    for ax, metric in zip(axes.flat, MAIN_YEAR_METRICS, strict=True):
        name, unit_scale = YEAR_PANELS[metric]
        part = years[years["metric"] == metric]
        for k, site in enumerate(shown_sites):
            rows = part[part["site"] == site].sort_values("year")
            ax.plot(rows["year"], rows["mean"], color=_colour(k), linewidth=1.0, marker=".",
                    markersize=5, alpha=0.85, label=f"{site}: mean")  # fmt: skip
        overall = part[part["site"] == OVERALL].sort_values("year")
        lo, hi = overall["lo"].to_numpy(dtype=float), overall["hi"].to_numpy(dtype=float)
        ax.fill_between(overall["year"], lo, hi, where=np.isfinite(lo) & np.isfinite(hi),
                        color="#333333", alpha=0.15, linewidth=0, label="overall: 95% band")  # fmt: skip
        ax.plot(overall["year"], overall["mean"], color="#222222", linewidth=2.0, marker="o",
                markersize=4, label="overall: mean")  # fmt: skip
        _year_axis(ax, part, unit_scale)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[1]:
        ax.set_xlabel("service year")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", fontsize=8, ncol=min(len(names), 5))
    fig.suptitle(title or "Outcomes by service year: overall mean and 95% band of replicates, site means")
    return fig


def _year_axis(ax: Any, part: pd.DataFrame, unit_scale: bool) -> None:
    """Show the whole 0-1 scale, or 0 (or the lowest value) up to a little above the highest value."""
    if unit_scale:
        ax.set_ylim(0, 1)
        return
    values = part[["mean", "lo", "hi"]].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    low = min(0.0, float(values.min())) if values.size else 0.0
    high = float(values.max()) if values.size else 1.0
    span = (high - low) or 1.0
    ax.set_ylim(low - 0.05 * span * (low < 0), high + 0.1 * span)
