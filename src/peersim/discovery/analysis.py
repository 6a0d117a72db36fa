"""PRIM boxes of the conditions under which runs miss the target, and a sentence for each.

The runs (one row each: the factors of its design point, the dummy, and
whether it missed the target) go to EMA Workbench's PRIM
(:class:`ema_workbench.analysis.prim.Prim`, binary mode, ``peel_alpha =
paste_alpha = mass_min = 0.05``). PRIM is deterministic: the same runs give
the same boxes.

Each search peels twice, once with each of two of EMA Workbench's objectives
(:data:`OBJECTIVES`), and keeps the better box of the two (see below). Its
default, ``LENIENT1`` (gain in density per run peeled), does not let a
categorical factor, peeled half at a time, win by its size, but stops at the
first step where every peel would lower the density; among replicated runs
that draw their mechanism strengths from a posterior, scattered misses make
that happen early, well before the dense core (seen on this model: a cliff
in peer worker hours found in 1 of 6 seeds). ``ORIGINAL`` (Friedman and
Fisher's: the density of the box after the peel) peels on to the smallest
box, but takes a categorical half whenever it is denser. Together they find
both kinds of box.

Encoding
--------
Every factor goes to PRIM as a float column: continuous and integer factors
as their applied values, categorical ones (``host``, ``geography``) as their
level's code, 0 or 1. (EMA Workbench 3.0 cannot paste integer columns under
pandas 3, and its box inspection fails there on categorical columns.) PRIM
then peels a categorical factor by keeping the runs with code 1 or those
with code 0, and the limits are translated back: an integer factor's limits
are rounded inwards to the whole values inside them, a categorical factor's
to the names of the levels inside them (:func:`limits_of`).

Which box of the peeling trajectory
-----------------------------------
PRIM peels from the whole space towards ever smaller boxes of ever higher
density (share of the box's runs that miss) and lower coverage (share of all
misses inside the box). The box reported is chosen in three steps:

1. **Candidates**: the boxes of the trajectory that restrict at least one
   factor and whose density is at least ``min_density`` (:data:`MIN_DENSITY`
   by default), ranked by **coverage x density** (the best
   :data:`MAX_CANDIDATES` are tried). On a sharp edge (misses certain beyond
   a threshold, rare before it) the product peaks at the edge itself: earlier
   boxes lose density faster than they gain coverage, later ones lose
   coverage at no gain in density.
2. **Pruning**: PRIM's peels also trim factors that do not matter, a little
   each, by chance. Each candidate's restrictions are tested with PRIM's
   quasi-p values (Bryant and Lempert 2010: a one-sided binomial test of the
   box's density against the same box without that restriction), and the
   least significant is dropped (PRIM's own ``drop_restriction``) until every
   restriction left has a quasi-p of at most :data:`QP_MAX` (one is always kept).
3. **Choice**: of the pruned candidates still at least ``min_density`` dense
   and with every restriction significant, the one with the largest coverage
   x density (ties: fewer restricted factors, then the earlier box). The
   density reported is the pruned box's, which is also the more honest: the
   trimmed restrictions bought density by fitting noise.

When no candidate survives, no box is reported, and the notes say how dense
the densest box PRIM peeled was.

Several boxes (covering)
------------------------
After a box is chosen its runs are set aside and the search repeats on the
rest (PRIM's covering, with a fresh PRIM on the runs left), up to
``max_boxes`` (:data:`MAX_BOXES`), until no box survives. A later box's
coverage is a share of *all* misses; its density, ``n`` and quasi-p values
count only the runs no earlier box holds.

Noise
-----
The dummy (which no parameter reads) is a column like the others. Pruning
drops a restriction of it unless it is significant; a box that still
restricts the dummy is partly fitting noise, and is reported with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.parameters import ALL_PARAMS
from peersim.discovery.inputs import DUMMY, GEOGRAPHY, categories_of
from peersim.planning.inputs import Target
from peersim.sensitivity.inputs import HOST, Factor, FactorSpace

MIN_DENSITY = 0.75
"""Smallest density of a reported box: at least three in four of its runs miss the target."""

MAX_BOXES = 3
"""Most boxes reported (PRIM's covering stops earlier when no further box is dense enough)."""

QP_MAX = 0.05
"""Largest quasi-p value of a restriction kept in a reported box (the others are dropped)."""

OBJECTIVES: tuple[str, ...] = ("LENIENT1", "ORIGINAL")
"""EMA Workbench's PRIM objectives each search peels with; the better box of the two is kept."""

MAX_CANDIDATES = 12
"""Boxes of a peeling trajectory pruned and compared (the best by coverage x density as peeled)."""

PEEL_ALPHA = 0.05
"""Share of a box's runs each peel removes (EMA Workbench's default)."""
PASTE_ALPHA = 0.05
"""Share of runs each paste adds back (EMA Workbench's default)."""
MASS_MIN = 0.05
"""Smallest share of all runs a box may hold (EMA Workbench's default)."""


@dataclass(frozen=True)
class Limit:
    """The restriction a box puts on one factor.

    Attributes
    ----------
    factor
        The factor's label (or ``"dummy"``).
    low, high
        Numeric limits in the factor's unit (inclusive); ``None`` where the box
        does not restrict that side. Whole numbers for an integer factor.
    values
        For a categorical factor, the levels inside the box (names); else ``None``.
    qp
        PRIM's quasi-p value of the restriction (the larger of its two sides), or ``None``.
    """

    factor: str
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] | None = None
    qp: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return ``{"low", "high"}`` (numbers or null) or ``{"values": [...]}``, with ``qp``."""
        if self.values is not None:
            return {"values": list(self.values), "qp": self.qp}
        return {"low": self.low, "high": self.high, "qp": self.qp}


@dataclass(frozen=True)
class Box:
    """One box of conditions under which runs miss the target.

    Attributes
    ----------
    index
        1 for the first box PRIM found, 2 for the next (covering), ...
    coverage
        Share of all misses (of every run) that fall in the box, 0-1.
    density
        Share of the box's runs that miss the target, 0-1 (of the runs no earlier box holds).
    n
        Runs in the box (of those no earlier box holds).
    misses
        Of them, runs that missed.
    mass
        Share of all runs in the box, 0-1.
    limits
        Restrictions by factor, in the order of the factors (the dummy last).
    sentence
        The box in plain language.
    trajectory
        PRIM's peeling and pasting trajectory of this box: ``step, coverage,
        density, n, misses, mass, restricted`` (factors restricted).
    chosen
        Row of ``trajectory`` chosen.
    rows
        Rows of the runs table in the box (of those no earlier box holds).
    dropped
        Factors whose restrictions were dropped from the chosen box for their
        quasi-p value (the box reported is the chosen one without them).
    objective
        PRIM's objective of the search that found the box (:data:`OBJECTIVES`).
    """

    index: int
    coverage: float
    density: float
    n: int
    misses: int
    mass: float
    limits: tuple[Limit, ...]
    sentence: str
    trajectory: pd.DataFrame
    chosen: int
    rows: np.ndarray
    dropped: tuple[str, ...] = ()
    objective: str = "LENIENT1"

    @property
    def restricts_dummy(self) -> bool:
        """Whether the box restricts the dummy (its limits then partly fit noise)."""
        return any(limit.factor == DUMMY for limit in self.limits)


@dataclass(frozen=True)
class Discovery:
    """What PRIM found: the boxes, the trajectory of the search that found none, and notes.

    Attributes
    ----------
    boxes
        The boxes chosen, in the order found (at most ``max_boxes``).
    unchosen
        Trajectory of the last search, whose boxes all fell below ``min_density``
        (empty if the search stopped otherwise).
    notes
        Why the search stopped, for the user.
    warnings
        Boxes that restrict the dummy.
    """

    boxes: tuple[Box, ...]
    unchosen: pd.DataFrame
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def prim_frame(space: FactorSpace, values: np.ndarray, dummy: np.ndarray) -> pd.DataFrame:
    """Return PRIM's input: one float column per factor (categorical levels as codes 0/1), the dummy last.

    Parameters
    ----------
    space
        The factors.
    values
        Applied values, one row per run, one column per factor.
    dummy
        The dummy's value of each run.
    """
    columns = {label: np.asarray(values[:, j], dtype=np.float64) for j, label in enumerate(space.labels)}
    columns[DUMMY] = np.asarray(dummy, dtype=np.float64)
    return pd.DataFrame(columns)


def discover_boxes(
    space: FactorSpace,
    x: pd.DataFrame,
    miss: np.ndarray,
    target: Target,
    min_density: float = MIN_DENSITY,
    max_boxes: int = MAX_BOXES,
) -> Discovery:
    """Run PRIM on the runs and choose up to ``max_boxes`` boxes (see the module docstring).

    Parameters
    ----------
    space
        The factors (``x`` has their labels as columns, then the dummy).
    x
        PRIM's input (:func:`prim_frame`), one row per run.
    miss
        Whether each run missed the target.
    target
        The target, for the sentences.
    min_density
        Smallest density of a box reported, in (0, 1].
    max_boxes
        Most boxes reported, at least 1.
    """
    miss = np.asarray(miss, dtype=bool)
    total = int(miss.sum())
    if total == 0:
        return Discovery(
            (), pd.DataFrame(), (f"no run missed {target.text}: there is nothing to explain",), ()
        )
    if total == len(miss):
        note = f"every run missed {target.text}: no conditions sampled meet it"
        return Discovery((), pd.DataFrame(), (note,), ())
    x = x.reset_index(drop=True)
    remaining = np.arange(len(miss))
    boxes: list[Box] = []
    unchosen = pd.DataFrame()
    notes: list[str] = []
    for index in range(1, max_boxes + 1):
        left = miss[remaining]
        if not left.any():
            notes.append(f"every miss is in box {index - 1} or an earlier one")
            break
        if left.all():
            notes.append(f"every run outside the boxes so far misses {target.text}")
            break
        scale = float(left.sum()) / total  # a search sees only the runs no earlier box holds
        best: _Pick | None = None
        searched: list[pd.DataFrame] = []
        for objective in OBJECTIVES:
            prim = _prim(x.iloc[remaining].reset_index(drop=True), left, objective)
            with _quiet():
                found = prim.find_box()
            if found is None:
                continue
            trajectory = _trajectory(found.peeling_trajectory, scale, len(miss))
            searched.append(trajectory)
            pick = _pick(found, trajectory, prim.box_init, min_density, scale, objective)
            if pick is not None and (best is None or pick.rank < best.rank):
                best = pick
        if best is None:
            unchosen = max(searched, key=lambda t: float(t["density"].max())) if searched else unchosen
            notes.append(_nothing_dense(unchosen, index, min_density))
            break
        box = _box(space, target, index, best, remaining)
        boxes.append(box)
        remaining = np.setdiff1d(remaining, box.rows, assume_unique=True)
    cautions = tuple(
        f"box {box.index} restricts the dummy factor, which no parameter reads: its limits partly fit "
        "the noise of the runs; use a larger `n` or more `replicates`"
        for box in boxes
        if box.restricts_dummy
    )
    return Discovery(tuple(boxes), unchosen, tuple(notes), cautions)


def _nothing_dense(trajectory: pd.DataFrame, index: int, min_density: float) -> str:
    """Say that search ``index`` found no box, and what the densest box it peeled was."""
    significant = f"whose limits are all significant (quasi-p <= {QP_MAX:g})"
    text = f"no further box {significant} reaches density {min_density:g}"
    if trajectory.empty:
        return text
    at = int(np.argmax(trajectory["density"].to_numpy()))
    density, coverage = trajectory["density"].to_numpy()[at], trajectory["coverage"].to_numpy()[at]
    outside = "" if index == 1 else " among the runs outside box 1" + (f"-{index - 1}" if index > 2 else "")
    densest = f"the densest box PRIM peeled{outside} (density {density:.2f}, coverage {coverage:.2f})"
    if density >= min_density:
        return f"{text}: {densest} needs limits that are not significant"
    return f"{text}: {densest} is not dense enough"


@dataclass(frozen=True)
class _Pick:
    """A pruned box of one PRIM search, and how it ranks against the others."""

    rank: tuple[float, int, int]
    found: Any
    box_init: pd.DataFrame
    trajectory: pd.DataFrame
    chosen: int
    row: int
    dropped: tuple[str, ...]
    objective: str


def _box(space: FactorSpace, target: Target, index: int, pick: _Pick, remaining: np.ndarray) -> Box:
    """Turn a pick into a :class:`Box` (rows of the whole table; coverage a share of all misses)."""
    found = pick.found
    with _quiet():
        found.select(pick.row)
    stats = found.peeling_trajectory.iloc[pick.row]
    coverage = float(stats["coverage"]) * float(pick.trajectory.attrs["scale"])
    box = Box(
        index=index,
        coverage=coverage,
        density=float(stats["density"]),
        n=int(stats["n"]),
        misses=int(stats["k"]),
        mass=float(stats["n"]) / float(pick.trajectory.attrs["runs"]),
        limits=limits_of(space, found.box_lims[pick.row], pick.box_init, found.p_values[pick.row]),
        sentence="",
        trajectory=pick.trajectory,
        chosen=pick.chosen,
        rows=remaining[np.asarray(found.yi, dtype=np.int64)],
        dropped=pick.dropped,
        objective=pick.objective,
    )
    return replace(box, sentence=box_sentence(box, space, target))


def _prim(x: pd.DataFrame, miss: np.ndarray, objective: str) -> Any:
    """Return EMA Workbench's PRIM on ``x`` and ``miss`` (imported here: it takes a few seconds)."""
    with warnings.catch_warnings():
        # ema_workbench announces optional extras it does without (ipyparallel, altair) as it loads.
        warnings.simplefilter("ignore")
        from ema_workbench.analysis.prim import Prim, PRIMObjectiveFunctions

    with _quiet():
        return Prim(
            x,
            miss,
            obj_function=getattr(PRIMObjectiveFunctions, objective),
            peel_alpha=PEEL_ALPHA,
            paste_alpha=PASTE_ALPHA,
            mass_min=MASS_MIN,
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the deprecation warnings EMA Workbench's PRIM raises under pandas 3 (not for the user)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"ema_workbench(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def _pick(
    found: Any,
    trajectory: pd.DataFrame,
    box_init: pd.DataFrame,
    min_density: float,
    scale: float,
    objective: str,
) -> _Pick | None:
    """Prune the candidate boxes of a trajectory and return the best that stays dense enough, or ``None``."""
    best: _Pick | None = None
    for chosen in choose(trajectory, min_density)[:MAX_CANDIDATES]:
        row, dropped = _prune(found, chosen, box_init)
        stats = found.peeling_trajectory.iloc[row]
        density, coverage = float(stats["density"]), float(stats["coverage"]) * scale
        if density < min_density - 1e-12 or _weakest(found, row, box_init) > QP_MAX:
            continue
        rank = (-round(coverage * density, 12), int(stats["res_dim"]), int(chosen))
        if best is None or rank < best.rank:
            best = _Pick(rank, found, box_init, trajectory, chosen, row, dropped, objective)
    return best


