"""The registry of held-out trials: one folder per study, read and validated.

A registry is a directory with one folder per published study::

    trials/
      core/
        scenario.toml   # the study's design, in the ordinary scenario format
        observed.toml   # what the study published, and how each figure is defined

``observed.toml`` (validated by :class:`ObservedFile`, a strict model: unknown
keys are refused) names the study (``name``, equal to its folder's name), its
``citation``, a ``doi`` and/or ``url``, ``held_out = true``, a ``design_note``
on where the scenario cannot follow the design, and one ``[[outcomes]]`` entry
per published figure:

* ``metric``: a headline metric of a run (:data:`peersim.core.results.METRICS`),
  pooled over the study's sites;
* ``observed``: the published value, with the published 95% interval
  ``ci_low``/``ci_high`` if there is one, and the counts ``events`` of
  ``denominator`` if published;
* ``quantity``: the exact definition (arm, denominator, window);
* ``confidence``: ``"V"`` read in the source text, ``"A"`` approximate or
  not verified;
* ``role``: ``"predicted"``, a test of the model; ``"input"``, a figure the
  scenario sets directly (a control arm's readmission given as
  ``p_readmit_12m_usual_care``), reported but not a test; or
  ``"calibration"``, a figure that informed a default calibration target
  (named in ``calibration_target``), reported but not a test either.

Reading goes parse (TOML) -> validate (pydantic) -> bind to the study's
scenario (:func:`load_study`), which refuses an outcome that the scenario
pins but that claims to be a prediction. Every failure raises
:class:`~peersim.errors.PeersimInputError` naming the file and the key path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from peersim.core.results import METRIC_RANGES, METRICS, range_text
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import load_scenario
from peersim.errors import PeersimInputError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import StrictModel, humanise

OBSERVED_FILE = "observed.toml"
SCENARIO_FILE = "scenario.toml"
"""The two files of every study folder."""

REGISTRY_RESOURCE = "trials"
"""The shipped registry, a folder of :mod:`peersim.data`."""

Role = Literal["predicted", "input", "calibration"]
Confidence = Literal["V", "A"]

TESTED_ROLES: frozenset[str] = frozenset({"predicted"})
"""Roles whose outcomes count as tests of the model (the others are reported only)."""

PINNED_BY: dict[str, str] = {"readmission_rate_control": "p_readmit_12m_usual_care"}
"""Outcome metrics that a scenario sets directly when it pins this mechanism strength."""

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class Outcome(StrictModel):
    """One published figure of a study, and how it maps onto a headline metric."""

    metric: str = Field(description="Headline metric (peersim.core.results.METRICS), pooled over sites.")
    observed: float = Field(strict=False, description="Published value.")
    ci_low: float | None = Field(default=None, strict=False, description="Published 95% CI, lower end.")
    ci_high: float | None = Field(default=None, strict=False, description="Published 95% CI, upper end.")
    events: int | None = Field(default=None, ge=0, description="Published numerator, if any.")
    denominator: int | None = Field(default=None, gt=0, description="Published denominator, if any.")
    quantity: str = Field(min_length=1, description="Exact definition: arm, denominator, window.")
    confidence: Confidence = Field(description="V: read in the source text; A: approximate or unverified.")
    role: Role = Field(description="predicted (a test), input (set by the scenario) or calibration.")
    calibration_target: str | None = Field(
        default=None, description='Default calibration target this figure informed (role = "calibration").'
    )
    note: str = Field(default="", description="Anything else a reader needs.")

    @field_validator("metric", mode="after")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}")
        return metric

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        low, high = self.ci_low, self.ci_high
        if (low is None) != (high is None):
            raise ValueError("ci_low and ci_high go together: give both or neither")
        if low is not None and high is not None and not low <= self.observed <= high:
            raise ValueError(f"observed {self.observed:g} lies outside its CI [{low:g}, {high:g}]")
        bounds = METRIC_RANGES[self.metric]
        for key in ("observed", "ci_low", "ci_high"):
            value = getattr(self, key)
            if value is not None and not bounds[0] <= value <= bounds[1]:
                raise ValueError(
                    f"{key} {value:g} is out of range: {self.metric} lies in {range_text(bounds)}"
                )
        if (self.events is None) != (self.denominator is None):
            raise ValueError("events and denominator go together: give both or neither")
        if self.events is not None and self.denominator is not None:
            if self.events > self.denominator:
                raise ValueError(f"events {self.events} is more than denominator {self.denominator}")
            share = self.events / self.denominator
            if not math.isclose(round(share, 2), self.observed, abs_tol=0.0051):
                raise ValueError(
                    f"observed {self.observed:g} is not {self.events}/{self.denominator} = {share:.3f} "
                    "to the published precision"
                )
        if self.role == "calibration" and not self.calibration_target:
            raise ValueError('role = "calibration" needs calibration_target: the target it informed')
        if self.role != "calibration" and self.calibration_target:
            raise ValueError('calibration_target goes with role = "calibration" only')
        return self

    @property
    def tested(self) -> bool:
        """Whether this outcome is a test of the model (not an input or a calibration figure)."""
        return self.role in TESTED_ROLES


class ObservedFile(StrictModel):
    """A study's ``observed.toml``."""

    name: str = Field(pattern=NAME_PATTERN, description="Study label, equal to its folder's name.")
    citation: str = Field(min_length=1, description="Full citation of the publication.")
    doi: str | None = Field(default=None, min_length=1, description="DOI of the publication.")
    url: str | None = Field(default=None, min_length=1, description="Where the figures can be read.")
    held_out: bool = Field(description="Always true: a registry study never enters calibration.")
    design_note: str = Field(min_length=1, description="Where the scenario cannot follow the design.")
    outcomes: tuple[Outcome, ...] = Field(min_length=1, strict=False, description="Published figures.")

    @field_validator("held_out", mode="after")
    @classmethod
    def _held_out(cls, held_out: bool) -> bool:
        if not held_out:
            raise ValueError(
                "must be true: a registry study is held out from calibration by definition "
                "(a study used to calibrate belongs in a targets file instead)"
            )
        return held_out

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.doi is None and self.url is None:
            raise ValueError("give a doi or a url where the figures can be checked")
        seen: set[str] = set()
        for index, outcome in enumerate(self.outcomes):
            if outcome.metric in seen:
                raise ValueError(f"outcomes[{index}].metric: {outcome.metric!r} is listed twice")
            seen.add(outcome.metric)
        return self


