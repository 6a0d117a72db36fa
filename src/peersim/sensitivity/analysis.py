"""Analyse evaluated designs with SALib: indices, dummy screening, noise floor, convergence.

For each output the replicate mean at every point is analysed with SALib's
explicit functions (:func:`SALib.analyze.sobol.analyze`,
:func:`SALib.analyze.morris.analyze`, :func:`SALib.analyze.pawn.analyze`), once
on the full design (``N``) and once on its first half (``N/2``).

* **Screening.** The key index is ST (Sobol'), mu* (Morris) or the median KS
  statistic (PAWN). The threshold is the dummy factor's upper confidence bound
  on that index; a factor at or below it is flagged non-influential.
* **Confidence intervals.** Bootstrap over base samples (SALib's own for Sobol'
  and Morris; for PAWN, which SALib gives none, rows resampled here). ``conf`` is
  the half-width of the 95% interval, as in SALib.
* **Noise floor.** The variance of the replicate mean at a fixed point (the
  centre of the factor box, from independent replicates run there) over the
  variance of the replicate mean across the points on common random numbers.
  (The spread of the replicates *within* each point would not do: on common
  random numbers every point uses the same few seeds, so it is essentially one
  draw however many points there are.) For Sobol' it is the ST that pure noise
  would get, which the dummy's ST estimates again, averaged over the design;
  for Morris it is converted to the mu* of pure noise.
* **Convergence.** An index "has not settled" when it moved between ``N/2`` and
  ``N`` by more than both its own 95% half-width at ``N`` and a practical margin
  (0.05 for Sobol' indices and PAWN, a tenth of the largest mu* for Morris).
  Indices negative beyond their interval, and wide intervals, are warned about too.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.streams import as_seed_sequence
from peersim.sensitivity.design import ANALYSIS_KEY, MORRIS_LEVELS, Design, Method
from peersim.sensitivity.inputs import DUMMY

CONF_LEVEL = 0.95
"""Level of every confidence interval."""

NUM_RESAMPLES = 100
"""Bootstrap resamples per interval."""

PAWN_SLICES = 10
"""Conditioning intervals of PAWN."""

SETTLE_MARGIN = 0.05
"""Shift between N/2 and N (Sobol' indices, PAWN) above which an index may not have settled."""

MORRIS_SETTLE_SHARE = 0.10
"""Morris: shift, as a share of the largest mu*, above which mu* may not have settled."""

WIDE_CONF = 0.10
"""Sobol' ST half-width above which intervals are called wide."""

NOISE_WARN_SHARE = 0.10
"""Noise share of the output variance above which a warning suggests more replicates."""

KEY_INDEX: dict[str, str] = {"sobol": "ST", "morris": "mu_star", "pawn": "pawn_median"}
"""The index each method screens on."""

INDEX_COLUMNS = ["method", "output", "factor", "index", "n", "value", "conf", "lo", "hi"]
SCREENING_COLUMNS = [
    "method",
    "output",
    "factor",
    "index",
    "value",
    "conf",
    "upper",
    "threshold",
    "influential",
    "rank",
    "value_half",
    "shift",
    "settled",
]


@dataclass(frozen=True)
class Analysis:
    """Indices and diagnostics of every output.

    Attributes
    ----------
    indices
        Tidy: ``method, output, factor, index, n, value, conf, lo, hi``; ``n`` is
        ``N`` or ``N/2`` (the convergence re-analysis).
    screening
        One row per output and factor (dummy included) with the key index at ``N``,
        its upper bound, the dummy threshold, ``influential``, the rank among real
        factors, the value at ``N/2``, the shift and whether it settled.
    diagnostics
        One row per output: noise share, noise floor in index units, threshold,
        variances, points and whether every index settled.
    warnings
        Messages for the user (convergence, noise, undefined outputs).
    """

    indices: pd.DataFrame
    screening: pd.DataFrame
    diagnostics: pd.DataFrame
    warnings: tuple[str, ...] = field(default=())


def analysis_seed(seed: int) -> int:
    """Positive integer seed for SALib's bootstrap, a child of the base seed.

    SALib's Sobol' analyser falls back to numpy's global generator when given a
    seed of 0, so the seed here is never 0.
    """
    root = as_seed_sequence(seed)
    child = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, ANALYSIS_KEY))
    return int(child.generate_state(1)[0]) | 1


