"""One call from factors to indices: size and outputs checked, sample, evaluate (resumably), analyse, write.

:func:`run_sensitivity` first refuses an analysis beyond :data:`MAX_RUNS` or
:data:`~peersim.sensitivity.design.MAX_POINTS` (:func:`sensitivity_workload`,
which also estimates its time and memory) and an output directory it cannot
use (:func:`check_out`), before any simulation. With ``out``, each finished
sample point is kept in ``out/checkpoint/`` (:mod:`peersim.sensitivity.resume`),
so Ctrl-C keeps what finished (raising :class:`~peersim.errors.Interrupted`)
and running again resumes; the final tables, JSON and figure are written with
:meth:`~peersim.io.files.OutputDirectory.write_all`, so a disk that refuses them
leaves them somewhere the error names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from peersim.errors import Interrupted, PeersimInputError
from peersim.executor import Executor, Progress, no_progress
from peersim.io.checkpoint import CHECKPOINT
from peersim.io.estimates import Workload
from peersim.io.files import OutputDirectory
from peersim.io.provenance import package_version
from peersim.sensitivity.analysis import analyse
from peersim.sensitivity.design import (
    MAX_POINTS,
    Design,
    Method,
    check_n,
    design_memory,
    make_design,
    points_for,
)
from peersim.sensitivity.evaluate import Point, Target, design_points, evaluate
from peersim.sensitivity.inputs import DUMMY, FactorSpace
from peersim.sensitivity.result import CENTRE_REPLICATES, SensitivityResult, sensitivity_files
from peersim.sensitivity.resume import CENTRE, KeptPoints, analysis_key

__all__ = [
    "CENTRE_REPLICATES",
    "MAX_RUNS",
    "SensitivityResult",
    "check_out",
    "run_sensitivity",
    "sensitivity_workload",
]

MAX_RUNS = 2_000_000
"""Most model runs one analysis may make (sample points x replicates, plus the centre replicates).