def _prune(found: Any, chosen: int, box_init: pd.DataFrame) -> tuple[int, tuple[str, ...]]:
    """Drop the restrictions of a box whose quasi-p exceeds :data:`QP_MAX`, least significant first.

    Each drop is PRIM's own (:meth:`~ema_workbench.analysis.prim.PrimBox.drop_restriction`,
    which adds the box without that restriction to the trajectory, with fresh
    quasi-p values); one restriction is always kept. Returns the row of PRIM's
    trajectory holding the pruned box and the factors whose restrictions were dropped.
    """
    row, dropped = chosen, list[str]()
    while True:
        restricted = _restricted(found.box_lims[row], box_init)
        qps = {name: _qp(found.p_values[row], name) for name in restricted}
        worst = max(restricted, key=lambda name: (qps[name] if qps[name] is not None else -1.0, name))
        if len(restricted) <= 1 or (qps[worst] or 0.0) <= QP_MAX:
            return row, tuple(dropped)
        with _quiet():
            found.drop_restriction(worst, row)
        row = len(found.peeling_trajectory) - 1
        dropped.append(worst)


def _weakest(found: Any, row: int, box_init: pd.DataFrame) -> float:
    """Return the largest quasi-p value of the restrictions of a box (0 if none has one)."""
    values = [_qp(found.p_values[row], name) for name in _restricted(found.box_lims[row], box_init)]
    return max((v for v in values if v is not None), default=0.0)


