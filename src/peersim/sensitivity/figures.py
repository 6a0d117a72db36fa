"""Figures of sensitivity indices. Each function returns a matplotlib Figure; callers save it.

Built on :class:`matplotlib.figure.Figure` directly: no pyplot global state.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from peersim.sensitivity.inputs import DUMMY

_S1 = "#4C72B0"
_ST = "#DD8452"
_DUMMY = "#8C8C8C"


def _panels(n: int, width: float = 6.0, height: float = 4.0) -> tuple[Figure, list[Any]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return figure, axes[:n]


def _full_n(indices: pd.DataFrame) -> pd.DataFrame:
    """Rows at the full N (not the N/2 re-analysis)."""
    return indices[indices["n"] == indices["n"].max()]


def sobol_figure(indices: pd.DataFrame, screening: pd.DataFrame, title: str = "") -> Figure:
    """Sobol' S1 and ST bars with 95% intervals, one panel per output.

    Factors are ordered by ST; the dashed line is the dummy threshold (the dummy's
    upper ST bound) below which a factor is non-influential.

    Parameters
    ----------
    indices
        Tidy indices (``output, factor, index, n, value, conf``) of a Sobol' analysis.
    screening
        Screening table (``output, factor, threshold``).
    title
        Figure title.
    """
    outputs = list(dict.fromkeys(indices["output"]))
    figure, axes = _panels(max(1, len(outputs)))
    table = _full_n(indices)
    for ax, output in zip(axes, outputs, strict=False):
        rows = table[table["output"] == output]
        st = rows[rows["index"] == "ST"].set_index("factor")
        s1 = rows[rows["index"] == "S1"].set_index("factor")
        order = st["value"].sort_values(ascending=False).index.tolist()
        x = np.arange(len(order))
        ax.bar(
            x - 0.2, s1.loc[order, "value"], 0.4, yerr=s1.loc[order, "conf"], color=_S1, capsize=2, label="S1"
        )
        ax.bar(
            x + 0.2, st.loc[order, "value"], 0.4, yerr=st.loc[order, "conf"], color=_ST, capsize=2, label="ST"
        )
        _threshold_line(ax, screening, output, horizontal=True)
        ax.set_xticks(x, order, rotation=40, ha="right", fontsize=8)
        for tick, name in zip(ax.get_xticklabels(), order, strict=True):
            if name == DUMMY:
                tick.set_color(_DUMMY)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylabel("Sobol' index")
        ax.set_title(output, fontsize=10)
        ax.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def morris_figure(indices: pd.DataFrame, screening: pd.DataFrame, title: str = "") -> Figure:
    """Morris mu* against sigma, one panel per output, with mu* intervals.

    Factors right of the dashed line (the dummy's upper mu* bound) are influential;
    a high sigma relative to mu* signals interactions or non-linearity.
    """
    outputs = list(dict.fromkeys(indices["output"]))
    figure, axes = _panels(max(1, len(outputs)), width=5.5, height=4.5)
    table = _full_n(indices)
    for ax, output in zip(axes, outputs, strict=False):
        rows = table[table["output"] == output]
        mu_star = rows[rows["index"] == "mu_star"].set_index("factor")
        sigma = rows[rows["index"] == "sigma"].set_index("factor")["value"]
        for name in mu_star.index:
            colour = _DUMMY if name == DUMMY else _S1
            ax.errorbar(
                mu_star.loc[name, "value"],
                sigma.loc[name],
                xerr=mu_star.loc[name, "conf"],
                fmt="o",
                color=colour,
                capsize=2,
            )
            ax.annotate(
                name,
                (mu_star.loc[name, "value"], sigma.loc[name]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
                color=colour,
            )
        _threshold_line(ax, screening, output, horizontal=False)
        ax.set_xlabel("mu* (mean |elementary effect|, output units per unit of the range)")
        ax.set_ylabel("sigma")
        ax.set_title(output, fontsize=10)
    if title:
        figure.suptitle(title)
    return figure


def pawn_figure(indices: pd.DataFrame, screening: pd.DataFrame, title: str = "") -> Figure:
    """PAWN median KS statistic with bootstrap 95% intervals, one panel per output."""
    outputs = list(dict.fromkeys(indices["output"]))
    figure, axes = _panels(max(1, len(outputs)))
    table = _full_n(indices)
    for ax, output in zip(axes, outputs, strict=False):
        rows = table[(table["output"] == output) & (table["index"] == "pawn_median")].set_index("factor")
        order = rows["value"].sort_values(ascending=False).index.tolist()
        x = np.arange(len(order))
        colours = [_DUMMY if name == DUMMY else _S1 for name in order]
        ax.bar(x, rows.loc[order, "value"], yerr=rows.loc[order, "conf"], color=colours, capsize=2)
        _threshold_line(ax, screening, output, horizontal=True)
        ax.set_xticks(x, order, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("PAWN median KS")
        ax.set_title(output, fontsize=10)
    if title:
        figure.suptitle(title)
    return figure


def _threshold_line(ax: Any, screening: pd.DataFrame, output: str, horizontal: bool) -> None:
    rows = screening[screening["output"] == output]
    if rows.empty:
        return
    threshold = float(rows["threshold"].iloc[0])
    style = {"color": _DUMMY, "linestyle": "--", "linewidth": 1, "label": "dummy threshold"}
    if horizontal:
        ax.axhline(threshold, **style)
    else:
        ax.axvline(threshold, **style)


def sensitivity_figure(
    method: str, indices: pd.DataFrame, screening: pd.DataFrame, title: str = ""
) -> Figure:
    """Return the figure for ``method``: Sobol' bars, Morris scatter or PAWN bars."""
    draw = {"sobol": sobol_figure, "morris": morris_figure, "pawn": pawn_figure}[method]
    return draw(indices, screening, title)
