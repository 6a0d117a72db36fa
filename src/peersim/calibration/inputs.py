"""Calibration inputs: a targets file parsed, validated and bound to a scenario, and its priors.

A targets file (TOML) lists what the calibrated model should reproduce. Each
``[[targets]]`` entry states:

* what is measured: a headline metric (:data:`peersim.core.results.METRICS`) pooled
  over all sites (the default), at named sites (``sites = [...]``) or over a
  group of sites (``host = ...`` and/or ``geography = ...``), optionally in one
  arm (``arm = "peer_support"`` or ``"usual_care"``, with the per-arm metrics of
  :data:`ARM_METRICS`);
* or a contrast ``compare = "difference"`` (a - b) or ``"ratio"`` (a / b)
  between two such selections ``a = {...}`` and ``b = {...}`` (each inherits
  ``metric`` and ``arm`` from the target unless it sets its own);
* the observation: a point with an interval (``value``, ``low``, ``high``, read
  as a 95% interval) or an ordinal constraint (``at_least`` or ``at_most``,
  with a ``tolerance`` in the metric's units);
* a ``weight`` and its ``source`` with a ``confidence`` tag: ``"V"`` (read in the
  source text) or ``"A"`` (approximate).

A value over several sites is the mean of the sites' values, each site counting
once (the comparative case study compares sites, not participants).

The file may also narrow the priors (``[priors]``, :func:`build_priors`): every
calibrated parameter has a uniform prior over its declared bounds in
:data:`peersim.core.parameters.MECHANISM_PARAMS`; a targets file may pick which
parameters to calibrate (``[priors] parameters = [...]``; the others keep the
scenario's values) and narrow a prior (``[priors.bounds] NAME = [low, high]``),
but never widen one beyond the declared bounds. Reading goes parse (TOML) -> validate
(pydantic, :class:`TargetsFile`) -> bind (:func:`bind_targets`, which checks site
names and groups against a scenario). Every failure raises
:class:`~peersim.errors.PeersimInputError` naming the file and the key path.

Several studies. A targets file may name the scenario its targets refer to
(top-level ``scenario = "my_service.toml"``, a path relative to the targets
file, or ``"enrich_trial"`` for the embedded default; :func:`study_scenario`).
:func:`bind_studies` binds several targets files, each to its own scenario, as
the :class:`Study` objects of one calibration: their target names are
prefixed with the study's name (``enrich.itt_odds_ratio``), no site name may
belong to two studies, and :func:`build_study_priors` combines their priors:
the mechanism strengths are shared, the usual-care baseline
(:data:`~peersim.uncertainty.PER_STUDY_PARAMS`) is one parameter per study
(``p_readmit_12m_usual_care@enrich``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import Field, Strict, ValidationError, model_validator

from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.results import FIDELITY_DOMAINS, METRIC_RANGES, METRICS, OVERALL, RunResult, range_text
from peersim.core.scenario import Geography, Host, Scenario
from peersim.core.scenario_files import DEFAULT_SCENARIO_RESOURCE, default_scenario, load_scenario
from peersim.errors import PeersimInputError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import Problem, StrictModel, humanise
from peersim.stats import normal_quantile
from peersim.uncertainty import PER_STUDY_PARAMS, split_study_parameter, study_parameter

DEFAULT_TARGETS_RESOURCE = "default_targets.toml"
"""Packaged copy of ``calibration/targets.toml`` (the two files are kept identical)."""

_FIDELITY_METRICS = ("fidelity_index", *(f"fidelity_{d}" for d in FIDELITY_DOMAINS))

ARM_METRICS: dict[str, tuple[str, ...]] = {
    "peer_support": (
        "participants",
        "readmission_rate",
        "engagement_rate",
        "mean_contacts",
        "contacts_before_discharge",
        *_FIDELITY_METRICS,
    ),
    "usual_care": ("participants", "readmission_rate", "mean_contacts", "contacts_before_discharge"),
}
"""Metrics of the per-arm ``outcomes`` table of a :class:`~peersim.core.results.RunResult`, by arm."""

Arm = Literal["peer_support", "usual_care"]
Confidence = Literal["V", "A"]
Compare = Literal["difference", "ratio"]

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,59}$"

STUDY_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,59}$"
"""What the ``name`` of a targets file must look like when it names one study of several."""

EMBEDDED_SCENARIO = Path(DEFAULT_SCENARIO_RESOURCE).stem
"""``scenario = "enrich_trial"`` in a targets file: the embedded default scenario."""


class Selector(StrictModel):
    """Which value of a run a target (or one side of a contrast) reads.

    Without ``sites``, ``host`` or ``geography`` the value pooled over all sites is
    used. ``sites`` names sites; ``host``/``geography`` select a group. A value
    over several sites is the unweighted mean of the sites' values.
    """

    metric: str | None = Field(
        default=None, description="Metric name (inherited from the target if omitted)."
    )
    arm: Arm | None = Field(default=None, description="Read the per-arm outcomes table for this arm.")
    sites: tuple[str, ...] | None = Field(default=None, min_length=1, strict=False, description="Site names.")
    host: Host | None = Field(default=None, description="Select the sites with this host organisation.")
    geography: Geography | None = Field(default=None, description="Select the sites with this geography.")

    @model_validator(mode="after")
    def _sites_or_group(self) -> Self:
        if self.sites is not None and (self.host is not None or self.geography is not None):
            raise ValueError("give either 'sites' or a group ('host' and/or 'geography'), not both")
        return self


class TargetSpec(StrictModel):
    """One calibration target as written in the file (see the module docstring)."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique target name (letters, digits, '_').")
    description: str = Field(default="", description="What the target means, for people.")
    metric: str | None = Field(default=None, description="Metric name; see peersim.core.results.METRICS.")
    arm: Arm | None = None
    sites: tuple[str, ...] | None = Field(default=None, min_length=1, strict=False)
    host: Host | None = None
    geography: Geography | None = None
    compare: Compare | None = Field(default=None, description="Contrast of a and b: difference or ratio.")
    a: Selector | None = None
    b: Selector | None = None
    value: float | None = Field(default=None, strict=False, description="Observed point value.")
    low: float | None = Field(default=None, strict=False, description="Lower end of the 95% interval.")
    high: float | None = Field(default=None, strict=False, description="Upper end of the 95% interval.")
    at_least: float | None = Field(default=None, strict=False, description="Ordinal: value >= this.")
    at_most: float | None = Field(default=None, strict=False, description="Ordinal: value <= this.")
    tolerance: float = Field(
        default=0.05, gt=0, strict=False, description="Ordinal: scale of a violation, in metric units."
    )
    weight: float = Field(default=1.0, gt=0, le=100, strict=False, description="Relative weight (> 0).")
    source: str = Field(min_length=1, description="Where the observation comes from.")
    confidence: Confidence = Field(description="V: read in the source; A: approximate.")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.compare is None:
            if self.a is not None or self.b is not None:
                raise ValueError("'a' and 'b' need compare = \"difference\" or \"ratio\"")
            if self.metric is None:
                raise ValueError("a target needs 'metric' (or compare with 'a' and 'b')")
            Selector(
                metric=self.metric, arm=self.arm, sites=self.sites, host=self.host, geography=self.geography
            )
        else:
            if self.a is None or self.b is None:
                raise ValueError(f"compare = {self.compare!r} needs both 'a' and 'b' selections")
            if self.sites is not None or self.host is not None or self.geography is not None:
                raise ValueError("with compare, put 'sites', 'host' or 'geography' inside 'a' and 'b'")
            for side, selector in (("a", self.a), ("b", self.b)):
                if selector.metric is None and self.metric is None:
                    raise ValueError(f"'{side}' needs a metric (or give 'metric' for the whole target)")
        point = [k for k in ("value", "low", "high") if getattr(self, k) is not None]
        ordinal = [k for k in ("at_least", "at_most") if getattr(self, k) is not None]
        if point and ordinal:
            raise ValueError("give either value/low/high or at_least/at_most, not both")
        if not point and not ordinal:
            raise ValueError("an observation is missing: give value, low and high, or at_least or at_most")
        if len(ordinal) > 1:
            raise ValueError("give one of at_least and at_most (use value/low/high for an interval)")
        if point:
            missing = [k for k in ("value", "low", "high") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"value, low and high go together; missing: {', '.join(missing)}")
            if self.value is None or self.low is None or self.high is None:  # pragma: no cover
                raise ValueError("value, low and high go together")
            if self.low > self.high:
                raise ValueError(f"interval low {self.low:g} is above high {self.high:g}")
            if self.low == self.high:
                raise ValueError(
                    f"interval low and high are both {self.low:g}: give the uncertainty as low < high"
                )
            if not self.low <= self.value <= self.high:
                raise ValueError(
                    f"value {self.value:g} lies outside its interval [{self.low:g}, {self.high:g}]"
                )
        for key in ("value", "low", "high", "at_least", "at_most", "tolerance", "weight"):
            number = getattr(self, key)
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{key} must be a finite number, got {number!r}")
        bounds = self._possible()
        if bounds is not None:
            for key in ("value", "low", "high", "at_least", "at_most"):
                number = getattr(self, key)
                if number is not None and not bounds[0] <= number <= bounds[1]:
                    raise ValueError(
                        f"{key} {number:g} is out of range: the statistic lies in {range_text(bounds)}"
                    )
        return self

    def _possible(self) -> tuple[float, float] | None:
        """Return the values the target's statistic can take, if its metrics are headline metrics."""
        if self.compare is None:
            return METRIC_RANGES.get(self.metric or "") if self.arm is None else None
        if self.compare != "difference" or self.a is None or self.b is None:
            return None
        if self.a.arm is not None or self.b.arm is not None:
            return None
        a = METRIC_RANGES.get(self.a.metric or self.metric or "")
        b = METRIC_RANGES.get(self.b.metric or self.metric or "")
        if a is None or b is None:
            return None
        return (a[0] - b[1], a[1] - b[0])

    def selectors(self) -> tuple[Selector, ...]:
        """Return the one selection of a simple target, or (a, b) of a contrast."""
        if self.compare is None:
            return (
                Selector(
                    metric=self.metric,
                    arm=self.arm,
                    sites=self.sites,
                    host=self.host,
                    geography=self.geography,
                ),
            )
        if self.a is None or self.b is None:  # pragma: no cover - the validator guarantees both
            raise ValueError(f"target {self.name!r} has compare without 'a' and 'b'")
        return tuple(
            side.model_copy(
                update={
                    "metric": side.metric if side.metric is not None else self.metric,
                    "arm": side.arm if side.arm is not None else self.arm,
                }
            )
            for side in (self.a, self.b)
        )

    @property
    def is_ordinal(self) -> bool:
        """Whether the observation is an ordinal constraint rather than a point."""
        return self.at_least is not None or self.at_most is not None

    def observed_text(self) -> str:
        """Return the observation in words, e.g. ``"0.51 [0.43, 0.59]"`` or ``">= 0"``."""
        if self.at_least is not None:
            return f">= {self.at_least:g}"
        if self.at_most is not None:
            return f"<= {self.at_most:g}"
        return f"{self.value:g} [{self.low:g}, {self.high:g}]"