@dataclass(frozen=True)
class Study:
    """A validated registry entry: what was observed and the scenario of its design.

    Attributes
    ----------
    observed
        The validated ``observed.toml``.
    scenario
        The validated ``scenario.toml``.
    folder
        The study's folder.
    """

    observed: ObservedFile
    scenario: Scenario
    folder: Path

    @property
    def name(self) -> str:
        """The study's label."""
        return self.observed.name

    @property
    def source(self) -> str:
        """The study's ``observed.toml``, for messages."""
        return str(self.folder / OBSERVED_FILE)


@dataclass(frozen=True)
class Registry:
    """The studies of a registry folder, in folder-name order."""

    studies: tuple[Study, ...]
    path: Path

    @property
    def names(self) -> list[str]:
        """Study labels."""
        return [study.name for study in self.studies]


def default_registry_path() -> Path:
    """Return the folder of the shipped registry (``peersim/data/trials``)."""
    return Path(str(resources.files("peersim.data").joinpath(REGISTRY_RESOURCE)))


def load_registry(path: str | Path | None = None) -> Registry:
    """Read and validate every study of a registry folder (default: the shipped one).

    Raises
    ------
    PeersimInputError
        If the folder is missing or holds no study, or a study's folder lacks a
        file or holds a bad one; the message names the file and the key path.
    """
    root = Path(path) if path is not None else default_registry_path()
    if not root.exists():
        raise PeersimInputError(f"{root}: no such registry folder")
    if not root.is_dir():
        raise PeersimInputError(f"{root}: not a folder; a registry is a folder with one folder per study")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not folders:
        raise PeersimInputError(
            f"{root}: holds no study; give each study a folder with {SCENARIO_FILE} and {OBSERVED_FILE}"
        )
    return Registry(tuple(load_study(folder) for folder in folders), root)


def load_study(folder: str | Path) -> Study:
    """Read and validate one study folder: its ``observed.toml`` and its ``scenario.toml``.

    Raises
    ------
    PeersimInputError
        For a missing file, bad TOML, an unknown key or metric, an entry
        without outcomes, a name that is not the folder's, or an outcome the
        scenario sets but that is not marked ``role = "input"``.
    """
    folder = Path(folder)
    for name in (OBSERVED_FILE, SCENARIO_FILE):
        if not (folder / name).is_file():
            raise PeersimInputError(
                f"{folder / name}: no such file; every registry study needs "
                f"{SCENARIO_FILE} and {OBSERVED_FILE}"
            )
    observed = load_observed(folder / OBSERVED_FILE)
    source = str(folder / OBSERVED_FILE)
    if observed.name != folder.name:
        raise PeersimInputError(
            f"{source}: name {observed.name!r} must be the study's folder name {folder.name!r}"
        )
    scenario = load_scenario(folder / SCENARIO_FILE)
    explicit = scenario.mechanisms.model_fields_set
    for index, outcome in enumerate(observed.outcomes):
        pinned = PINNED_BY.get(outcome.metric)
        if pinned in explicit and outcome.role != "input":
            raise PeersimInputError(
                f"{source}: outcomes[{index}].role: {outcome.metric} is set by {SCENARIO_FILE} "
                f'(mechanisms.{pinned}), so it is an input, not a prediction; use role = "input"'
            )
    return Study(observed, scenario, folder)


def load_observed(path: str | Path) -> ObservedFile:
    """Read and validate an ``observed.toml`` file (see the module docstring)."""
    source = str(path)
    return observed_from_dict(parse_toml(read_text_file(path), source), source)


def observed_from_dict(data: dict[str, Any], source: str = "<observed>") -> ObservedFile:
    """Validate plain data shaped like an ``observed.toml`` file."""
    try:
        return ObservedFile.model_validate(data)
    except ValidationError as error:
        raise humanise(error, source, ObservedFile, "observed file", data=data) from None