def analyse(
    design: Design,
    Y: np.ndarray,
    outputs: tuple[str, ...],
    seed: int,
    centre_runs: np.ndarray,
) -> Analysis:
    """Analyse ``Y`` (points x replicates x outputs) evaluated on ``design``.

    Parameters
    ----------
    design
        The design ``Y`` was evaluated on.
    Y
        Outputs, shape ``(points, replicates, outputs)``.
    outputs
        Output names.
    seed
        Base seed (the bootstrap uses a child stream).
    centre_runs
        Outputs of independent replicates at the centre of the factor box, shape
        ``(runs, outputs)``, for the noise floor.
    """
    boot_seed = analysis_seed(seed)
    index_frames: list[pd.DataFrame] = []
    screen_frames: list[pd.DataFrame] = []
    diag_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    replicates = Y.shape[1]
    for k, output in enumerate(outputs):
        values = Y[:, :, k]
        ybar = values.mean(axis=1)
        undefined = int(np.isnan(ybar).sum())
        if undefined:
            notes.append(
                f"{output}: undefined (NaN) at {undefined} of {len(ybar)} sample points "
                "(e.g. nobody engaged); not analysed"
            )
            continue
        common = ybar[design.stream == 0]
        if np.ptp(common) <= np.finfo(float).eps * max(1.0, float(np.abs(common).max())):
            notes.append(
                f"{output}: the same value at every sample point on common random numbers "
                "(no factor changes it at this N); not analysed"
            )
            continue
        full = _indices(design, ybar, design.n, boot_seed)
        half = _indices(design, ybar, design.n // 2, boot_seed)
        for frame in (full, half):
            frame.insert(0, "output", output)
            frame.insert(0, "method", design.method)
        index_frames += [full, half]
        noise_share, within, between = _noise(ybar[design.stream == 0], centre_runs[:, k], replicates)
        screening, output_notes = _screen(design.method, output, full, half)
        screen_frames.append(screening)
        notes += output_notes
        floor = _noise_floor(design.method, noise_share, within / replicates)
        dummy = screening[screening["factor"] == DUMMY].iloc[0]
        diag_rows.append(
            {
                "method": design.method,
                "output": output,
                "noise_share": noise_share,
                "noise_floor": floor,
                "threshold": float(dummy["threshold"]),
                "dummy_value": float(dummy["value"]),
                "var_single_run": within,
                "var_between_points": between,
                "points": len(ybar),
                "replicates": replicates,
                "settled": bool(screening["settled"].all()),
                "influential": int(screening["influential"].sum()),
            }
        )
        if noise_share > NOISE_WARN_SHARE:
            notes.append(
                f"{output}: replicate noise is {noise_share:.0%} of the variance across points; "
                "indices near that size cannot be told from noise (raise `replicates`)"
            )
    indices = (
        pd.concat(index_frames, ignore_index=True) if index_frames else pd.DataFrame(columns=INDEX_COLUMNS)
    )
    screening = (
        pd.concat(screen_frames, ignore_index=True)
        if screen_frames
        else pd.DataFrame(columns=SCREENING_COLUMNS)
    )
    return Analysis(indices, screening, pd.DataFrame(diag_rows), tuple(notes))


# --------------------------------------------------------------------------- indices


def _indices(design: Design, ybar: np.ndarray, n: int, boot_seed: int) -> pd.DataFrame:
    rows = design.head(n)
    X = design.X[rows]
    y = np.ascontiguousarray(ybar[rows])
    problem = {**design.problem}
    names = design.names
    records: list[tuple[str, str, int, float, float]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant-output and divide warnings are reported by the caller
        if design.method == "sobol":
            from SALib.analyze import sobol

            si = sobol.analyze(
                problem,
                y,
                calc_second_order=design.second_order,
                num_resamples=NUM_RESAMPLES,
                conf_level=CONF_LEVEL,
                seed=boot_seed,
            )
            for j, name in enumerate(names):
                records.append((name, "S1", n, float(si["S1"][j]), float(si["S1_conf"][j])))
                records.append((name, "ST", n, float(si["ST"][j]), float(si["ST_conf"][j])))
            if design.second_order:
                for j in range(len(names)):
                    for i in range(j + 1, len(names)):
                        pair = f"{names[j]}:{names[i]}"
                        records.append((pair, "S2", n, float(si["S2"][j, i]), float(si["S2_conf"][j, i])))
        elif design.method == "morris":
            from SALib.analyze import morris

            si = morris.analyze(
                problem,
                X,
                y,
                num_resamples=NUM_RESAMPLES,
                conf_level=CONF_LEVEL,
                num_levels=MORRIS_LEVELS,
                seed=boot_seed,
            )
            for j, name in enumerate(names):
                records.append((name, "mu", n, float(si["mu"][j]), math.nan))
                records.append((name, "mu_star", n, float(si["mu_star"][j]), float(si["mu_star_conf"][j])))
                records.append((name, "sigma", n, float(si["sigma"][j]), math.nan))
        else:
            medians, conf, si = _pawn(problem, X, y, boot_seed)
            for j, name in enumerate(names):
                records.append((name, "pawn_median", n, float(medians[j]), float(conf[j])))
                for key in ("minimum", "mean", "maximum", "CV"):
                    records.append((name, f"pawn_{key.lower()}", n, float(si[key][j]), math.nan))
    frame = pd.DataFrame(records, columns=["factor", "index", "n", "value", "conf"])
    frame["lo"] = frame["value"] - frame["conf"]
    frame["hi"] = frame["value"] + frame["conf"]
    return frame


def _pawn(problem: dict[str, Any], X: np.ndarray, y: np.ndarray, boot_seed: int) -> tuple[Any, Any, Any]:
    """PAWN indices from SALib, and a bootstrap half-width for the median (SALib gives none).

    The bootstrap recomputes the median KS statistic with :func:`pawn_medians`, a
    vectorised copy of SALib's slicing and statistic (a test checks the two agree),
    because calling SALib's analyser per resample takes minutes for a dozen factors.
    """
    from SALib.analyze import pawn
    from scipy.stats import norm

    si = pawn.analyze(problem, X, y, S=PAWN_SLICES)
    rng = np.random.default_rng(boot_seed)
    boots = np.empty((NUM_RESAMPLES, X.shape[1]))
    for b in range(NUM_RESAMPLES):
        take = rng.integers(0, len(y), len(y))
        boots[b] = pawn_medians(X[take], y[take], PAWN_SLICES)
    z = float(norm.ppf(0.5 + CONF_LEVEL / 2))
    return np.asarray(si["median"]), z * np.nanstd(boots, axis=0, ddof=1), si


def pawn_medians(X: np.ndarray, y: np.ndarray, slices: int = PAWN_SLICES) -> np.ndarray:
    """Median over conditioning slices of the two-sample KS statistic, per factor.

    The same slicing (quantiles of each factor, half-open slices) and statistic as
    :func:`SALib.analyze.pawn.analyze`.
    """
    y_sorted = np.sort(y)
    n = len(y)
    cdf_all = np.searchsorted(y_sorted, y_sorted, side="right") / n
    edges = np.arange(0, 1 + 1 / slices, 1 / slices)
    out = np.full(X.shape[1], np.nan)
    for j in range(X.shape[1]):
        x = X[:, j]
        q = np.nanquantile(x, edges)
        stats = np.full(slices, np.nan)
        for s in range(slices):
            sel = np.sort(y[(x >= q[s]) & (x < q[s + 1])])
            if len(sel):
                cdf_sel = np.searchsorted(sel, y_sorted, side="right") / len(sel)
                stats[s] = np.max(np.abs(cdf_sel - cdf_all))
        out[j] = np.nanmedian(stats) if np.isfinite(stats).any() else np.nan
    return out


# --------------------------------------------------------------------------- screening


def _screen(
    method: Method, output: str, full: pd.DataFrame, half: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    key = KEY_INDEX[method]
    now = full[full["index"] == key].set_index("factor")
    before = half[half["index"] == key].set_index("factor")
    dummy = now.index.get_loc(DUMMY)
    dummy_conf = float(now["conf"].to_numpy()[dummy])
    threshold = float(now["value"].to_numpy()[dummy]) + (0.0 if math.isnan(dummy_conf) else dummy_conf)
    frame = pd.DataFrame(
        {
            "method": method,
            "output": output,
            "factor": now.index,
            "index": key,
            "value": now["value"].to_numpy(),
            "conf": now["conf"].to_numpy(),
        }
    )
    frame["upper"] = frame["value"] + frame["conf"]
    frame["threshold"] = threshold
    real = frame["factor"] != DUMMY
    frame["influential"] = real & (frame["value"] > threshold)
    frame["rank"] = frame["value"].where(real).rank(ascending=False, method="min").astype("Int64")
    frame["value_half"] = before.loc[frame["factor"], "value"].to_numpy()
    frame["shift"] = (frame["value"] - frame["value_half"]).abs()
    margin = MORRIS_SETTLE_SHARE * float(frame["value"].max()) if method == "morris" else SETTLE_MARGIN
    frame["settled"] = ~((frame["shift"] > margin) & (frame["shift"] > frame["conf"].fillna(0)))
    notes = _convergence_notes(method, output, full, half, frame, margin)
    return frame.sort_values("value", ascending=False, kind="stable").reset_index(drop=True), notes


def _convergence_notes(
    method: Method, output: str, full: pd.DataFrame, half: pd.DataFrame, frame: pd.DataFrame, margin: float
) -> list[str]:
    notes: list[str] = []
    n_full = int(full["n"].iloc[0])
    n_half = int(half["n"].iloc[0])
    moved = frame[~frame["settled"]]
    if not moved.empty:
        shown = ", ".join(f"{r.factor} {r.value_half:.3g}->{r.value:.3g}" for r in moved.itertuples())
        notes.append(
            f"{output}: {KEY_INDEX[method]} has not settled between N = {n_half} and N = {n_full} "
            f"(moved more than {margin:.3g} and its interval): {shown}; increase `n`"
        )
    if method == "sobol":
        s1 = full[full["index"] == "S1"].set_index("factor")
        s1_shift = (s1["value"] - half[half["index"] == "S1"].set_index("factor")["value"]).abs()
        unstable = s1_shift[(s1_shift > SETTLE_MARGIN) & (s1_shift > s1["conf"])]
        if not unstable.empty:
            notes.append(
                f"{output}: S1 has not settled between N = {n_half} and N = {n_full} for "
                f"{', '.join(unstable.index)}; increase `n`"
            )
        sobol_rows = full[full["index"].isin(["S1", "ST"])]
        negative = sobol_rows[sobol_rows["hi"] < 0]
        if not negative.empty:
            shown = ", ".join(
                f"{r.index} {r.factor} {r.value:.3g}±{r.conf:.2g}" for r in negative.itertuples()
            )
            notes.append(
                f"{output}: indices negative beyond their 95% interval ({shown}): the estimator is "
                "unstable at this N; increase `n`"
            )
        wide = full[(full["index"] == "ST") & (full["conf"] > WIDE_CONF)]
        if not wide.empty:
            notes.append(
                f"{output}: wide ST intervals (half-width > {WIDE_CONF:g}) for {', '.join(wide['factor'])}; "
                "increase `n`"
            )
    return notes


def _noise(ybar: np.ndarray, centre: np.ndarray, replicates: int) -> tuple[float, float, float]:
    """Noise share of the variance of the replicate mean, single-run variance, between-point variance."""
    between = float(ybar.var(ddof=1))
    centre = centre[np.isfinite(centre)]
    if len(centre) < 2:
        return math.nan, math.nan, between
    within = float(centre.var(ddof=1))
    share = (within / replicates) / between if between > 0 else math.nan
    return share, within, between


def _noise_floor(method: Method, share: float, var_of_mean: float) -> float:
    """Return the noise floor in the units of the method's key index."""
    if method == "sobol":
        return share
    if method == "morris":
        delta = MORRIS_LEVELS / (2 * (MORRIS_LEVELS - 1))
        # E|e1 - e2| for two independent replicate means, per unit step of the grid.
        return math.sqrt(2 * var_of_mean) * math.sqrt(2 / math.pi) / delta
    return math.nan