def _restricted(box_lim: pd.DataFrame, box_init: pd.DataFrame) -> list[str]:
    """Columns a box restricts (either side), in column order."""
    restricted = []
    for name in box_init.columns:
        (lo, hi), (lo0, hi0) = _bounds(box_lim, name), _bounds(box_init, name)
        if lo > lo0 or hi < hi0:
            restricted.append(str(name))
    return restricted


def _bounds(box_lim: pd.DataFrame, name: Any) -> tuple[float, float]:
    """Lower and upper limit of one column of PRIM's box limits (row 0 lower, row 1 upper)."""
    lo, hi = box_lim[name].to_numpy(dtype=float)[:2]
    return float(lo), float(hi)


def _qp(p_values: dict[str, Any], name: str) -> float | None:
    """Quasi-p value of one restriction: the larger of its restricted sides (PRIM marks the others -1)."""
    sides = [float(v) for v in p_values.get(name, []) if v is not None and v >= 0]
    return max(sides) if sides else None


def _trajectory(peeling: pd.DataFrame, scale: float, runs: int) -> pd.DataFrame:
    """PRIM's trajectory as a plain table; coverage a share of all misses (``scale``: this search's share)."""
    frame = pd.DataFrame(
        {
            "step": peeling["id"].astype(int).to_numpy(),
            "coverage": peeling["coverage"].astype(float).to_numpy() * scale,
            "density": peeling["density"].astype(float).to_numpy(),
            "n": peeling["n"].astype(int).to_numpy(),
            "misses": peeling["k"].astype(int).to_numpy(),
            "restricted": peeling["res_dim"].astype(int).to_numpy(),
        }
    )
    frame.attrs["scale"] = scale
    frame.attrs["runs"] = runs
    return frame


