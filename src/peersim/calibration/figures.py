"""Figures of a calibration: prior against posterior marginals, and the prior and posterior predictive check.

Each function returns a :class:`matplotlib.figure.Figure` (no pyplot state); callers save it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from peersim.calibration.analysis import NOT_INFORMED_RATIO
from peersim.calibration.inputs import BoundTargets, Priors
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.uncertainty import Posterior


def marginals_figure(posterior: Posterior, priors: Priors, ident: pd.DataFrame | None = None) -> Figure:
    """Prior (uniform, grey) against weighted posterior histogram (blue), one panel per parameter."""
    names = priors.names
    columns = 4 if len(names) > 6 else min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    ratios = dict(zip(ident["parameter"], ident["spread_ratio"], strict=True)) if ident is not None else {}
    for ax, prior in zip(axes.flat, priors.priors, strict=False):
        values = posterior.particles[prior.name].to_numpy(dtype=float)
        bins = np.linspace(prior.low, prior.high, 21)
        ax.hist(values, bins=bins, weights=posterior.weights, density=True, color="tab:blue", alpha=0.7)
        ax.axhline(1.0 / (prior.high - prior.low), color="0.4", linestyle="--", linewidth=1.2)
        ax.axvline(MECHANISM_PARAMS[prior.parameter].default, color="tab:red", linewidth=1.0)
        title = prior.name
        if prior.name in ratios:
            ratio = ratios[prior.name]
            title += f"\nspread ratio {ratio:.2f}" + (" (not informed)" if ratio > NOT_INFORMED_RATIO else "")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    figure.suptitle("Prior (dashed) vs posterior (bars); red line: declared default", fontsize=10)
    return figure


PRIOR_COLOUR = "#9ecae1"
"""Prior predictive draws in the check figure (light)."""

POSTERIOR_COLOUR = "#08519c"
"""Posterior predictive draws in the check figure (dark)."""

OBSERVED_COLOUR = "tab:orange"


def _pass_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "pass" if value else "FAIL"


def ppc_figure(table: pd.DataFrame, draws: pd.DataFrame, targets: BoundTargets) -> Figure:
    """One row per target: prior (light) and posterior (dark) predictive draws against the observation.

    Parameters
    ----------
    table
        :func:`~peersim.calibration.analysis.posterior_predictive`.
    draws
        The simulated target values per draw; with a ``draws_from`` column
        (``prior`` or ``posterior``, as :class:`~peersim.calibration.workflow.CheckResult`
        keeps them) both are drawn, without it every row is a posterior draw.
    targets
        The targets checked.

    Each row shows the draws as dots with their 95% interval (bar) and median
    (tick), the prior above the posterior; the observation in orange (a point
    target's value and interval, an ordinal target's bound with the side that
    meets it shaded).
    """
    n = len(targets.targets)
    figure = Figure(figsize=(7.5, 0.95 * n + 1.2), layout="constrained")
    axes = figure.subplots(n, 1, squeeze=False)[:, 0]
    rng = np.random.default_rng(0)  # jitter for display only
    if "draws_from" in draws.columns:
        sets = {which: draws[draws["draws_from"] == which] for which in ("prior", "posterior")}
    else:
        sets = {"prior": draws.iloc[0:0], "posterior": draws}
    rows = zip(axes, targets.targets, table.to_dict(orient="records"), strict=True)
    for ax, target, row in rows:
        spec = target.spec
        if spec.is_ordinal:
            bound = float(spec.at_least if spec.at_least is not None else (spec.at_most or 0.0))
            ax.axvline(bound, color=OBSERVED_COLOUR, linestyle="--", linewidth=1.2)
            side = (bound, np.inf) if spec.at_least is not None else (-np.inf, bound)
        else:
            ax.axvspan(float(spec.low or 0.0), float(spec.high or 0.0), color=OBSERVED_COLOUR, alpha=0.15)
            ax.axvline(float(spec.value or 0.0), color=OBSERVED_COLOUR, linewidth=1.5)
        for which, y, colour in (("prior", 0.25, PRIOR_COLOUR), ("posterior", -0.25, POSTERIOR_COLOUR)):
            values = sets[which][target.name].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            ax.scatter(values, y + rng.uniform(-0.1, 0.1, values.size), s=5, color=colour, alpha=0.5)
            lo, median, hi = row[f"{which}_lo"], row[f"{which}_median"], row[f"{which}_hi"]
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=colour, linewidth=3, solid_capstyle="butt")
                ax.plot([median], [y], marker="|", markersize=10, color="black")
        if spec.is_ordinal:
            low, high = ax.get_xlim()
            ax.axvspan(max(side[0], low), min(side[1], high), color=OBSERVED_COLOUR, alpha=0.1)
            ax.set_xlim(low, high)
        ax.set_yticks([0.25, -0.25], ["prior", "posterior"], fontsize=7)
        ax.set_ylim(-0.5, 0.5)
        flag = " - PRIORS CANNOT MEET" if row["prior_cannot_meet"] else ""
        ax.set_title(
            f"{target.name}: observed {row['observed']} [{spec.confidence}] - prior "
            f"{_pass_text(row['prior_passed'])}, posterior {_pass_text(row['posterior_passed'])}: "
            f"{row['verdict']}{flag}",
            fontsize=8,
            loc="left",
        )
        ax.tick_params(axis="x", labelsize=7)
    figure.suptitle(
        "Prior (light) and posterior (dark) predictive draws: 95% interval (bar), median (tick); "
        "observation in orange",
        fontsize=9,
    )
    return figure
