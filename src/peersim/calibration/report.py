"""What a calibration shows: identifiability, posterior predictive checks, figures, report.

* :func:`identifiability` compares each parameter's posterior spread with its
  prior's: the ratio of weighted posterior standard deviation to the uniform
  prior's. Near 1 the targets did not inform the parameter (flagged above
  :data:`NOT_INFORMED_RATIO`).
* :func:`posterior_predictive` draws replicates exactly as ``peersim run`` with
  the posterior does (replicate ``i`` of the seed, its particle drawn from the
  replicate seed's posterior stream; one run each, the scale of one study) and
  sets each target's observation against the simulated 95% interval. A point
  target passes when its observed value lies inside that interval; an ordinal
  target passes when at least half of the draws meet the constraint.
* :func:`marginals_figure` and :func:`ppc_figure` return matplotlib figures;
  :func:`report_markdown` writes the report around them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from peersim.calibration.posterior import Posterior, weighted_quantiles, weighted_sd
from peersim.calibration.priors import Priors
from peersim.calibration.targets import BoundTargets
from peersim.executor import Executor, LocalExecutor, TaskFailure
from peersim.parameters import MECHANISM_PARAMS
from peersim.scenario import Scenario
from peersim.streams import replicate_seed

NOT_INFORMED_RATIO = 0.8
"""Posterior-to-prior spread ratio above which a parameter is flagged as not informed."""

PPC_INTERVAL = (2.5, 97.5)
"""Percentiles of the posterior predictive draws shown as the simulated 95% interval."""

FEW_EFFECTIVE_PARTICLES = 50
"""Effective sample size below which the report warns that summaries are rough."""

ORDINAL_PASS_SHARE = 0.5
"""Share of posterior predictive draws that must meet an ordinal constraint for it to pass."""


def identifiability(posterior: Posterior, priors: Priors) -> pd.DataFrame:
    """Prior against posterior spread per calibrated parameter.

    Returns
    -------
    pandas.DataFrame
        ``parameter, prior_low, prior_high, posterior_mean, posterior_q05,
        posterior_q95, prior_sd, posterior_sd, spread_ratio, informed`` (one row
        per parameter, declaration order); ``informed`` is
        ``spread_ratio <= NOT_INFORMED_RATIO``.
    """
    rows = []
    for prior in priors.priors:
        values = posterior.particles[prior.name].to_numpy(dtype=float)
        q05, q95 = weighted_quantiles(values, posterior.weights, [0.05, 0.95])
        sd = weighted_sd(values, posterior.weights)
        ratio = sd / prior.sd
        rows.append(
            {
                "parameter": prior.name,
                "prior_low": prior.low,
                "prior_high": prior.high,
                "posterior_mean": float(np.sum(posterior.weights * values)),
                "posterior_q05": float(q05),
                "posterior_q95": float(q95),
                "prior_sd": prior.sd,
                "posterior_sd": sd,
                "spread_ratio": ratio,
                "informed": bool(ratio <= NOT_INFORMED_RATIO),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PpcTask:
    """One posterior predictive replicate: what ``peersim run`` would run for replicate ``index``."""

    scenario: Scenario
    targets: BoundTargets
    posterior: Posterior
    seed: int
    index: int


def ppc_values(task: PpcTask) -> dict[str, float]:
    """Target statistics of one posterior predictive replicate (module-level for executors)."""
    from peersim.api import run

    seed = replicate_seed(task.seed, task.index)
    return task.targets.values(run(task.posterior.apply_to(task.scenario, seed), seed))


def predictive_draws(
    posterior: Posterior,
    scenario: Scenario,
    targets: BoundTargets,
    draws: int,
    seed: int,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Simulate ``draws`` posterior predictive replicates; one row per replicate, one column per target.

    Raises
    ------
    RuntimeError
        If a replicate fails (a model error, not bad input).
    """
    posterior.check_against(scenario)
    tasks = [PpcTask(scenario, targets, posterior, seed, index) for index in range(draws)]
    own = executor is None
    pool: Executor = LocalExecutor(1) if executor is None else executor
    rows: dict[int, dict[str, float]] = {}
    try:
        for index, outcome in pool.imap_unordered(ppc_values, tasks):
            if isinstance(outcome, TaskFailure):
                raise RuntimeError(f"posterior predictive replicate {index} failed: {outcome}")
            rows[index] = outcome
    finally:
        if own:
            pool.close()
    frame = pd.DataFrame([rows[i] for i in range(draws)], columns=targets.names)
    frame.insert(0, "replicate", range(draws))
    return frame


PRIOR_SAMPLE_KEY = 0x505249
"""Spawn-key word of the generator that draws prior samples for the prior predictive ("PRI")."""


