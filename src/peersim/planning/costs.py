"""Costs files: unit costs, the costing basis and the lever options a plan may use.

A costs file is TOML, read in three steps like a scenario file: parse (TOML),
validate (pydantic, unknown keys rejected), build (lever options checked
against the declared bounds of :mod:`peersim.parameters`). Every failure is a
:class:`CostsError` naming the file and the key path, e.g.
``costs.toml: unit_costs.supervisor_hour: -5 is negative; ...``.

Layout::

    currency = "GBP"
    price_year = "2024/25"

    [unit_costs]                 # all required, all >= 0, in `currency`
    peer_worker_fte_per_year = 32_900
    supervisor_hour = 34.31
    team_joint_work_hour = 29.19
    team_prep_session = 645
    travel_per_minute = 0.28
    readmission = 16_000
    host_change_per_year = 0     # optional (default 0)

    [basis]                      # optional
    full_time_hours_per_week = 37.5
    working_weeks_per_year = 45.18

    [levers]                     # optional; the levers a plan may change
    supervisor_hours_per_week = { values = [2.5, 5, 7.5, 10] }
    n_peer_workers = { add = [-1, 0, 1] }
    host = { values = ["not_for_profit", "nhs"] }

``scenarios/costs_default.toml`` documents where each default figure comes from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from peersim.errors import PeersimInputError
from peersim.scenario_io import format_path
from peersim.toml_io import parse_toml, read_text_file

DEFAULT_COSTS_RESOURCE = "costs_default.toml"
"""Packaged copy of ``scenarios/costs_default.toml`` (used when ``--costs`` is not given)."""


class CostsError(PeersimInputError):
    """A costs file that cannot be used (missing, malformed TOML, bad key or value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class UnitCosts(_Strict):
    """Unit costs, in the file's currency at its price year; all non-negative.

    Attributes
    ----------
    peer_worker_fte_per_year
        Salary plus employer on-costs of one full-time peer worker for a year.
    supervisor_hour
        One hour of the peer workers' supervisor (per working hour).
    team_joint_work_hour
        One hour of clinical team time spent in joint work with peer workers.
    team_prep_session
        One team preparation session before go-live (all attendees' time).
    travel_per_minute
        Mileage paid per minute of a peer worker's travel to a community session.
    readmission
        Cost of one psychiatric readmission (bed days x cost per bed day).
    host_change_per_year
        Extra yearly cost of employing peer workers in the other organisation
        than the site's draft plan does (0 means no difference).
    """

    peer_worker_fte_per_year: float = Field(ge=0, description="Peer worker FTE for a year.")
    supervisor_hour: float = Field(ge=0, description="One supervisor hour.")
    team_joint_work_hour: float = Field(ge=0, description="One hour of clinical team joint work.")
    team_prep_session: float = Field(ge=0, description="One team preparation session.")
    travel_per_minute: float = Field(ge=0, description="Mileage per minute travelled.")
    readmission: float = Field(ge=0, description="One psychiatric readmission.")
    host_change_per_year: float = Field(default=0.0, ge=0, description="Changing the host, per year.")


class Basis(_Strict):
    """How hours and weeks convert to yearly costs.

    Attributes
    ----------
    full_time_hours_per_week
        Contracted hours of one FTE (Agenda for Change: 37.5).
    working_weeks_per_year
        Weeks a member of staff works in a year, after annual leave and public
        holidays; converts hours a week to hours a year for supervision.
    """

    full_time_hours_per_week: float = Field(default=37.5, gt=0, le=80)
    working_weeks_per_year: float = Field(default=45.18, gt=0, le=52)


class LeverOptions(_Strict):
    """Options of one lever: absolute ``values`` or ``add`` offsets from the site's value."""

    values: tuple[float | str, ...] | None = Field(default=None, min_length=1, strict=False)
    add: tuple[float, ...] | None = Field(default=None, min_length=1, strict=False)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.values is None) == (self.add is None):
            raise ValueError("give exactly one of 'values' (absolute) or 'add' (offsets from the site)")
        return self


class CostsFile(_Strict):
    """A validated costs file (see the module docstring for its layout)."""

    currency: str = Field(default="GBP", min_length=1, max_length=8)
    price_year: str = Field(default="unstated", min_length=1, max_length=40)
    unit_costs: UnitCosts
    basis: Basis = Field(default_factory=Basis)
    levers: dict[str, LeverOptions] = Field(default_factory=dict, strict=False)


class Costs(BaseModel):
    """A costs file with where it came from.

    Attributes
    ----------
    file
        The validated content.
    source
        File name, or ``<embedded costs_default.toml>``.
    text
        The TOML text as written.
    """

    model_config = ConfigDict(frozen=True)

    file: CostsFile
    source: str
    text: str

    @property
    def unit(self) -> UnitCosts:
        """The unit costs."""
        return self.file.unit_costs

    @property
    def basis(self) -> Basis:
        """The costing basis."""
        return self.file.basis

    @property
    def currency(self) -> str:
        """Currency code, e.g. ``GBP``."""
        return self.file.currency


def load_costs(path: str | Path | None) -> Costs:
    """Read and validate a costs file; ``None`` reads the packaged default.

    Raises
    ------
    CostsError
        If the file is missing, unreadable, malformed or invalid; the message
        names the file and the key path.
    """
    if path is None:
        text = default_costs_text()
        return parse_costs(text, source=f"<embedded {DEFAULT_COSTS_RESOURCE}>")
    return parse_costs(read_text_file(path, CostsError), source=str(path))


def default_costs_text() -> str:
    """TOML text of the packaged default costs file."""
    return resources.files("peersim.data").joinpath(DEFAULT_COSTS_RESOURCE).read_text("utf-8")


def parse_costs(text: str, source: str = "<costs>") -> Costs:
    """Validate costs TOML text; ``source`` names it in error messages."""
    data = parse_toml(text, source, CostsError)
    return Costs(file=costs_from_dict(data, source), source=source, text=text)


def costs_from_dict(data: dict[str, Any], source: str = "<costs>") -> CostsFile:
    """Validate plain data shaped like a costs file.

    Lever names and values are checked later, against the site
    (:func:`peersim.planning.levers.lever_space`), where their bounds are known.
    """
    try:
        return CostsFile.model_validate(data)
    except ValidationError as error:
        lines = [_describe(err) for err in error.errors()]
        if len(lines) == 1:
            raise CostsError(f"{source}: {lines[0]}") from None
        raise CostsError(
            f"{source}: invalid costs file\n" + "\n".join(f"  - {line}" for line in lines)
        ) from None


_HOLDERS: dict[str, type[BaseModel]] = {"unit_costs": UnitCosts, "basis": Basis}


def _describe(err: Any) -> str:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    kind: str = err["type"]
    given = err.get("input")
    path = format_path(loc)
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        holder: type[BaseModel] = CostsFile
        if len(loc) == 2 and loc[0] in _HOLDERS:
            holder = _HOLDERS[str(loc[0])]
        elif len(loc) >= 3 and loc[0] == "levers":
            holder = LeverOptions
        return f"{path}: unknown key {key!r}; valid keys here are: {', '.join(holder.model_fields)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "greater_than_equal" and loc and loc[0] == "unit_costs":
        return f"{path}: {given!r} is negative; unit costs must be 0 or more"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{path}: {given!r} is out of range ({err['msg'].lower()})"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return f"{path}: {message}"
    shown = repr(given)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{path}: {message}, got {shown}"
