"""Figures of a calibration: prior against posterior marginals, and the posterior predictive check.

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
        ax.axvline(MECHANISM_PARAMS[prior.name].default, color="tab:red", linewidth=1.0)
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


def ppc_figure(table: pd.DataFrame, draws: pd.DataFrame, targets: BoundTargets) -> Figure:
    """One row per target: simulated draws (dots), their 95% interval (bar) and the observation."""
    n = len(targets.targets)
    figure = Figure(figsize=(7.5, 0.7 * n + 1.2), layout="constrained")
    axes = figure.subplots(n, 1, squeeze=False)[:, 0]
    rng = np.random.default_rng(0)  # jitter for display only
    for ax, target, row in zip(axes, targets.targets, table.itertuples(index=False), strict=True):
        values = draws[target.name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        ax.scatter(values, rng.uniform(-0.15, 0.15, values.size), s=6, color="0.6", alpha=0.6)
        ax.plot([row.simulated_lo, row.simulated_hi], [0, 0], color="tab:blue", linewidth=3)
        spec = target.spec
        if spec.is_ordinal:
            bound = spec.at_least if spec.at_least is not None else spec.at_most
            ax.axvline(float(bound or 0.0), color="tab:orange", linestyle="--")
        else:
            ax.plot([spec.low, spec.high], [0.3, 0.3], color="tab:orange", linewidth=2)
            ax.plot([spec.value], [0.3], marker="o", color="tab:orange")
        mark = "pass" if row.passed else "FAIL"
        ax.set_yticks([])
        ax.set_ylim(-0.5, 0.6)
        ax.set_title(
            f"{target.name}: observed {row.observed} [{spec.confidence}] - {mark}", fontsize=8, loc="left"
        )
        ax.tick_params(labelsize=7)
    figure.suptitle(
        "Posterior predictive check: simulated 95% interval (blue) vs observation (orange)", fontsize=9
    )
    return figure
