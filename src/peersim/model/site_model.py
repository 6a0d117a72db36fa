"""The model built from a scenario file and keyword levers, for Mesa's SolaraViz and lever sweeps.

Mesa's tools rebuild a model by calling its class with keyword parameters:
SolaraViz does it on Reset, and ``mesa.batch_run`` does it for every
combination of parameter values. :class:`~peersim.model.PeerSupportModel` takes
a whole peersim :class:`~peersim.core.scenario.Scenario` under the name
``scenario``, which SolaraViz's Reset replaces with Mesa's own scenario object.
:class:`SiteModel` takes a scenario *file* and plain keyword levers instead, so
every parameter is a number or a text that a slider or a sweep can set, and
Reset rebuilds exactly the model that was asked for.

Lever values go through the checks and messages of ``peersim run --set``
(:func:`peersim.core.overrides.load_source`; the file is read once); a lever given here applies to every
site of the scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from peersim.core.overrides import load_source, source_with_sets
from peersim.core.parameters import SITE_PARAMS
from peersim.core.scenario import Host, Scenario
from peersim.core.streams import Seed
from peersim.model.model import PeerSupportModel

SITE_LEVERS: tuple[str, ...] = (
    "n_peer_workers",
    "peer_worker_hours_per_week",
    "supervisor_hours_per_week",
    "team_prep_sessions",
    "team_joint_work_hours_per_month",
    "caseload_cap",
    "host",
)
"""Keyword levers of :class:`SiteModel`, each a site key of the scenario file."""


def site_scenario(
    path: str | Path | None = None, sets: str | Sequence[str] = (), levers: dict[str, Any] | None = None
) -> Scenario:
    """Read a scenario file with ``PATH=VALUE`` overrides and site levers applied.

    Parameters
    ----------
    path
        Scenario TOML file, or ``None`` for the embedded default trial.
    sets
        One ``PATH=VALUE`` text, or several, applied in order (as ``--set``).
    levers
        Site key to value (keys of :data:`SITE_LEVERS`); ``None`` values are left
        as the file has them. Each is set on every site, after ``sets``.

    Raises
    ------
    ScenarioError
        For a missing or malformed file, a malformed override or a value that
        fails validation, with the message ``peersim run --set`` gives.
    """
    overrides = [sets] if isinstance(sets, str) else list(sets)
    changes = {key: value for key, value in (levers or {}).items() if value is not None}
    loaded = load_source(_as_path(path), overrides)
    if not changes:
        return loaded.scenario
    names = [site.name for site in loaded.scenario.sites]
    overrides += [f"sites.{name}.{key}={_toml(value)}" for name in names for key, value in changes.items()]
    return source_with_sets(loaded.text, loaded.source, overrides).scenario


class SiteModel(PeerSupportModel):
    """:class:`~peersim.model.PeerSupportModel` of a scenario file, with the site levers as keywords.

    ``SiteModel(path, rng=s)`` is ``PeerSupportModel(load_scenario(path), rng=s)``:
    the same weeks, numbers and DataCollector columns as ``peersim.run`` with
    seed ``s``. Every parameter is a plain value, so SolaraViz's Reset and
    ``mesa.batch_run`` sweeps can rebuild it.

    Parameters
    ----------
    path
        Scenario TOML file, or ``None`` for the embedded default trial.
    rng
        Seed: a non-negative ``int`` or a :class:`numpy.random.SeedSequence`.
    sets
        One ``PATH=VALUE`` override text, or a tuple of them (``peersim run --set``
        syntax, e.g. ``"horizon.recruitment_weeks=20"``). In ``batch_run``
        parameters, a list of values is swept, so give several overrides of one
        run as a tuple inside the list.
    n_peer_workers, peer_worker_hours_per_week, supervisor_hours_per_week
        Site levers (posts; hours a week), set on every site after ``sets``;
        ``None`` leaves the file's value. Ranges as in the scenario file reference.
    team_prep_sessions, team_joint_work_hours_per_month, caseload_cap, host
        Site levers (sessions; hours a month; participants; ``"nhs"`` or
        ``"not_for_profit"``), likewise.

    Raises
    ------
    ScenarioError
        As :func:`site_scenario`.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        rng: Seed = 0,
        sets: str | Sequence[str] = (),
        n_peer_workers: int | None = None,
        peer_worker_hours_per_week: float | None = None,
        supervisor_hours_per_week: float | None = None,
        team_prep_sessions: int | None = None,
        team_joint_work_hours_per_month: float | None = None,
        caseload_cap: int | None = None,
        host: str | None = None,
    ) -> None:
        levers = {
            "n_peer_workers": n_peer_workers,
            "peer_worker_hours_per_week": peer_worker_hours_per_week,
            "supervisor_hours_per_week": supervisor_hours_per_week,
            "team_prep_sessions": team_prep_sessions,
            "team_joint_work_hours_per_month": team_joint_work_hours_per_month,
            "caseload_cap": caseload_cap,
            "host": host,
        }
        super().__init__(site_scenario(path, sets, levers), rng=rng)


def solara_model_params(path: str | Path | None = None, sets: str | Sequence[str] = ()) -> dict[str, Any]:
    """``model_params`` for ``SolaraViz(SiteModel(path), ..., model_params=...)``: an input per lever.

    A slider per numeric lever of :data:`SITE_LEVERS`, starting at the first
    site's value and spanning the lever's declared bounds, and a choice of host,
    in the dictionary form SolaraViz reads (so building them needs no Solara);
    ``path`` and ``sets`` are passed through fixed, so Reset rebuilds the same
    scenario with the levers moved.

    Raises
    ------
    ScenarioError
        As :func:`site_scenario`.
    """
    site = site_scenario(path, sets).sites[0]
    params: dict[str, Any] = {"path": None if path is None else str(path), "sets": sets}
    for name in SITE_LEVERS:
        if name == "host":
            params[name] = {
                "type": "Select",
                "value": site.host,
                "values": list(get_args(Host)),
                "label": name,
            }
            continue
        spec = SITE_PARAMS[name]
        kind = int if spec.integer else float
        params[name] = {
            "type": "SliderInt" if spec.integer else "SliderFloat",
            "value": kind(getattr(site, name)),
            "min": kind(spec.low),
            "max": kind(spec.high),
            "step": 1 if spec.integer else 0.5,
            "label": f"{name} ({spec.unit})",
        }
    return params


def _as_path(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path)


def _toml(value: Any) -> str:
    """Write a lever value as ``--set`` reads it, a whole float as an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 2**53 else repr(value)
    return repr(value)
