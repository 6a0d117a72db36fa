"""One call from factors to indices: sample, evaluate through an executor, analyse."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd

from peersim.executor import Executor
from peersim.io.provenance import package_version
from peersim.sensitivity.analysis import Analysis, analyse
from peersim.sensitivity.design import Design, Method, make_design
from peersim.sensitivity.evaluate import Point, Target, design_points, evaluate
from peersim.sensitivity.inputs import DUMMY, FactorSpace

CENTRE_REPLICATES = 20
"""Independent replicates at the centre of the factor box, for the noise floor."""


@dataclass(frozen=True)
class SensitivityResult:
    """Everything a sensitivity analysis produced.

    Attributes
    ----------
    design
        The sample design (with the dummy factor last).
    analysis
        Indices, screening, diagnostics and warnings.
    samples
        One row per sample point: ``point``, ``stream`` (random-number group), applied factor values,
        the dummy's sampled value and the replicate mean of every output.
    outputs
        Output names.
    seed, replicates
        Base seed and replicates per point.
    centre_replicates
        Independent replicates run at the centre of the factor box (noise floor).
    stamp
        What was analysed: scenario name and hash, factors file hash, versions.
    """

    design: Design
    analysis: Analysis
    samples: pd.DataFrame
    outputs: tuple[str, ...]
    seed: int
    replicates: int
    centre_replicates: int = CENTRE_REPLICATES
    stamp: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> Method:
        """Sobol', Morris or PAWN."""
        return self.design.method

    @property
    def runs(self) -> int:
        """Model runs made (points x replicates, plus the centre runs for the noise floor)."""
        return self.design.points * self.replicates + self.centre_replicates

    @property
    def warnings(self) -> tuple[str, ...]:
        """Messages for the user."""
        return self.analysis.warnings

    def _stamped(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for key in ("scenario", "scenario_hash", "factors_hash"):
            out[key] = self.stamp.get(key, "")
        out["seed"] = self.seed
        out["replicates"] = self.replicates
        out["version"] = self.stamp.get("version", "")
        return out

    @property
    def indices(self) -> pd.DataFrame:
        """Tidy indices at N and N/2, stamped with scenario hash, seed and version."""
        return self._stamped(self.analysis.indices)

    @property
    def screening(self) -> pd.DataFrame:
        """Key index per output and factor with the dummy threshold, stamped."""
        return self._stamped(self.analysis.screening)

    @property
    def diagnostics(self) -> pd.DataFrame:
        """Noise floor, threshold and convergence per output, stamped."""
        return self._stamped(self.analysis.diagnostics)

    def top(self, output: str, k: int = 5) -> pd.DataFrame:
        """Return the ``k`` real factors with the largest key index for ``output``."""
        table = self.analysis.screening
        rows = table[(table["output"] == output) & (table["factor"] != DUMMY)]
        return rows.sort_values("value", ascending=False).head(k).reset_index(drop=True)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready document (NaN as ``null``)."""
        return {
            "method": self.method,
            "n": self.design.n,
            "points": self.design.points,
            "replicates": self.replicates,
            "runs": self.runs,
            "seed": self.seed,
            "outputs": list(self.outputs),
            "factors": self.design.names,
            "second_order": self.design.second_order,
            **{k: v for k, v in self.stamp.items()},
            "notes": list(self.design.notes),
            "warnings": list(self.warnings),
            "diagnostics": _records(self.analysis.diagnostics),
            "screening": _records(self.analysis.screening),
            "indices": _records(self.analysis.indices),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if value is pd.NA or value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


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
        Called after each point (progress display).
    centre_replicates
        Independent replicates at the centre of the factor box for the noise floor
        (at least 2).

    Returns
    -------
    SensitivityResult
    """
    design = make_design(space, method, n, seed, second_order=second_order)
    points = design_points(design, space, seed, replicates)
    Y = evaluate(target, points, executor, on_done)
    middle = space.values([0.5 * sum(f.sample_bounds) for f in space.factors])
    centre = evaluate(target, [Point(-1, middle, 0, seed, max(2, centre_replicates))], executor)[0]
    outputs = tuple(target.outputs)
    analysis = analyse(design, Y, outputs, seed, centre_runs=centre)
    samples = pd.DataFrame(
        {"point": np.arange(design.points), "stream": design.stream.astype(int)}
        | {label: [p.values[i] for p in points] for i, label in enumerate(space.labels)}
        | {DUMMY: design.X[:, -1]}
        | {output: Y[:, :, k].mean(axis=1) for k, output in enumerate(outputs)}
    )
    stamp = {
        **target.stamp(),
        "version": package_version(),
        "salib_version": version("SALib"),
    }
    return SensitivityResult(
        design, analysis, samples, outputs, seed, replicates, max(2, centre_replicates), stamp
    )