def choose(trajectory: pd.DataFrame, min_density: float = MIN_DENSITY) -> list[int]:
    """Return the rows of ``trajectory`` that may be chosen, best first (see the module docstring).

    Boxes restricting at least one factor with density at least
    ``min_density``, by coverage x density (largest first); ties go to fewer
    restricted factors, then to the earlier box.
    """
    ok = (trajectory["restricted"] > 0) & (trajectory["density"] >= min_density - 1e-12)
    candidates = trajectory[ok]
    score = (candidates["coverage"] * candidates["density"]).round(12)
    ranked = candidates.assign(score=-score).sort_values(["score", "restricted", "step"], kind="stable")
    return [int(i) for i in ranked.index]


def limits_of(
    space: FactorSpace, box_lim: pd.DataFrame, box_init: pd.DataFrame, qp: dict[str, Any] | None = None
) -> tuple[Limit, ...]:
    """Translate PRIM's box limits (row 0 lower, row 1 upper) into :class:`Limit` s of restricted factors.

    Integer limits are rounded inwards to the whole values inside them;
    categorical limits become the names of the levels whose code lies inside.
    """
    factors: dict[str, Factor | None] = {f.label: f for f in space.factors}
    factors[DUMMY] = None
    out = []
    for label, factor in factors.items():
        (lo, hi), (lo0, hi0) = _bounds(box_lim, label), _bounds(box_init, label)
        if lo <= lo0 and hi >= hi0:
            continue
        p = _qp(qp or {}, label)
        levels = categories_of(factor) if factor is not None else None
        if levels is not None:
            inside = tuple(name for code, name in enumerate(levels) if lo - 1e-9 <= code <= hi + 1e-9)
            out.append(Limit(label, values=inside, qp=p))
            continue
        low = lo if lo > lo0 else None
        high = hi if hi < hi0 else None
        if factor is not None and factor.kind == "integer":
            low = float(math.ceil(low - 1e-9)) if low is not None else None
            high = float(math.floor(high + 1e-9)) if high is not None else None
            if low is None and high is not None and high <= factor.low:
                low = high  # only the lowest whole value is left
            if high is None and low is not None and low >= factor.high:
                high = low
        out.append(Limit(label, low, high, qp=p))
    return tuple(out)


