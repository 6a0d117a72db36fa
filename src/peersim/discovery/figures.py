"""The figure of a discovery: PRIM's trade-off curve with the chosen boxes, and each box's limits.

Built on :class:`matplotlib.figure.Figure` directly: no pyplot global state.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from peersim.discovery.analysis import PHRASES, Limit, limit_text, miss_phrase, number, unit_of
from peersim.discovery.inputs import DUMMY, categories_of
from peersim.sensitivity.inputs import Factor

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from peersim.discovery.result import DiscoveryResult

COLOURS = ("#C44E52", "#4C72B0", "#55A868", "#8172B2", "#CCB974", "#64B5CD")
"""Colour of box 1, 2, ... (red first: where the rollout misses)."""
GREY = "#B8B8B8"
ROWS_SHOWN = 9.0
"""Fewest rows the limits panel is laid out for, so a box with one limit still gets a thin bar."""


def discovery_figure(result: DiscoveryResult, title: str = "") -> Figure:
    """Trade-off curve (coverage against density, chosen boxes marked) beside the limits of each box.

    Parameters
    ----------
    result
        A finished discovery.
    title
        Figure title; a default names the site and the target.
    """
    rows = sum(max(1, len(box.limits)) for box in result.boxes) or 1
    height = max(4.6, 1.9 + 0.55 * (rows + len(result.boxes)))
    figure = Figure(figsize=(12.5, height), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(1.0, 1.25))
    _tradeoff(left, result)
    _limits(right, result)
    inputs = result.inputs
    heading = title or f"peersim discover: where {inputs.site.site.name} misses {inputs.target.text}"
    figure.suptitle(
        f"{heading}\n{result.runs:,} runs ({inputs.n:,} design points x {inputs.replicates}); "
        f"{result.miss_share:.0%} miss: {miss_phrase(inputs.target)}",
        fontsize=10,
    )
    return figure


def _tradeoff(ax: Axes, result: DiscoveryResult) -> None:
    for box in result.boxes:
        colour = COLOURS[(box.index - 1) % len(COLOURS)]
        path = box.trajectory
        ax.plot(path["coverage"], path["density"], "-o", color=colour, markersize=3, linewidth=1, alpha=0.8)
        peeled = (
            float(path["coverage"].to_numpy()[box.chosen]),
            float(path["density"].to_numpy()[box.chosen]),
        )
        if box.dropped:
            ax.scatter(
                [peeled[0]],
                [peeled[1]],
                s=70,
                facecolor="white",
                edgecolor=colour,
                linewidth=1.5,
                zorder=4,
            )
            ax.annotate(
                "",
                xy=(box.coverage, box.density),
                xytext=peeled,
                arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1, "linestyle": "--"},
                zorder=4,
            )
        ax.scatter(
            [box.coverage],
            [box.density],
            marker="*",
            s=260,
            color=colour,
            edgecolor="black",
            linewidth=0.7,
            zorder=5,
            label=f"box {box.index}: coverage {box.coverage:.2f}, density {box.density:.2f}",
        )
        ax.annotate(
            f"box {box.index}",
            (box.coverage, box.density),
            xytext=(8, -12),
            textcoords="offset points",
            fontsize=9,
            color=colour,
            fontweight="bold",
        )
    if any(box.dropped for box in result.boxes):
        ax.scatter(
            [],
            [],
            s=70,
            facecolor="white",
            edgecolor="black",
            label="box as peeled, before limits that are not significant were dropped",
        )
    if not result.unchosen.empty:
        path = result.unchosen
        ax.plot(
            path["coverage"],
            path["density"],
            "--o",
            color=GREY,
            markersize=3,
            linewidth=1,
            label="next search (no box reported)",
        )
    ax.axhline(
        result.inputs.min_density,
        color="black",
        linestyle=":",
        linewidth=1,
        label=f"smallest density reported ({result.inputs.min_density:g})",
    )
    share = result.miss_share
    ax.axhline(share, color=GREY, linestyle="--", linewidth=1, label=f"all runs ({share:.2f})")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0.0, 1.04)
    ax.set_xlabel("coverage: share of all misses inside the box")
    ax.set_ylabel("density: share of the box's runs that miss")
    ax.set_title(
        "Trade-off: PRIM's peeling trajectories (each point a box, peeled right to left)", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower left")


def _limits(ax: Axes, result: DiscoveryResult) -> None:
    factors: dict[str, Factor] = {f.label: f for f in result.inputs.space.factors}
    ax.set_xlim(-0.62, 1.38)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if not result.boxes:
        ax.set_yticks([])
        ax.text(
            0.38,
            0.5,
            f"No box of conditions reaches density {result.inputs.min_density:g}:\n"
            "no region of the factors where most runs miss.",
            ha="center",
            va="center",
            fontsize=10,
        )
        ax.set_ylim(0, 1)
        return
    y = 0.0
    for box in result.boxes:
        colour = COLOURS[(box.index - 1) % len(COLOURS)]
        ax.text(
            -0.6,
            y,
            f"box {box.index}: density {box.density:.0%}, coverage {box.coverage:.0%}, {box.n} runs",
            fontsize=9,
            fontweight="bold",
            color=colour,
            va="center",
        )
        lines = textwrap.wrap(box.sentence[0].upper() + box.sentence[1:] + ".", 100)
        ax.text(-0.6, y - 0.45, "\n".join(lines), fontsize=7.5, style="italic", va="top", color="#333333")
        y -= 1.1 + 0.42 * len(lines)
        for limit in box.limits or (Limit(DUMMY),):
            _limit_row(ax, y, limit, factors.get(limit.factor), colour)
            y -= 1.0
        y -= 0.4
    ax.set_ylim(min(y + 0.6, -ROWS_SHOWN), 0.6)
    ax.set_yticks([])
    ax.set_title("Limits of each box: grey bar the range sampled, coloured part the box", fontsize=9)


def _limit_row(ax: Axes, y: float, limit: Limit, factor: Factor | None, colour: str) -> None:
    shown = "dummy (changes nothing)" if factor is None else _name(factor)
    ax.text(-0.03, y, shown, ha="right", va="center", fontsize=8.5)
    levels = categories_of(factor) if factor is not None else None
    if levels is not None:
        inside = set(limit.values or ())
        for code, level in enumerate(levels):
            start = 0.5 * code
            shade = colour if level in inside else GREY
            ax.barh(y, 0.49, left=start, height=0.55, color=shade, alpha=0.9 if level in inside else 0.5)
            ax.text(start + 0.245, y, level, ha="center", va="center", fontsize=7.5, color="black")
        return
    low, high = _range(factor)
    integer = factor is not None and factor.kind == "integer"
    lo = limit.low - 0.5 if integer and limit.low is not None else limit.low
    hi = limit.high + 0.5 if integer and limit.high is not None else limit.high
    lo = low if lo is None else lo
    hi = high if hi is None else hi
    span = high - low if high > low else 1.0
    ax.barh(y, 1.0, left=0.0, height=0.55, color=GREY, alpha=0.5)
    a, b = (lo - low) / span, (hi - low) / span
    ax.barh(y, max(b - a, 0.01), left=a, height=0.55, color=colour, alpha=0.9)
    first, last = (factor.low, factor.high) if factor is not None else (0.0, 1.0)
    ax.text(0.0, y - 0.42, number(first), ha="left", va="top", fontsize=6.5, color="#707070")
    ax.text(1.0, y - 0.42, number(last), ha="right", va="top", fontsize=6.5, color="#707070")
    unit = unit_of(factor)
    ax.text(1.03, y, limit_text(limit) + (f" {unit}" if unit else ""), ha="left", va="center", fontsize=8.5)


def _name(factor: Factor) -> str:
    """Return a factor's name in words, with its label, e.g. ``"travel (travel_minutes_one_way)"``."""
    words = PHRASES.get(factor.name, (factor.label, ""))[0] if factor.label == factor.name else factor.label
    return words if words == factor.label else f"{words} ({factor.label})"


def _range(factor: Factor | None) -> tuple[float, float]:
    """Return the span of the bar: the sampled range (each whole value of an integer factor a cell)."""
    return (0.0, 1.0) if factor is None else factor.sample_bounds