Two million runs of the default 7-site scenario take about 55 hours on one
core (a few hours on a cluster), ten times the default Sobol' analysis with
``N = 2**12``; the outputs of every run are held in this process (8 bytes each).
"""


def _seconds_per_replicate(target: Target) -> float:
    """Rough serial seconds of one replicate of ``target`` (0 for targets that do not say)."""
    return float(getattr(target, "seconds_per_replicate", 0.0))


def sensitivity_workload(
    space: FactorSpace,
    target: Target,
    method: Method = "sobol",
    n: int = 256,
    replicates: int = 2,
    second_order: bool = False,
    centre_replicates: int = CENTRE_REPLICATES,
) -> Workload:
    """Return the runs, serial seconds and memory of an analysis; refuse one beyond the declared maxima.

    Parameters
    ----------
    space, target, method, n, replicates, second_order, centre_replicates
        As for :func:`run_sensitivity`.

    Raises
    ------
    PeersimInputError
        If ``n`` is not usable for ``method``, ``replicates`` is below 1, the
        design would have more than :data:`~peersim.sensitivity.design.MAX_POINTS`
        points or the analysis more than :data:`MAX_RUNS` runs: with the time
        and memory of what was asked.
    """
    if replicates < 1:
        raise PeersimInputError(f"`replicates` must be at least 1, got {replicates}")
    used, _ = check_n(method, n)
    d = len(space.factors) + 1
    points = points_for(method, used, d, second_order and method == "sobol")
    runs = points * replicates + max(2, centre_replicates)
    work = Workload(
        runs=runs,
        seconds=runs * _seconds_per_replicate(target),
        memory=design_memory(points, d, replicates, len(target.outputs)),
        what=f"at {points:,} sample points",
    )
    if points > MAX_POINTS:
        raise PeersimInputError(
            f"`n` {n} asks for {points:,} sample points ({method}, {d} factors with the dummy), more than "
            f"the {MAX_POINTS:,} one analysis may have: {work.cost_text()}. Use a smaller `n`"
        )
    if runs > MAX_RUNS:
        raise PeersimInputError(
            f"`replicates` {replicates} at {points:,} sample points asks for more than the {MAX_RUNS:,} "
            f"model runs one analysis may make: {work.cost_text()}. Use fewer `replicates` or a smaller `n`"
        )
    return work


def check_out(out: Path | None, method: Method, force: bool = False) -> OutputDirectory | None:
    """Return the output directory of an analysis with ``method``, checked; ``None`` without one.

    Raises
    ------
    PeersimInputError
        If ``out`` cannot be created or written (under a file, read-only,
        ``/proc``), already holds an analysis's outputs, or holds other files,
        without ``force``. Its checkpoint (``checkpoint/``) is its own.
    """
    return OutputDirectory.checked(out, sensitivity_files(method), force, owned=(CHECKPOINT,))


def run_sensitivity(
    space: FactorSpace,
    target: Target,
    method: Method = "sobol",
    n: int = 256,
    replicates: int = 2,
    seed: int = 0,
    executor: Executor | None = None,
    second_order: bool = False,
    on_done: Callable[[int], None] | None = None,
    centre_replicates: int = CENTRE_REPLICATES,
    out: Path | None = None,
    force: bool = False,
    progress: Progress = no_progress,
    title: str = "",
) -> SensitivityResult:
    """Run a global sensitivity analysis of ``target`` over ``space`` (plus the dummy).

    Parameters
    ----------
    space
        Factors to vary.
    target
        What to evaluate (:class:`~peersim.sensitivity.evaluate.PeersimTarget` for the model).
    method
        ``"sobol"``, ``"morris"`` or ``"pawn"``.
    n
        Base samples (Sobol', rounded up to a power of 2), trajectories (Morris)
        or points (PAWN).
    replicates
        Replicates per point, averaged; replicate ``r`` uses ``replicate_seed(seed, r)``
        at every point (common random numbers) except where only the dummy changed.
    seed
        Base seed of sampling, replicates and bootstrap.
    executor
        Where to run points; defaults to this process.
    second_order
        Sobol' only: also estimate second-order indices.
    on_done
        Called with the index of each point as it finishes (progress display).
    centre_replicates
        Independent replicates at the centre of the factor box for the noise floor
        (at least 2).
    out
        Output directory: finished points are kept in ``out/checkpoint/`` as they
        finish (running again with the same arguments resumes), and the tables,
        JSON and figure are written there at the end.
    force
        Replace an analysis's outputs already in ``out``, write among other
        files, and discard a checkpoint kept there for another analysis.
    progress
        Progress display of the sample points still to run (label ``"sensitivity"``).
    title
        Title of the figure written to ``out``.

    Returns
    -------
    SensitivityResult
        With ``written``, the files written to ``out``.

    Raises
    ------
    PeersimInputError
        For an unusable ``n``, ``replicates`` or ``out``, or an analysis beyond
        the declared maxima; before any simulation.
    Interrupted
        On Ctrl-C, after keeping the finished points (with ``out``).
    OutputsNotWritten
        If the outputs could not be written to ``out``; the message names where they were kept.
    """
    sensitivity_workload(space, target, method, n, replicates, second_order, centre_replicates)
    directory = check_out(out, method, force)
    design = make_design(space, method, n, seed, second_order=second_order)
    points = design_points(design, space, seed, replicates)
    outputs = tuple(target.outputs)
    centre_n = max(2, centre_replicates)
    kept = None
    if directory is not None:
        key = analysis_key(target, space, design, replicates, seed, centre_n)
        kept = KeptPoints.open(directory.path, key, outputs, replicates, centre_n, force)
    middle = space.values([0.5 * sum(f.sample_bounds) for f in space.factors])
    centre_point = Point(CENTRE, middle, 0, seed, centre_n)
    try:
        Y, centre = _run_points(target, points, centre_point, executor, _both(on_done), progress, kept)
        analysis = analyse(design, Y, outputs, seed, centre_runs=centre)
    except KeyboardInterrupt:
        raise _interrupted(kept, design.points, out) from None
    finally:
        if kept is not None:
            kept.flush()
    samples = _samples(space, design, Y, outputs)
    stamp = {**target.stamp(), "version": package_version(), "salib_version": version("SALib")}
    result = SensitivityResult(
        design,
        analysis,
        samples,
        outputs,
        seed,
        replicates,
        centre_n,
        stamp,
        resumed=kept.resumed if kept is not None else 0,
    )
    if directory is None:
        return result
    return replace(result, written=tuple(_write(directory, result, title)))


def _run_points(
    target: Target,
    points: Sequence[Point],
    centre: Point,
    executor: Executor | None,
    on_done: Callable[[Callable[[int], None]], Callable[[int], None]],
    progress: Progress,
    kept: KeptPoints | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the design points, then the centre, running only what ``kept`` lacks and keeping the rest."""
    known = kept.known(len(points)) if kept is not None else None
    keep = kept.keep if kept is not None else None
    remaining = len(points) - (int(known[1].sum()) if known is not None else 0)
    with progress("sensitivity", remaining) as advance:
        Y = evaluate(target, points, executor, on_done(advance), known, keep)
    runs = kept.centre() if kept is not None else None
    if runs is None:
        runs = evaluate(target, [centre], executor, keep=keep)[0]
    if kept is not None:
        kept.flush()
    return Y, runs


def _both(on_done: Callable[[int], None] | None) -> Callable[[Callable[[int], None]], Callable[[int], None]]:
    """Return a maker of the callback that advances a progress display and then calls ``on_done``."""

    def with_progress(advance: Callable[[int], None]) -> Callable[[int], None]:
        def done(index: int) -> None:
            advance(1)
            if on_done is not None:
                on_done(index)

        return done

    return with_progress


def _samples(space: FactorSpace, design: Design, Y: np.ndarray, outputs: tuple[str, ...]) -> pd.DataFrame:
    """One row per sample point: its stream, applied factor values, the dummy and the replicate means."""
    real = space.applied(design.X[:, :-1])
    return pd.DataFrame(
        {"point": np.arange(design.points), "stream": design.stream.astype(int)}
        | {label: real[:, i] for i, label in enumerate(space.labels)}
        | {DUMMY: design.X[:, -1]}
        | {output: Y[:, :, k].mean(axis=1) for k, output in enumerate(outputs)}
    )


def _interrupted(kept: KeptPoints | None, total: int, out: Path | None) -> Interrupted:
    """Return the :class:`Interrupted` to raise on Ctrl-C: what is kept and how to resume."""
    if kept is None:
        return Interrupted(
            0,
            total,
            "sample point(s)",
            "Nothing is kept without `out`: run with `out` DIR to keep finished points and resume",
        )
    kept.flush()
    return Interrupted(kept.kept, total, "sample point(s)", f"Run again with `out` {out} to resume")


def _write(directory: OutputDirectory, result: SensitivityResult, title: str) -> list[Path]:
    """Write the outputs into ``directory``, or somewhere the error names if the disk refuses."""
    from peersim.sensitivity.report import write_sensitivity_outputs  # heavy: matplotlib

    return directory.write_all(lambda target: write_sensitivity_outputs(target, result, title))