def prior_sample(priors: Priors, fixed: dict[str, float], n: int, seed: int) -> Posterior:
    """``n`` equally weighted draws from the priors, as a posterior-shaped object (seeded)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PRIOR_SAMPLE_KEY,)))
    particles = pd.DataFrame({p.name: rng.uniform(p.low, p.high, n) for p in priors.priors})
    return Posterior(particles, np.ones(n), fixed=dict(fixed), source="<prior>")


def _share_meeting(target: Any, values: np.ndarray) -> float:
    return float(np.mean([target.satisfied(v) for v in values])) if values.size else math.nan


def posterior_predictive(
    draws: pd.DataFrame, targets: BoundTargets, prior_draws: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Posterior predictive check table from :func:`predictive_draws`.

    Parameters
    ----------
    draws
        Posterior predictive draws.
    targets
        The targets checked.
    prior_draws
        Prior predictive draws (same replicate seeds), to show how much each
        target could inform: ``prior_share_meeting``.

    Returns
    -------
    pandas.DataFrame
        ``target, kind, observed, confidence, weight, simulated_median,
        simulated_lo, simulated_hi, share_meeting, [prior_share_meeting,]
        n_draws, passed``. For a point target ``share_meeting`` is the share of
        draws inside the observed interval; for an ordinal one, the share
        meeting the constraint.
    """
    rows = []
    for target in targets.targets:
        values = draws[target.name].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        spec = target.spec
        if finite.size:
            lo, median, hi = np.percentile(finite, [PPC_INTERVAL[0], 50.0, PPC_INTERVAL[1]])
        else:
            lo = median = hi = math.nan
        meeting = _share_meeting(target, values)
        if spec.is_ordinal:
            passed = bool(meeting >= ORDINAL_PASS_SHARE)
        else:
            passed = bool(finite.size and lo <= float(spec.value or 0.0) <= hi)
        rows.append(
            {
                "target": target.name,
                "kind": "ordinal" if spec.is_ordinal else "point",
                "observed": spec.observed_text(),
                "confidence": spec.confidence,
                "weight": spec.weight,
                "simulated_median": float(median),
                "simulated_lo": float(lo),
                "simulated_hi": float(hi),
                "share_meeting": meeting,
                **(
                    {
                        "prior_share_meeting": _share_meeting(
                            target, prior_draws[target.name].to_numpy(dtype=float)
                        )
                    }
                    if prior_draws is not None
                    else {}
                ),
                "n_draws": int(finite.size),
                "passed": passed,
            }
        )
    return pd.DataFrame(rows)


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


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """Render a table as GitHub-flavoured Markdown."""
    columns = list(columns or frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for record in frame[columns].itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in record) + " |")
    return "\n".join(lines)


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
    """Assemble the calibration report (Markdown) around saved figures."""
    lines = [f"# {title}", ""]
    for key, value in summary.items():
        lines.append(f"- **{key}**: {value}")
    ess = float(summary.get("effective_sample_size", math.inf))
    if ess < FEW_EFFECTIVE_PARTICLES:
        lines += [
            "",
            f"**Few effective particles (ESS {ess:.1f} < {FEW_EFFECTIVE_PARTICLES}):** the posterior "
            "rests on a handful of particles, so its intervals and spread ratios are rough. "
            "Raise --population (and --generations) for results to rely on.",
        ]
    lines += ["", "## Targets", ""]
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
    lines.append(markdown_table(target_rows))
    if populations is not None and not populations.empty:
        lines += ["", "## Generations", "", markdown_table(populations)]
    flagged = ident.loc[~ident["informed"], "parameter"].tolist()
    lines += [
        "",
        "## Parameters: prior against posterior",
        "",
        f"Spread ratio = weighted posterior SD / prior SD; above {NOT_INFORMED_RATIO} the targets "
        "did not inform the parameter (informed = no). Intervals are the weighted 5th-95th percentiles.",
        "",
        markdown_table(
            ident,
            [
                "parameter",
                "prior_low",
                "prior_high",
                "posterior_mean",
                "posterior_q05",
                "posterior_q95",
                "spread_ratio",
                "informed",
            ],
        ),
        "",
        "Not informed: " + (", ".join(flagged) if flagged else "none") + ".",
    ]
    if "marginals" in figures:
        lines += ["", f"![Prior against posterior marginals]({figures['marginals']})"]
    n_pass = int(ppc["passed"].sum())
    lines += [
        "",
        "## Posterior predictive check",
        "",
        "Each draw is one replicate as `peersim run` with this posterior makes it (one study-sized "
        "run, its mechanisms drawn from the posterior). Point targets pass when the observed value "
        f"lies in the simulated 95% interval; ordinal targets when at least {ORDINAL_PASS_SHARE:.0%} "
        "of draws meet them. `share_meeting`: share of draws inside the observed interval (point) "
        "or meeting the constraint (ordinal); `prior_share_meeting`: the same for draws from the "
        "priors (same seeds), i.e. before calibration. A target that most prior draws already meet "
        "carried little information.",
        "",
        markdown_table(
            ppc,
            [
                "target",
                "kind",
                "observed",
                "confidence",
                "simulated_median",
                "simulated_lo",
                "simulated_hi",
                "share_meeting",
                *(["prior_share_meeting"] if "prior_share_meeting" in ppc.columns else []),
                "passed",
            ],
        ),
        "",
        f"{n_pass} of {len(ppc)} targets pass.",
    ]
    if "ppc" in figures:
        lines += ["", f"![Posterior predictive check]({figures['ppc']})"]
    return "\n".join(lines) + "\n"