# --------------------------------------------------------------------------- sentences

PHRASES: dict[str, tuple[str, str]] = {
    "travel_minutes_one_way": ("travel", "min one way"),
    "n_peer_workers": ("peer worker posts", ""),
    "peer_worker_hours_per_week": ("hours per post", "h/week"),
    "supervisor_hours_per_week": ("supervision", "h/week"),
    "team_prep_sessions": ("team preparation", "sessions"),
    "team_joint_work_hours_per_month": ("joint work with teams", "h/month"),
    "caseload_cap": ("the caseload cap", "people per peer worker"),
    "ward_acceptance_baseline": ("ward staff acceptance at the start", ""),
    "eligible_admissions_per_week": ("eligible admissions", "a week"),
    "dur_vacancy_weeks": ("the time to fill a vacant post", "weeks"),
    "other_duties_share": ("the share of hours on other duties", ""),
    "dur_stay_weeks_mean": ("the mean length of stay", "weeks"),
    "ward_staff_turnover_per_year": ("ward staff turnover", "a year"),
    "supervisor_turnover_per_year": ("supervisor turnover", "a year"),
}
"""How a sentence names a site parameter and its unit (others: the label and the declared unit)."""

LEVEL_PHRASES: dict[tuple[str, str], str] = {
    (HOST, "nhs"): "the host is the NHS",
    (HOST, "not_for_profit"): "the host is a not-for-profit",
    (GEOGRAPHY, "urban"): "the site is urban",
    (GEOGRAPHY, "rural"): "the site is rural",
}
"""How a sentence says a categorical factor's level."""