class PriorsSpec(StrictModel):
    """``[priors]``: which mechanism parameters to calibrate and optional narrower bounds."""

    parameters: tuple[str, ...] | None = Field(
        default=None,
        strict=False,
        description="Mechanism parameters to calibrate (default: all); others keep the scenario values.",
    )
    bounds: dict[str, Annotated[tuple[float, float], Strict(False)]] = Field(
        default_factory=dict,
        strict=False,
        description="Narrower uniform prior [low, high] per parameter, inside the declared bounds.",
    )


class TargetsFile(StrictModel):
    """A whole targets file."""

    name: str = Field(min_length=1, max_length=80, description="Label of this target set.")
    description: str = ""
    scenario: str | None = Field(
        default=None,
        min_length=1,
        description="Scenario the targets refer to: a file relative to the targets file, "
        f"or {EMBEDDED_SCENARIO!r} for the embedded default.",
    )
    priors: PriorsSpec = Field(default_factory=PriorsSpec)
    targets: tuple[TargetSpec, ...] = Field(min_length=1, strict=False)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.name in seen:
                raise ValueError(f"targets[{index}].name: duplicate target name {target.name!r}")
            seen.add(target.name)
        return self


@dataclass(frozen=True)
class TargetSet:
    """A validated targets file and where it came from."""

    spec: TargetsFile
    source: str
    """File name (or ``<embedded ...>``) used in messages."""
    folder: Path | None = None
    """Folder a relative ``scenario`` is read from (the targets file's; ``None``: the working folder)."""

    @property
    def targets(self) -> tuple[TargetSpec, ...]:
        """The targets, in file order."""
        return self.spec.targets

    @property
    def names(self) -> list[str]:
        """Target names, in file order."""
        return [t.name for t in self.spec.targets]

    @property
    def fingerprint(self) -> str:
        """Digest of the validated content (not its formatting or comments).

        ``scenario`` is left out: the scenario's content is fingerprinted on its
        own (:func:`peersim.calibration.smc.fingerprint`), and a file without
        the key digests as it did before the key existed.
        """
        text = json.dumps(self.spec.model_dump(mode="json", exclude={"scenario"}), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_targets(path: str | Path) -> TargetSet:
    """Read and validate a targets file.

    Raises
    ------
    PeersimInputError
        If the file is missing, not TOML or invalid; the message names the file
        and the key path (e.g. ``targets[2].low``).
    """
    return parse_targets(read_text_file(path), source=str(path), folder=Path(path).parent)


def parse_targets(text: str, source: str = "<targets>", folder: Path | None = None) -> TargetSet:
    """Validate targets TOML text; ``source`` names it in error messages.

    ``folder`` is where a relative ``scenario`` is read from (default: the working folder).
    """
    return targets_from_dict(parse_toml(text, source), source=source, folder=folder)


def targets_from_dict(
    data: dict[str, Any], source: str = "<targets>", folder: Path | None = None
) -> TargetSet:
    """Validate plain data shaped like a targets file (``folder``: see :func:`parse_targets`)."""
    try:
        spec = TargetsFile.model_validate(data)
    except ValidationError as error:
        raise humanise(error, source, TargetsFile, "targets", rules=(_top_level_target,)) from None
    return TargetSet(spec, source, folder)


def default_targets_text() -> str:
    """TOML text of the packaged default targets (approximate ENRICH figures)."""
    return resources.files("peersim.data").joinpath(DEFAULT_TARGETS_RESOURCE).read_text("utf-8")


def default_targets() -> TargetSet:
    """Return the packaged default targets: the study's published contrasts (see docs/calibration.md)."""
    return parse_targets(default_targets_text(), source=f"<embedded {DEFAULT_TARGETS_RESOURCE}>")


def _top_level_target(problem: Problem) -> str | None:
    """Pass on a file-level check that already names the target's key path (duplicate names)."""
    if (
        problem.kind == "value_error"
        and problem.path == "<top level>"
        and problem.message.startswith("targets[")
    ):
        return problem.message
    return None


# --- binding to a scenario -------------------------------------------------------------


@dataclass(frozen=True)
class BoundSelector:
    """A selection resolved against a scenario: table, metric and site labels."""

    table: Literal["metrics", "outcomes"]
    metric: str
    arm: str | None
    sites: tuple[str, ...]
    """Site labels whose values are averaged (``("overall",)`` for pooled)."""

    def value(self, lookup: dict[tuple[str, str, str], float]) -> float:
        """Mean of the selected sites' values (NaN if none is finite)."""
        arm = self.arm or ""
        values = [lookup.get((site, arm, self.metric), math.nan) for site in self.sites]
        finite = [v for v in values if math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan


@dataclass(frozen=True)
class BoundTarget:
    """A target resolved against a scenario, able to read its value from a run."""

    spec: TargetSpec
    selectors: tuple[BoundSelector, ...]

    @property
    def name(self) -> str:
        """The target's name."""
        return self.spec.name

    def value(self, lookup: dict[tuple[str, str, str], float]) -> float:
        """Return the target's statistic in one run (NaN if it cannot be computed)."""
        values = [s.value(lookup) for s in self.selectors]
        if len(values) == 1:
            return values[0]
        a, b = values
        if self.spec.compare == "difference":
            return a - b
        return a / b if b != 0 and math.isfinite(b) else math.nan

    def discrepancy(self, value: float) -> float:
        """Standardised distance of a simulated value from the observation (>= 0 units).

        Point targets: ``(value - point) / sd`` with ``sd`` the half-width of the
        95% interval on that side divided by 1.96 (signed). Ordinal targets: the
        violation divided by ``tolerance`` (0 when the constraint holds).
        """
        spec = self.spec
        if spec.at_least is not None:
            return max(0.0, spec.at_least - value) / spec.tolerance
        if spec.at_most is not None:
            return max(0.0, value - spec.at_most) / spec.tolerance
        if spec.value is None or spec.low is None or spec.high is None:  # pragma: no cover
            raise ValueError(f"target {spec.name!r} has no observation")
        z = normal_quantile(0.975)  # an observed interval is read as a 95% interval
        below = (spec.value - spec.low) / z
        above = (spec.high - spec.value) / z
        sd = below if value < spec.value else above
        if sd <= 0:
            sd = max(below, above)
        return (value - spec.value) / sd

    def satisfied(self, value: float) -> bool:
        """Whether a value meets an ordinal constraint, or lies in a point target's interval."""
        spec = self.spec
        if not math.isfinite(value):
            return False
        if spec.at_least is not None:
            return value >= spec.at_least
        if spec.at_most is not None:
            return value <= spec.at_most
        if spec.low is None or spec.high is None:  # pragma: no cover
            raise ValueError(f"target {spec.name!r} has no observation")
        return spec.low <= value <= spec.high


@dataclass(frozen=True)
class BoundTargets:
    """A target set bound to one scenario."""

    target_set: TargetSet
    targets: tuple[BoundTarget, ...]

    @property
    def names(self) -> list[str]:
        """Target names, in file order."""
        return [t.name for t in self.targets]

    @property
    def weights(self) -> dict[str, float]:
        """Target weights, normalised to a mean of 1."""
        raw = {t.name: t.spec.weight for t in self.targets}
        mean = sum(raw.values()) / len(raw)
        return {k: v / mean for k, v in raw.items()}

    def values(self, result: RunResult) -> dict[str, float]:
        """Each target's statistic in one run."""
        lookup = run_lookup(result)
        return {t.name: t.value(lookup) for t in self.targets}


def run_lookup(result: RunResult) -> dict[tuple[str, str, str], float]:
    """Index a run's headline and per-arm values by ``(site, arm or "", metric)``."""
    m = result.metrics
    lookup = {
        (site, "", metric): float(value)
        for site, metric, value in zip(m["site"], m["metric"], m["value"], strict=True)
    }
    o = result.outcomes
    lookup.update(
        {
            (site, arm, metric): float(value)
            for site, arm, metric, value in zip(o["site"], o["arm"], o["metric"], o["value"], strict=True)
        }
    )
    return lookup


def bind_targets(target_set: TargetSet, scenario: Scenario) -> BoundTargets:
    """Resolve metrics, arms, sites and groups of every target against ``scenario``.

    Raises
    ------
    PeersimInputError
        For an unknown metric, a metric not reported for that arm, an unknown
        site, or a group that matches no site; the message names the targets
        file, the key path and the valid choices.
    """
    bound = []
    for index, spec in enumerate(target_set.targets):
        resolved = []
        for side_index, selector in enumerate(spec.selectors()):
            prefix = f"targets[{index}]"
            metric_path = f"{prefix}.metric"
            sites_path = prefix
            if spec.compare is not None:
                side = "ab"[side_index]
                explicit: Selector = getattr(spec, side)
                sites_path = f"{prefix}.{side}"
                if explicit.metric is not None:
                    metric_path = f"{sites_path}.metric"
            resolved.append(
                _bind_selector(
                    selector,
                    scenario,
                    f'{target_set.source}: {{path}} (target "{spec.name}")',
                    metric_path,
                    sites_path,
                )
            )
        bound.append(BoundTarget(spec, tuple(resolved)))
    return BoundTargets(target_set, tuple(bound))


def _bind_selector(
    selector: Selector, scenario: Scenario, label: str, metric_path: str, sites_path: str
) -> BoundSelector:
    metric = selector.metric
    assert metric is not None
    if selector.arm is None:
        if metric not in METRICS:
            raise PeersimInputError(
                label.format(path=metric_path)
                + f": unknown metric {metric!r}; valid metrics are: {', '.join(METRICS)}"
            )
        table: Literal["metrics", "outcomes"] = "metrics"
    else:
        valid = ARM_METRICS[selector.arm]
        if metric not in valid:
            raise PeersimInputError(
                label.format(path=metric_path)
                + f": {metric!r} is not reported per arm for arm {selector.arm!r}; "
                f"valid metrics with arm = {selector.arm!r} are: {', '.join(valid)}"
            )
        table = "outcomes"
    names = [s.name for s in scenario.sites]
    if selector.sites is not None:
        for position, name in enumerate(selector.sites):
            if name not in names:
                raise PeersimInputError(
                    label.format(path=f"{sites_path}.sites[{position}]")
                    + f": unknown site {name!r}; scenario {scenario.name!r} has sites: {', '.join(names)}"
                )
        sites = tuple(selector.sites)
    elif selector.host is not None or selector.geography is not None:
        sites = tuple(
            s.name
            for s in scenario.sites
            if (selector.host is None or s.host == selector.host)
            and (selector.geography is None or s.geography == selector.geography)
        )
        if not sites:
            group = ", ".join(
                f"{k} = {v!r}"
                for k, v in (("host", selector.host), ("geography", selector.geography))
                if v is not None
            )
            raise PeersimInputError(
                label.format(path=sites_path)
                + f": no site of scenario {scenario.name!r} has {group}; its sites are: "
                + ", ".join(f"{s.name} ({s.host}, {s.geography})" for s in scenario.sites)
            )
    else:
        sites = (OVERALL,)
    return BoundSelector(table, metric, selector.arm, sites)


# --- priors -------------------------------------------------------------------------


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

    @property
    def parameter(self) -> str:
        """The mechanism parameter: ``name`` without a per-study suffix (``p_readmit_12m_usual_care@a``)."""
        return split_study_parameter(self.name)[0]


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
        from peersim.calibration.prior import UniformBox  # heavy: pyabc (about 1 s), only when calibrating

        return UniformBox({p.name: (p.low, p.high) for p in self.priors})

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
                f"({declared.range_text}, peersim.core.parameters); narrow it, never widen it"
            )
        priors.append(UniformPrior(name, float(low), float(high)))
    return Priors(tuple(priors))


# --- several studies ----------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """One study of a calibration: a targets file bound to its own scenario.

    Attributes
    ----------
    name
        The targets file's ``name``; with several studies it prefixes target names.
    scenario
        The study's scenario (its sites and their inputs).
    targets
        Its targets bound to ``scenario`` (names prefixed ``name.`` when there are several studies).
    scenario_source
        Where the scenario came from, for messages and records.
    baseline
        Parameter holding this study's usual-care baseline
        (``p_readmit_12m_usual_care@name``), or ``None`` if the baseline is not
        calibrated per study (one study, not calibrated, or set by its scenario).
    """

    name: str
    scenario: Scenario
    targets: BoundTargets
    scenario_source: str
    baseline: str | None = None


def study_scenario(target_set: TargetSet) -> tuple[Scenario, str] | None:
    """Load the scenario a targets file names in ``scenario``, with its name for messages.

    Returns ``None`` for a file without the key. ``"enrich_trial"`` is the
    embedded default; anything else is a file, relative to the targets file's folder.

    Raises
    ------
    PeersimInputError
        If the file does not exist (naming the targets file and its ``scenario`` key), or
        (:class:`~peersim.errors.ScenarioError`) if the scenario is invalid.
    """
    named = target_set.spec.scenario
    if named is None:
        return None
    if named == EMBEDDED_SCENARIO:
        scenario = default_scenario()
        return scenario, f"<embedded {DEFAULT_SCENARIO_RESOURCE}>"
    path = Path(named)
    if not path.is_absolute() and target_set.folder is not None:
        path = target_set.folder / path
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a file"
        raise PeersimInputError(
            f"{target_set.source}: scenario: {named!r}: {what} ({path}); a relative path is read "
            f"from the targets file's folder, and {EMBEDDED_SCENARIO!r} names the embedded default scenario"
        )
    return load_scenario(path), str(path)


def prefixed_targets(bound: BoundTargets, study: str) -> BoundTargets:
    """Return ``bound`` with every target named ``study.name`` (as a multi-study calibration names them)."""
    targets = tuple(
        BoundTarget(t.spec.model_copy(update={"name": f"{study}.{t.spec.name}"}), t.selectors)
        for t in bound.targets
    )
    return BoundTargets(bound.target_set, targets)


def combined_targets(studies: tuple[Study, ...]) -> BoundTargets:
    """All studies' (prefixed) targets as one target set, in study then file order.

    Its weights are normalised over all targets. Its statistics cannot be read
    from one run (:meth:`BoundTargets.values`): each study's come from its own scenario.
    """
    if len(studies) == 1:
        return studies[0].targets
    specs = tuple(t.spec for study in studies for t in study.targets.targets)
    spec = TargetsFile.model_construct(
        name=" + ".join(study.name for study in studies),
        description="targets of several studies, each bound to its own scenario",
        scenario=None,
        priors=PriorsSpec(),
        targets=specs,
    )
    source = " + ".join(study.targets.target_set.source for study in studies)
    return BoundTargets(TargetSet(spec, source), tuple(t for s in studies for t in s.targets.targets))


def bind_studies(
    target_sets: list[TargetSet] | tuple[TargetSet, ...],
    scenarios: list[tuple[Scenario, str]] | tuple[tuple[Scenario, str], ...],
) -> tuple[Study, ...]:
    """Bind each targets file to its scenario as the studies of one calibration.

    With one file this is :func:`bind_targets` (names unprefixed). With several,
    target names are prefixed with the study's ``name``.

    Raises
    ------
    PeersimInputError
        With several files: a study name that is not a plain name or is used twice, two
        scenarios with the same ``name``, a site name used by two studies; or
        whatever :func:`bind_targets` refuses. Each message names the file and key.
    """
    if len(target_sets) != len(scenarios) or not target_sets:
        raise ValueError("give one scenario per targets file, and at least one targets file")
    if len(target_sets) == 1:
        (scenario, where), target_set = scenarios[0], target_sets[0]
        return (Study(target_set.spec.name, scenario, bind_targets(target_set, scenario), where),)
    names: dict[str, TargetSet] = {}
    for target_set in target_sets:
        name = target_set.spec.name
        if not re.match(STUDY_NAME_PATTERN, name):
            raise PeersimInputError(
                f"{target_set.source}: name: {name!r} cannot name a study of a multi-study calibration: "
                "it prefixes the study's target names (NAME.target) and its baseline parameter "
                "(p_readmit_12m_usual_care@NAME), so use a letter then letters, digits, '_' or '-'"
            )
        if name in names:
            raise PeersimInputError(
                f"{target_set.source}: name: study name {name!r} is also the name of "
                f"{names[name].source}; each targets file of a multi-study calibration names its own "
                "study, whose name prefixes its targets: give each file its own name"
            )
        names[name] = target_set
    owners: dict[str, tuple[str, str]] = {}
    scenario_names: dict[str, str] = {}
    for target_set, (scenario, where) in zip(target_sets, scenarios, strict=True):
        study = target_set.spec.name
        if scenario.name in scenario_names:
            raise PeersimInputError(
                f"{target_set.source}: scenario: {where} is named {scenario.name!r}, as is the scenario "
                f"of study {scenario_names[scenario.name]!r}; a multi-study posterior tells the "
                "studies' scenarios apart by name (to apply each study's baseline): give each "
                "scenario its own `name`"
            )
        scenario_names[scenario.name] = study
        for site in scenario.sites:
            key = site.name.lower()
            if key in owners:
                other, other_where = owners[key]
                raise PeersimInputError(
                    f"{target_set.source}: scenario: site {site.name!r} of {where} is also a site of "
                    f"study {other!r} ({other_where}); a site belongs to one study only: targets and "
                    "results address sites by name, so a shared name would be one site counted in two "
                    "studies or two sites no output could tell apart. Rename the site in one scenario, "
                    "or put targets about the same sites in one targets file"
                )
            owners[key] = (study, where)
    return tuple(
        Study(ts.spec.name, scenario, prefixed_targets(bind_targets(ts, scenario), ts.spec.name), where)
        for ts, (scenario, where) in zip(target_sets, scenarios, strict=True)
    )


def build_study_priors(studies: tuple[Study, ...]) -> Priors:
    """Priors of a calibration of several studies (one study: :func:`build_priors`).

    Shared mechanism strengths: every parameter some file calibrates (a file
    without ``[priors] parameters`` calibrates all), with the overlap of the
    files' bounds. Per study (:data:`~peersim.uncertainty.PER_STUDY_PARAMS`):
    ``p_readmit_12m_usual_care@STUDY`` with that study's own bounds, if its file
    calibrates the baseline and its scenario does not set it in ``[mechanisms]``
    (then it stays at the scenario's value). Shared parameters come first, in
    declaration order, then the baselines in study order.

    Raises
    ------
    PeersimInputError
        For a file's invalid ``[priors]`` (:func:`build_priors`), priors of two files
        that do not overlap, or nothing left to calibrate.
    """
    own = [build_priors(study.targets.target_set) for study in studies]
    if len(studies) == 1:
        return own[0]
    shared: dict[str, tuple[float, float, str]] = {}
    for study, priors in zip(studies, own, strict=True):
        source = study.targets.target_set.source
        for prior in priors.priors:
            if prior.name in PER_STUDY_PARAMS:
                continue
            if prior.name not in shared:
                shared[prior.name] = (prior.low, prior.high, source)
                continue
            low, high, first = shared[prior.name]
            if max(low, prior.low) >= min(high, prior.high):
                raise PeersimInputError(
                    f"{source}: priors.bounds.{prior.name}: prior [{prior.low:g}, {prior.high:g}] does "
                    f"not overlap [{low:g}, {high:g}] of {first}; the studies share {prior.name}, so its "
                    "prior is where their priors overlap"
                )
            shared[prior.name] = (max(low, prior.low), min(high, prior.high), first)
    result = [
        UniformPrior(name, shared[name][0], shared[name][1]) for name in MECHANISM_PARAMS if name in shared
    ]
    for study, priors in zip(studies, own, strict=True):
        for name in PER_STUDY_PARAMS:
            if name in priors.names and name not in study.scenario.mechanisms.model_fields_set:
                prior = priors[name]
                result.append(UniformPrior(study_parameter(name, study.name), prior.low, prior.high))
    if not result:
        sources = ", ".join(study.targets.target_set.source for study in studies)
        raise PeersimInputError(
            f"{sources}: priors.parameters: nothing to calibrate: each study calibrates only its "
            "baseline, and each scenario sets it in [mechanisms]"
        )
    return Priors(tuple(result))
