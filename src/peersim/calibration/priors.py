"""Uniform priors on mechanism strengths, from the one declared source of bounds.

Every calibrated parameter has a uniform prior over its declared bounds in
:data:`peersim.parameters.MECHANISM_PARAMS`. A targets file may pick which
parameters to calibrate (``[priors] parameters = [...]``; the others keep the
scenario's values) and narrow a prior (``[priors.bounds] NAME = [low, high]``),
but never widen one beyond the declared bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from peersim.calibration.targets import TargetSet
from peersim.errors import PeersimInputError
from peersim.parameters import MECHANISM_PARAMS


@dataclass(frozen=True)
class UniformPrior:
    """Uniform prior of one parameter on ``[low, high]``."""

    name: str
    low: float
    high: float

    @property
    def sd(self) -> float:
        """Standard deviation of the uniform distribution."""
        return (self.high - self.low) / math.sqrt(12.0)


@dataclass(frozen=True)
class Priors:
    """Independent uniform priors of the calibrated parameters, in declaration order."""

    priors: tuple[UniformPrior, ...]

    @property
    def names(self) -> list[str]:
        """Calibrated parameter names."""
        return [p.name for p in self.priors]

    def __getitem__(self, name: str) -> UniformPrior:
        for prior in self.priors:
            if prior.name == name:
                return prior
        raise KeyError(name)

    def to_pyabc(self) -> Any:
        """Return the prior as a ``pyabc.Distribution`` (imports pyabc)."""
        import pyabc

        return pyabc.Distribution(**{p.name: pyabc.RV("uniform", p.low, p.high - p.low) for p in self.priors})

    def as_dict(self) -> dict[str, list[float]]:
        """``{name: [low, high]}`` for records."""
        return {p.name: [p.low, p.high] for p in self.priors}


def build_priors(target_set: TargetSet) -> Priors:
    """Build the priors a targets file asks for.

    Raises
    ------
    PeersimInputError
        For an unknown parameter, bounds for a parameter that is not
        calibrated, ``low >= high``, or bounds outside the declared ones; the
        message names the file and key path and gives the declared range.
    """
    spec = target_set.spec.priors
    source = target_set.source
    valid = ", ".join(MECHANISM_PARAMS)
    if spec.parameters is None:
        names = list(MECHANISM_PARAMS)
    else:
        names = []
        for index, name in enumerate(spec.parameters):
            if name not in MECHANISM_PARAMS:
                raise PeersimInputError(
                    f"{source}: priors.parameters[{index}]: {name!r} is not a mechanism parameter; "
                    f"valid: {valid}"
                )
            if name in names:
                raise PeersimInputError(f"{source}: priors.parameters[{index}]: {name!r} is listed twice")
            names.append(name)
        if not names:
            raise PeersimInputError(f"{source}: priors.parameters: list at least one parameter to calibrate")
    for name in spec.bounds:
        if name not in MECHANISM_PARAMS:
            raise PeersimInputError(
                f"{source}: priors.bounds.{name}: {name!r} is not a mechanism parameter; valid: {valid}"
            )
        if name not in names:
            raise PeersimInputError(
                f"{source}: priors.bounds.{name}: {name!r} is not calibrated (not in priors.parameters)"
            )
    priors = []
    for name in MECHANISM_PARAMS:
        if name not in names:
            continue
        declared = MECHANISM_PARAMS[name]
        low, high = spec.bounds.get(name, (declared.low, declared.high))
        key = f"{source}: priors.bounds.{name}"
        if not (math.isfinite(low) and math.isfinite(high)):
            raise PeersimInputError(f"{key}: bounds must be finite numbers, got [{low!r}, {high!r}]")
        if low >= high:
            raise PeersimInputError(f"{key}: low {low:g} must be below high {high:g}")
        if low < declared.low or high > declared.high:
            raise PeersimInputError(
                f"{key}: prior [{low:g}, {high:g}] is outside the declared bounds of {name} "
                f"({declared.range_text}, peersim.parameters); narrow it, never widen it"
            )
        priors.append(UniformPrior(name, float(low), float(high)))
    return Priors(tuple(priors))
