"""Analytic targets with known sensitivity indices, run through the same engine as the model.

:class:`IshigamiTarget` evaluates the Ishigami-Homma function

    f(x) = sin(x1) + a sin(x2)^2 + b x3^4 sin(x1),  x_i ~ U(-pi, pi),

whose indices are known in closed form (:func:`ishigami_indices`; for ``a = 7``,
``b = 0.1``: S1 = 0.314, 0.442, 0; ST = 0.558, 0.442, 0.244). With
``noise_sd > 0`` each replicate adds independent normal noise drawn from that
replicate's seed (and the point), which makes the noise floor known too:
``noise_sd**2 / replicates`` over the variance of the replicate mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from peersim.sensitivity.evaluate import Point
from peersim.sensitivity.inputs import Factor, FactorSpace


def ishigami_space() -> FactorSpace:
    """Return the three Ishigami factors, each uniform on ``[-pi, pi]``."""
    return FactorSpace(
        tuple(Factor(f"x{i}", f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)), source="<ishigami>"
    )


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, tuple[float, float, float]]:
    """Analytic first-order (``"S1"``) and total (``"ST"``) indices of x1, x2, x3."""
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": (v1 / v, v2 / v, 0.0), "ST": ((v1 + v13) / v, v2 / v, v13 / v)}


def ishigami_variance(a: float = 7.0, b: float = 0.1) -> float:
    """Variance of the Ishigami function over its inputs."""
    return 0.5 * (1 + b * math.pi**4 / 5) ** 2 + a**2 / 8 + b**2 * math.pi**8 * (1 / 18 - 1 / 50)


@dataclass(frozen=True)
class IshigamiTask:
    """One Ishigami point and its replicates."""

    point: Point
    a: float
    b: float
    noise_sd: float


def evaluate_ishigami(task: IshigamiTask) -> np.ndarray:
    """Return ``(replicates, 1)`` values of the (optionally noisy) Ishigami function."""
    x1, x2, x3 = task.point.values
    value = math.sin(x1) + task.a * math.sin(x2) ** 2 + task.b * x3**4 * math.sin(x1)
    out = np.full((task.point.replicates, 1), value)
    if task.noise_sd > 0:
        # Independent noise per point and replicate, reproducible from the seed.
        words = np.asarray(task.point.values, dtype=np.float64).view(np.uint32).tolist()
        for r in range(task.point.replicates):
            base = task.point.replicate_seed(r)
            rng = np.random.default_rng(
                np.random.SeedSequence(base.entropy, spawn_key=(*base.spawn_key, *words))
            )
            out[r, 0] += task.noise_sd * rng.standard_normal()
    return out


class IshigamiTarget:
    """The Ishigami function as an engine target (one output, ``"ishigami"``)."""

    def __init__(self, a: float = 7.0, b: float = 0.1, noise_sd: float = 0.0) -> None:
        self.a, self.b, self.noise_sd = a, b, noise_sd

    @property
    def outputs(self) -> tuple[str, ...]:
        """The single output."""
        return ("ishigami",)

    @property
    def evaluate(self) -> Callable[[Any], np.ndarray]:
        """:func:`evaluate_ishigami`."""
        return evaluate_ishigami

    def task(self, point: Point) -> IshigamiTask:
        """Wrap ``point``."""
        return IshigamiTask(point, self.a, self.b, self.noise_sd)

    def stamp(self) -> dict[str, Any]:
        """Identify the function."""
        return {
            "scenario": f"ishigami(a={self.a:g}, b={self.b:g}, noise_sd={self.noise_sd:g})",
            "scenario_hash": "",
        }
