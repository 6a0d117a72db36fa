"""The sample points of an analysis kept in its output directory as they finish, and read back on resume.

With ``out``, every finished sample point's replicate outputs go into
``out/checkpoint/`` (:class:`peersim.io.checkpoint.Checkpoint`): one row per
point and replicate, ``point, replicate`` and one column per output; the centre
replicates of the noise floor are point ``-1``. Running the same analysis again
reads them back and runs only the points it lacks; the numbers are those of an
uninterrupted run, bit for bit, since a point's outputs depend only on its
design row, its seeds and the scenario.

The key (:func:`analysis_key`) is everything those numbers depend on: the
target (scenario name and hash), the factors, the outputs, the design (method,
``N``, second order, a digest of the sampled values and their random-number
groups), replicates, seed, centre replicates and the code (peersim version,
model source, SALib version). A checkpoint kept under another key is refused
unless ``force``.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from peersim.io.checkpoint import Checkpoint, digest
from peersim.io.provenance import model_source_digest, package_version
from peersim.sensitivity.design import Design
from peersim.sensitivity.evaluate import Target
from peersim.sensitivity.inputs import FactorSpace

CENTRE = -1
"""Point index of the centre replicates (the noise floor) in the checkpoint."""

UNIT = "sample points"
"""What the checkpoint's units are called in messages."""

LABELS: dict[str, str] = {
    "experiment": "experiment",
    "scenario": "scenario",
    "scenario_hash": "scenario hash",
    "factors": "factors (digest)",
    "outputs": "`outputs`",
    "method": "`method`",
    "n": "`n`",
    "second_order": "`second_order`",
    "replicates": "`replicates`",
    "seed": "`seed`",
    "centre_replicates": "centre replicates",
    "design": "design (digest)",
    "peersim": "peersim version",
    "model_source": "model source digest",
    "salib": "SALib version",
}
"""How a refusal names each field of the key."""


def analysis_key(
    target: Target, space: FactorSpace, design: Design, replicates: int, seed: int, centre_replicates: int
) -> dict[str, Any]:
    """Everything the outputs of the analysis's points depend on (see the module docstring)."""
    stamp = target.stamp()
    return {
        "experiment": "sensitivity",
        "scenario": str(stamp.get("scenario", "")),
        "scenario_hash": str(stamp.get("scenario_hash", "")),
        "factors": digest(repr(space.factors).encode()),
        "outputs": [str(name) for name in target.outputs],
        "method": str(design.method),
        "n": int(design.n),
        "second_order": bool(design.second_order),
        "replicates": int(replicates),
        "seed": int(seed),
        "centre_replicates": int(centre_replicates),
        "design": digest(np.ascontiguousarray(design.X).tobytes(), design.stream.astype(np.int64).tobytes()),
        "peersim": package_version(),
        "model_source": model_source_digest(),
        "salib": version("SALib"),
    }


class KeptPoints:
    """The finished points of one analysis in ``out/checkpoint``: read back, and kept as they finish.

    Parameters
    ----------
    checkpoint
        The opened checkpoint.
    outputs
        Output names, in the order of the outputs' last axis.
    replicates, centre_replicates
        Replicates of each design point and of the centre.
    """

    def __init__(
        self, checkpoint: Checkpoint, outputs: tuple[str, ...], replicates: int, centre_replicates: int
    ) -> None:
        self.checkpoint = checkpoint
        self.outputs = outputs
        self.replicates = replicates
        self.centre_replicates = centre_replicates
        self.resumed = 0
        self._rows = checkpoint.read()
        self._centre = self._kept_centre()

    @classmethod
    def open(
        cls,
        out: Path,
        key: dict[str, Any],
        outputs: tuple[str, ...],
        replicates: int,
        centre_replicates: int,
        force: bool = False,
    ) -> KeptPoints:
        """Open the checkpoint of ``out`` for ``key`` (refusing another analysis's unless ``force``)."""
        checkpoint = Checkpoint.open(out, key, ("point", "replicate"), LABELS, UNIT, force)
        return cls(checkpoint, outputs, replicates, centre_replicates)

    @property
    def kept(self) -> int:
        """Design points kept on disk: those resumed and those written since."""
        return self.resumed + self.checkpoint.units_written

    def _columns(self) -> list[str]:
        return [f"output:{name}" for name in self.outputs]

    def known(self, points: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the outputs of the points kept, ``(points, replicates, outputs)``, and which are held."""
        Y = np.full((points, self.replicates, len(self.outputs)), np.nan)
        held = np.zeros(points, dtype=bool)
        rows = self._rows
        if rows is not None:
            point = rows["point"].to_numpy(dtype=np.int64)
            replicate = rows["replicate"].to_numpy(dtype=np.int64)
            inside = (point >= 0) & (point < points) & (replicate >= 0) & (replicate < self.replicates)
            values = rows[self._columns()].to_numpy(dtype=np.float64)
            Y[point[inside], replicate[inside]] = values[inside]
            held = np.bincount(point[inside], minlength=points) == self.replicates
        self.resumed = int(held.sum())
        self._rows = None  # read once: the outputs live on in ``Y``
        return Y, held

    def centre(self) -> np.ndarray | None:
        """Return the centre replicates kept, ``(centre_replicates, outputs)``, or ``None`` if not all are."""
        return self._centre

    def _kept_centre(self) -> np.ndarray | None:
        rows = self._rows
        if rows is None:
            return None
        rows = rows[rows["point"] == CENTRE].sort_values("replicate")
        if list(rows["replicate"]) != list(range(self.centre_replicates)):
            return None
        return rows[self._columns()].to_numpy(dtype=np.float64)

    def keep(self, point: int, values: np.ndarray) -> None:
        """Keep the outputs ``(replicates, outputs)`` of a finished point (``CENTRE`` for the centre)."""
        n = values.shape[0]
        columns = {"point": np.full(n, point, dtype=np.int64), "replicate": np.arange(n, dtype=np.int64)}
        columns |= {name: values[:, k] for k, name in enumerate(self._columns())}
        self.checkpoint.add(columns, units=0 if point == CENTRE else 1)

    def flush(self) -> None:
        """Write every finished point not written yet."""
        self.checkpoint.flush()