METRIC_PHRASES: dict[str, str] = {
    "engagement_rate": "engagement",
    "fidelity_index": "fidelity",
    "readmission_rate_intervention": "12-month readmission",
    "readmissions_averted_per_100": "readmissions averted per 100 people",
    "readmissions_averted_per_year": "readmissions averted a year",
    "unmet_demand": "unmet demand",
}
"""How a sentence names the target's metric (others: the metric's name)."""


def number(value: float) -> str:
    """Return a limit as a sentence shows it: whole numbers without decimals, else 3 significant figures."""
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}"


def unit_of(factor: Factor | None) -> str:
    """Return the unit a factor's limits are shown in (``""`` for none), e.g. ``"min one way"``."""
    if factor is None or categories_of(factor) is not None:
        return ""
    if factor.label == factor.name and factor.name in PHRASES:
        return PHRASES[factor.name][1]
    spec = ALL_PARAMS.get(factor.name)
    return spec.unit if spec is not None and spec.unit != "1" else ""


def condition(limit: Limit, factor: Factor | None) -> str:
    """One restriction in words, e.g. ``"travel ≥ 53 min one way"`` or ``"the host is a not-for-profit"``."""
    if limit.values is not None and factor is not None:
        phrases = [LEVEL_PHRASES.get((factor.name, v), f"{limit.factor} is {v}") for v in limit.values]
        return " or ".join(phrases)
    if factor is None:
        name = "the dummy"
    elif factor.label == factor.name and factor.name in PHRASES:
        name = PHRASES[factor.name][0]
    else:
        name = factor.label
    unit = unit_of(factor)
    shown = limit_text(limit)
    if limit.low is not None and limit.high is not None and limit.low != limit.high:
        shown = f"is {shown}"  # "travel is 20 to 40 min one way"
    return f"{name} {shown} {unit}" if unit else f"{name} {shown}"


def limit_text(limit: Limit) -> str:
    """Return a limit in short symbols, e.g. ``"≥ 53"``, ``"2 to 4"``, ``"= 2"`` or ``"not_for_profit"``."""
    if limit.values is not None:
        return " or ".join(limit.values)
    if limit.low is not None and limit.high is not None:
        if limit.low == limit.high:
            return f"= {number(limit.low)}"
        return f"{number(limit.low)} to {number(limit.high)}"
    if limit.low is not None:
        return f"≥ {number(limit.low)}"
    if limit.high is not None:
        return f"≤ {number(limit.high)}"
    return "not restricted"


def joined(parts: Sequence[str]) -> str:
    """Join phrases as ``a``, ``a and b``, ``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def miss_phrase(target: Target) -> str:
    """Say what missing the target means, e.g. ``"engagement falls below 0.5"``."""
    metric = METRIC_PHRASES.get(target.metric, target.metric)
    verb = "falls below" if target.op == ">=" else "exceeds"
    return f"{metric} {verb} {target.value:g}"


def box_sentence(box: Box, space: FactorSpace, target: Target) -> str:
    """Say the box in plain language (the dummy's restriction, if any, is left to the warning)."""
    factors = {f.label: f for f in space.factors}
    parts = [condition(limit, factors[limit.factor]) for limit in box.limits if limit.factor != DUMMY]
    where = joined(parts) if parts else "the dummy alone is restricted"
    earlier = "" if box.index == 1 else " (of the runs outside the earlier boxes)"
    return (
        f"{miss_phrase(target)} in {box.density:.0%} of runs{earlier} where {where} "
        f"({box.n} runs; {box.coverage:.0%} of all misses)"
    )
