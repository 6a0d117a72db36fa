"""The replicates of a plan's grid kept in its output directory as they finish, and read back on resume.

With ``out``, every finished replicate of every plan goes into
``out/checkpoint/`` (:class:`peersim.io.checkpoint.Checkpoint`): one row per
plan and replicate, ``plan, replicate``, the :data:`~peersim.planning.evaluate.OUTCOMES`
and the :data:`~peersim.planning.evaluate.YEAR_OUTCOMES` of each service year
(:func:`year_columns`, e.g. ``year2:readmissions_averted``).
A replicate that failed is not kept, so it is tried again. Running the plan
again fills its :class:`~peersim.planning.evaluate.OutcomeStore` with them
and runs only what the search asks for beyond; since replicate ``i`` of a plan
is the same run whenever it is made, the answer is that of an uninterrupted
plan, bit for bit.

The key (:func:`plan_key`) is what the kept outcomes depend on: the site (its
hash), the lever grid (a digest of every plan's scenario hash, in grid order),
the seed, the posterior (a digest of its particles, weights and fixed values)
and the code (peersim version, model source). Targets, budget, probability and
replicate counts decide only which replicates are asked for, so a plan resumed
with other ones reuses what is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from peersim.io.checkpoint import Checkpoint, digest
from peersim.io.provenance import model_source_digest, package_version
from peersim.planning.evaluate import OUTCOMES, YEAR_OUTCOMES, OutcomeStore, PlanTaskOutput
from peersim.planning.levers import PlanSpec
from peersim.uncertainty import Posterior

UNIT = "plan runs"
"""What the checkpoint's units are called in messages."""

LABELS: dict[str, str] = {
    "experiment": "experiment",
    "site": "site",
    "site_hash": "site hash",
    "plans": "plans in the lever grid",
    "grid": "lever grid (digest of its scenarios)",
    "seed": "`seed`",
    "posterior": "`posterior` (digest)",
    "peersim": "peersim version",
    "model_source": "model source digest",
}
"""How a refusal names each field of the key."""


def year_columns(years: int) -> list[str]:
    """Checkpoint columns of the per-year outcomes of ``years`` service years, year by year."""
    return [f"year{year}:{name}" for year in range(1, years + 1) for name in YEAR_OUTCOMES]


def posterior_digest(posterior: Posterior | None) -> str | None:
    """Return a digest of what a posterior draws (particles, weights, fixed values); ``None`` for none."""
    if posterior is None:
        return None
    particles = posterior.particles
    return digest(
        json.dumps(list(map(str, particles.columns))).encode(),
        np.ascontiguousarray(particles.to_numpy(dtype=np.float64)).tobytes(),
        np.ascontiguousarray(posterior.weights, dtype=np.float64).tobytes(),
        json.dumps(sorted(posterior.fixed.items())).encode(),
    )


def plan_key(
    site_name: str, site_hash: str, plans: Sequence[PlanSpec], seed: int, posterior: Posterior | None
) -> dict[str, Any]:
    """Return everything the kept outcomes of a plan's grid depend on (see the module docstring)."""
    return {
        "experiment": "plan",
        "site": site_name,
        "site_hash": site_hash,
        "plans": len(plans),
        "grid": digest("\n".join(p.scenario.hash for p in plans).encode()),
        "seed": int(seed),
        "posterior": posterior_digest(posterior),
        "peersim": package_version(),
        "model_source": model_source_digest(),
    }


class KeptRuns:
    """The finished replicates of a plan's grid in ``out/checkpoint``: read back, and kept as they finish.

    Parameters
    ----------
    checkpoint
        The opened checkpoint.
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.restored: dict[int, set[int]] = {}
        """Replicates read back from the checkpoint, by plan."""

    @classmethod
    def open(cls, out: Path, key: dict[str, Any], force: bool = False) -> KeptRuns:
        """Open the checkpoint of ``out`` for ``key`` (refusing another plan's unless ``force``)."""
        return cls(Checkpoint.open(out, key, ("plan", "replicate"), LABELS, UNIT, force))

    @property
    def kept(self) -> int:
        """Replicates kept on disk: those read back and those written since."""
        return sum(len(held) for held in self.restored.values()) + self.checkpoint.units_written

    def restore(self, store: OutcomeStore, plans: int, years: int) -> None:
        """Put every replicate kept (of plans ``0 .. plans - 1``, ``years`` service years) into ``store``.

        Rows without every outcome of this code (kept by other code, which the
        key's model source refuses anyway) are left to run again.
        """
        rows = self.checkpoint.read()
        columns = [*OUTCOMES, *year_columns(years)]
        if rows is None or not set(columns) <= set(rows.columns):
            return
        plan = rows["plan"].to_numpy(dtype=np.int64)
        replicate = rows["replicate"].to_numpy(dtype=np.int64)
        values = rows[list(OUTCOMES)].to_numpy(dtype=np.float64)
        per_year = rows[year_columns(years)].to_numpy(dtype=np.float64).reshape(len(rows), years, -1)
        for p, r, row, year_rows in zip(plan, replicate, values, per_year, strict=True):
            if 0 <= p < plans and r >= 0:
                store.rows.setdefault(int(p), {})[int(r)] = row
                store.years.setdefault(int(p), {})[int(r)] = year_rows
                self.restored.setdefault(int(p), set()).add(int(r))

    def keep(self, output: PlanTaskOutput) -> None:
        """Keep the replicates of a finished task that did not fail."""
        failed = {index for index, _ in output.failures}
        rows = [i for i, index in enumerate(output.replicates) if index not in failed]
        if not rows:
            return
        columns = {
            "plan": np.full(len(rows), output.plan, dtype=np.int64),
            "replicate": np.asarray(output.replicates, dtype=np.int64)[rows],
        }
        columns |= {name: output.values[rows, k] for k, name in enumerate(OUTCOMES)}
        if output.years is not None:
            flat = output.years[rows].reshape(len(rows), -1)
            names = year_columns(output.years.shape[1])
            columns |= {name: flat[:, k] for k, name in enumerate(names)}
        self.checkpoint.add(columns, units=len(rows))

    def flush(self) -> None:
        """Write every finished replicate not written yet."""
        self.checkpoint.flush()
