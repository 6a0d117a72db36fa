"""What a sensitivity analysis produced (:class:`SensitivityResult`), and its JSON-ready form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.sensitivity.analysis import Analysis
from peersim.sensitivity.design import Design, Method
from peersim.sensitivity.inputs import DUMMY

CENTRE_REPLICATES = 20
"""Independent replicates at the centre of the factor box, for the noise floor."""

TABLE_NAMES = ("indices", "screening", "diagnostics")
"""Tables written as CSV and Parquet."""


def sensitivity_files(method: str) -> tuple[str, ...]:
    """Files ``peersim sensitivity --out`` writes for ``method``."""
    return (
        *(f"{name}.csv" for name in TABLE_NAMES),
        *(f"{name}.parquet" for name in TABLE_NAMES),
        "samples.parquet",
        "sensitivity.json",
        figure_name(method),
    )


def figure_name(method: str) -> str:
    """File name of the figure of ``method``."""
    return f"{method}.png"


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
    resumed
        Sample points taken from the checkpoint of an earlier, interrupted run
        (the numbers are the same as if they had been run now).
    written
        Files written into the output directory (empty without one).
    """

    design: Design
    analysis: Analysis
    samples: pd.DataFrame
    outputs: tuple[str, ...]
    seed: int
    replicates: int
    centre_replicates: int = CENTRE_REPLICATES
    stamp: dict[str, Any] = field(default_factory=dict)
    resumed: int = 0
    written: tuple[Path, ...] = ()

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
