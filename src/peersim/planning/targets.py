"""Targets (``METRIC>=VALUE`` or ``METRIC<=VALUE``) and how a plan is judged to meet them.

A plan meets its targets *with probability p* when, in a replicate (one draw of
the mechanism strengths from the posterior, if one is given, and one draw of
the model's own randomness), **every** target holds; the probability is the
share of replicates in which they all hold. A missing value (e.g. fidelity
when no session was delivered) counts as not met.

The share is judged with its one-sided 95% Wilson score bound:

* a plan is **accepted** when the *lower* bound is at least the required
  probability (0.8 by default): with 95% confidence the plan meets its targets
  at least that often, so a re-run with fresh seeds should agree;
* during screening (few replicates), a plan is **kept** for confirmation when
  the *upper* bound reaches the required probability, i.e. when the
  replicates so far cannot rule it out.

This is stricter than the plain share: with 40 replicates a plan needs 37 or
more successes (a share of about 0.93) to be accepted at 0.8.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from peersim.errors import PeersimInputError
from peersim.results import METRICS

DERIVED_METRICS: dict[str, str] = {
    "readmissions_averted_per_100": "12-month readmissions averted per 100 people discharged "
    "(usual care minus peer support, same people)",
    "readmissions_averted_per_year": "Readmissions averted in a year of admissions",
    "cost_total": "Yearly cost of the plan, resourcing plus travel",
    "net_cost": "Yearly cost less the cost of the readmissions averted",
}
"""Plan outcomes computed from the model's metrics and the costs file."""
TARGET_METRICS: dict[str, str] = {
    **{name: text for name, text in METRICS.items()},
    "readmissions_averted_per_100": DERIVED_METRICS["readmissions_averted_per_100"],
    "readmissions_averted_per_year": DERIVED_METRICS["readmissions_averted_per_year"],
}
"""Metrics a ``--target`` may name (costs are constrained with ``--budget`` instead)."""

DEFAULT_PROBABILITY = 0.8
"""Probability with which a recommended plan must meet all its targets."""
CONFIDENCE = 0.95
"""One-sided confidence of the Wilson bounds used to judge that probability."""

Operator = Literal[">=", "<="]
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|=>|=<|>|<|=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Target:
    """One target: ``metric op value``."""

    metric: str
    op: Operator
    value: float

    @property
    def text(self) -> str:
        """The target as written, normalised (e.g. ``engagement_rate>=0.5``)."""
        return f"{self.metric}{self.op}{self.value:g}"

    @property
    def higher_is_better(self) -> bool:
        """Whether larger values of the metric move towards the target."""
        return self.op == ">="

    def met(self, values: np.ndarray) -> np.ndarray:
        """Whether each value meets the target (missing values do not)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            hit = values >= self.value if self.op == ">=" else values <= self.value
        return hit & np.isfinite(values)


def parse_target(text: str) -> Target:
    """Parse ``METRIC>=VALUE`` or ``METRIC<=VALUE``.

    Raises
    ------
    PeersimInputError
        For another operator, a value that is not a number, or a metric that is
        not in :data:`TARGET_METRICS`; the message lists the valid metrics.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise PeersimInputError(
            f"--target {text!r}: expected METRIC>=VALUE or METRIC<=VALUE, e.g. engagement_rate>=0.5"
        )
    metric, op, raw = match.groups()
    if op not in (">=", "<="):
        raise PeersimInputError(
            f"--target {text!r}: use >= or <= (a target is met at or beyond its value), not {op!r}"
        )
    if metric not in TARGET_METRICS:
        raise PeersimInputError(
            f"--target {text!r}: unknown metric {metric!r}; metrics are: {', '.join(TARGET_METRICS)}"
        )
    try:
        value = float(raw)
    except ValueError:
        raise PeersimInputError(f"--target {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise PeersimInputError(f"--target {text!r}: the value must be finite")
    return Target(metric, ">=" if op == ">=" else "<=", value)


def parse_targets(texts: Sequence[str]) -> tuple[Target, ...]:
    """Parse several targets; the same metric and direction may not appear twice."""
    targets = tuple(parse_target(text) for text in texts)
    seen: set[tuple[str, str]] = set()
    for target in targets:
        key = (target.metric, target.op)
        if key in seen:
            raise PeersimInputError(f"--target: {target.metric}{target.op} is given twice; give it once")
        seen.add(key)
    return targets


def z_one_sided(confidence: float = CONFIDENCE) -> float:
    """Return the normal quantile of a one-sided bound at ``confidence`` (1.645 at 0.95)."""
    return NormalDist().inv_cdf(confidence)


def wilson_bounds(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """One-sided Wilson score bounds ``(lower, upper)`` of a proportion.

    Each bound on its own holds with probability ``confidence``. With ``n = 0``
    the bounds are ``(0, 1)``.
    """
    if n <= 0:
        return 0.0, 1.0
    z = z_one_sided(confidence)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def min_replicates(probability: float = DEFAULT_PROBABILITY, confidence: float = CONFIDENCE) -> int:
    """Fewest replicates with which a plan that always meets its targets can be accepted.

    With every replicate a success the lower Wilson bound is ``n / (n + z^2)``.
    """
    z = z_one_sided(confidence)
    return max(1, math.ceil(probability * z * z / (1.0 - probability) - 1e-9))
