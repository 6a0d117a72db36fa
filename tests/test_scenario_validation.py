"""Library-level scenario validation: every bad input gets one message naming file and key path."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY_TOML, shipped_scenario_files, tiny_data, tiny_site
from peersim.core.parameters import (
    ALL_PARAMS,
    HORIZON_PARAMS,
    MECHANISM_PARAMS,
    PROTOCOL_PARAMS,
    SITE_PARAMS,
    ParamSpec,
)
from peersim.core.scenario import (
    DEFAULT_TRAVEL_MINUTES,
    Horizon,
    Mechanisms,
    Protocol,
    Scenario,
    Site,
    Switches,
)
from peersim.core.scenario_files import load_scenario, parse_scenario, scenario_from_dict
from peersim.errors import PeersimInputError, ScenarioError

SOURCE = "my_scenario.toml"


def error_of(data: dict[str, Any]) -> str:
    """Validate ``data`` and return the error message it must produce."""
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, source=SOURCE)
    return str(caught.value)


def error_of_text(text: str, source: str = SOURCE) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source=source)
    return str(caught.value)


def test_scenario_error_is_an_input_error() -> None:
    assert issubclass(ScenarioError, PeersimInputError)
    assert issubclass(PeersimInputError, ValueError)


def test_tiny_scenario_validates(tiny_scenario: Scenario) -> None:
    assert tiny_scenario.name == "tiny"
    assert [s.name for s in tiny_scenario.sites] == ["north", "south"]


# -- unknown keys ---------------------------------------------------------------------------


def test_unknown_site_key_names_the_path_and_lists_valid_keys() -> None:
    data = tiny_data(sites=[tiny_site("north", supervisor_hours=3)])
    message = error_of(data)
    assert message.startswith(f"{SOURCE}: ")
    assert "sites[0].supervisor_hours" in message
    assert "unknown key 'supervisor_hours'" in message
    for key in Site.model_fields:
        assert key in message, f"valid key {key} not listed in: {message}"
    # One problem, one line: no echo of the bad site as an "empty site list".
    assert "\n" not in message, message
    assert "at least one site" not in message


def test_unknown_key_in_second_site_names_its_index_and_name() -> None:
    data = tiny_data(sites=[tiny_site("north"), tiny_site("south", caseload=3)])
    message = error_of(data)
    assert "sites[1].caseload" in message
    assert '"south"' in message
    assert "caseload_cap" in message


@pytest.mark.parametrize(
    ("table", "model"),
    [("mechanisms", Mechanisms), ("horizon", Horizon), ("protocol", Protocol), ("switches", Switches)],
)
def test_unknown_key_in_a_nested_table(table: str, model: type[Any]) -> None:
    message = error_of(tiny_data(**{table: {"no_such_knob": 1.0}}))
    assert message.startswith(f"{SOURCE}: {table}.no_such_knob: unknown key"), message
    assert "valid keys here are" in message
    for key in model.model_fields:
        assert key in message


def test_unknown_top_level_key_lists_top_level_keys() -> None:
    message = error_of(tiny_data(seed=3))
    assert "seed" in message
    for key in Scenario.model_fields:
        assert key in message


# -- types, ranges, contradictions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("n_peer_workers", "two"),
        ("n_peer_workers", 2.5),
        ("n_peer_workers", True),
        ("caseload_cap", 4.0),
        ("ward_acceptance_baseline", "high"),
        ("host", "private"),
        ("geography", 3),
    ],
)
def test_wrong_type_names_the_key_path_and_the_value(key: str, value: Any) -> None:
    message = error_of(tiny_data(sites=[tiny_site("north", **{key: value})]))
    assert message.startswith(f"{SOURCE}: sites[0].{key}"), message
    assert repr(value) in message
    assert "\n" not in message, message


def test_wrong_type_of_a_whole_table() -> None:
    message = error_of(tiny_data(horizon=3))
    assert message.startswith(f"{SOURCE}: horizon")


def _all_specs() -> list[tuple[str, ParamSpec]]:
    groups = {
        "mechanisms": MECHANISM_PARAMS,
        "sites": SITE_PARAMS,
        "horizon": HORIZON_PARAMS,
        "protocol": PROTOCOL_PARAMS,
    }
    return [(group, spec) for group, specs in groups.items() for spec in specs.values()]


GROUP_SHARE_KEYS = ("share_psychosis", "share_personality_disorder", "share_other")


def _with_value(group: str, name: str, value: float) -> dict[str, Any]:
    if group == "sites":
        values: dict[str, float] = {name: value}
        if name in GROUP_SHARE_KEYS and 0 <= value <= 1:
            # The three shares must sum to 1: the next one takes the rest, the third none.
            rest = GROUP_SHARE_KEYS[(GROUP_SHARE_KEYS.index(name) + 1) % 3]
            third = GROUP_SHARE_KEYS[(GROUP_SHARE_KEYS.index(name) + 2) % 3]
            values.update({rest: 1.0 - value, third: 0.0})
        return tiny_data(sites=[tiny_site("north", **values)])
    return tiny_data(**{group: {name: value}})


@pytest.mark.parametrize(("group", "spec"), _all_specs(), ids=lambda x: getattr(x, "name", x))
@pytest.mark.parametrize("side", ["below", "above"])
def test_out_of_range_names_the_path_and_the_declared_range(group: str, spec: ParamSpec, side: str) -> None:
    step = 1 if spec.integer else max(1.0, spec.high - spec.low)
    value: float = spec.low - step if side == "below" else spec.high + step
    if spec.integer:
        value = int(value)
    message = error_of(_with_value(group, spec.name, value))
    path = f"sites[0].{spec.name}" if group == "sites" else f"{group}.{spec.name}"
    assert message.startswith(f"{SOURCE}: {path}"), message
    if spec.name == "funding_end_week" and side == "below":
        # A week before the start says so, and what to give instead (see below).
        assert "before the service starts" in message, message
        return
    assert "out of range" in message
    assert spec.range_text in message, f"range {spec.range_text!r} missing from {message!r}"
    assert "\n" not in message, message


def test_values_at_the_bounds_are_accepted() -> None:
    for group, spec in _all_specs():
        for bound in (spec.low, spec.high):
            value = int(bound) if spec.integer else float(bound)
            if group == "sites" and spec.name == "supervisor_hours_per_week" and value == 0:
                continue  # contradicts the site's peer workers; tested separately
            scenario_from_dict(_with_value(group, spec.name, value), source=SOURCE)


def test_zero_supervisor_hours_with_peer_workers_is_a_contradiction() -> None:
    data = tiny_data(sites=[tiny_site("north", n_peer_workers=3, supervisor_hours_per_week=0)])
    message = error_of(data)
    assert message.startswith(f"{SOURCE}: sites[0]"), message
    assert '"north"' in message
    assert "supervisor_hours_per_week" in message
    assert "n_peer_workers" in message
    assert "\n" not in message, message


def test_zero_supervisor_hours_without_peer_workers_is_allowed() -> None:
    data = tiny_data(sites=[tiny_site("north", n_peer_workers=0, supervisor_hours_per_week=0)])
    scenario = scenario_from_dict(data)
    assert scenario.sites[0].n_peer_workers == 0


def test_empty_site_list() -> None:
    message = error_of(tiny_data(sites=[]))
    assert message.startswith(f"{SOURCE}: sites"), message
    assert "at least one site" in message


def test_sites_given_as_a_table_instead_of_an_array() -> None:
    message = error_of_text('name = "x"\n[sites]\nname = "a"\n')
    assert message.startswith(f"{SOURCE}: sites"), message


@pytest.mark.parametrize("second", ["north", "North", "NORTH"])
def test_duplicate_site_name_is_case_insensitive(second: str) -> None:
    message = error_of(tiny_data(sites=[tiny_site("north"), tiny_site(second)]))
    assert message.startswith(f"{SOURCE}: sites"), message
    assert "duplicate site name" in message
    assert repr(second) in message


def test_bad_site_name() -> None:
    message = error_of(tiny_data(sites=[tiny_site("1 bad name")]))
    assert "sites[0].name" in message
    assert "'1 bad name'" in message


@pytest.mark.parametrize("key", ["name", "host", "geography", "n_peer_workers", "supervisor_hours_per_week"])
def test_missing_required_site_key(key: str) -> None:
    site = tiny_site("north")
    del site[key]
    message = error_of(tiny_data(sites=[site]))
    assert f"sites[0].{key}" in message
    assert "required key is missing" in message
    assert "\n" not in message, message


def test_missing_scenario_name() -> None:
    data = tiny_data()
    del data["name"]
    message = error_of(data)
    assert message.startswith(f"{SOURCE}: name: required key is missing"), message


def test_several_problems_are_listed_together() -> None:
    data = tiny_data(sites=[tiny_site("north", caseload_cap=0), tiny_site("south", bogus=1)])
    message = error_of(data)
    lines = message.splitlines()
    assert lines[0] == f"{SOURCE}: invalid scenario"
    assert len(lines) == 3, message
    assert "sites[0].caseload_cap" in lines[1]
    assert "sites[1].bogus" in lines[2]


# -- the dynamics of a real service (issue 12) -------------------------------------------------


@pytest.mark.parametrize(
    "shares",
    [(0.5, 0.5, 0.5), (0.9, None, None), (0.0, 0.0, 0.0), (0.4, 0.2, 0.3)],
    ids=["sum-1.5", "one-given", "all-zero", "sum-0.9"],
)
def test_group_shares_that_do_not_sum_to_one(shares: tuple[float | None, ...]) -> None:
    given = {key: value for key, value in zip(GROUP_SHARE_KEYS, shares, strict=True) if value is not None}
    message = error_of(tiny_data(sites=[tiny_site("north"), tiny_site("south", **given)]))
    assert message.startswith(f"{SOURCE}: sites[1]"), message
    assert '"south"' in message
    for key in GROUP_SHARE_KEYS:
        assert key in message
    assert "must sum to 1" in message
    assert "\n" not in message, message


@pytest.mark.parametrize("shares", [(0.1, 0.2, 0.7), (1 / 3, 1 / 3, 1 / 3), (0.0, 1.0, 0.0)])
def test_group_shares_summing_to_one_are_accepted(shares: tuple[float, float, float]) -> None:
    site = tiny_site("north", **dict(zip(GROUP_SHARE_KEYS, shares, strict=True)))
    assert scenario_from_dict(tiny_data(sites=[site])).sites[0].group_shares == shares


@pytest.mark.parametrize("week", [-4, -1])
def test_funding_end_before_the_start(week: int) -> None:
    message = error_of(tiny_data(sites=[tiny_site("north", funding_end_week=week)]))
    assert message.startswith(f"{SOURCE}: sites[0].funding_end_week"), message
    assert str(week) in message
    assert "before the service starts" in message
    assert "0 for funding throughout" in message
    assert "\n" not in message, message


def test_a_horizon_beyond_the_supported_years() -> None:
    message = error_of(tiny_data(horizon={"recruitment_weeks": 400}))
    assert message.startswith(f"{SOURCE}: horizon.recruitment_weeks: 400 is out of range"), message
    assert HORIZON_PARAMS["recruitment_weeks"].range_text in message  # 1 to 260 weeks: five years
    assert "\n" not in message, message


def test_a_negative_other_duties_share() -> None:
    message = error_of(tiny_data(sites=[tiny_site("north", other_duties_share=-0.1)]))
    assert message.startswith(f"{SOURCE}: sites[0].other_duties_share"), message
    assert "-0.1" in message
    assert SITE_PARAMS["other_duties_share"].range_text in message
    assert "\n" not in message, message


@pytest.mark.parametrize("value", ["yes", "false", 1, 0.0, [True]])
def test_a_switch_that_is_not_true_or_false(value: Any) -> None:
    message = error_of(tiny_data(switches={"capacity": value}))
    assert message == f"{SOURCE}: switches.capacity: must be true or false, got {value!r}"


def test_switches_must_be_a_table() -> None:
    message = error_of(tiny_data(switches=True))
    assert message.startswith(f"{SOURCE}: switches"), message
    assert "table" in message


def test_switches_default_to_on_and_read_from_a_file(tmp_path: Path) -> None:
    assert scenario_from_dict(tiny_data()).switches == Switches(capacity=True, patient_flow=True)
    path = tmp_path / "switched.toml"
    path.write_text(TINY_TOML + "\n[switches]\ncapacity = false\n", encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.switches == Switches(capacity=False, patient_flow=True)
    assert scenario.hash != parse_scenario(TINY_TOML).hash


# -- files ------------------------------------------------------------------------------------


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "unterminated\n[[sites]]\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert "malformed TOML" in message
    assert "line 1" in message


def test_malformed_toml_text_names_its_source() -> None:
    message = error_of_text("name = = 3", source="pasted.toml")
    assert message.startswith("pasted.toml: malformed TOML")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: no such file"


def test_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not a file"):
        load_scenario(tmp_path)


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: cannot be read")


def test_validation_error_from_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad_cap.toml"
    path.write_text(TINY_TOML.replace("caseload_cap = 3", "caseload_cap = 999"), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: sites[1].caseload_cap"), message
    assert SITE_PARAMS["caseload_cap"].range_text in message


# -- defaults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("geography", "minutes"), [("urban", 15.0), ("rural", 45.0)])
def test_travel_minutes_default_from_geography(geography: str, minutes: float) -> None:
    scenario = scenario_from_dict(tiny_data(sites=[tiny_site("north", geography=geography)]))
    assert scenario.sites[0].travel_minutes_one_way == minutes
    assert DEFAULT_TRAVEL_MINUTES[geography] == minutes


def test_explicit_travel_minutes_override_geography() -> None:
    site = tiny_site("north", geography="rural", travel_minutes_one_way=70)
    assert scenario_from_dict(tiny_data(sites=[site])).sites[0].travel_minutes_one_way == 70.0


def test_omitted_tables_take_declared_defaults() -> None:
    scenario = scenario_from_dict({"name": "x", "sites": [tiny_site("a")]})
    for name, spec in MECHANISM_PARAMS.items():
        assert getattr(scenario.mechanisms, name) == spec.default
    for name, spec in HORIZON_PARAMS.items():
        assert getattr(scenario.horizon, name) == spec.default
    for name, spec in PROTOCOL_PARAMS.items():
        assert getattr(scenario.protocol, name) == spec.default
    site = scenario.sites[0]
    for name, spec in SITE_PARAMS.items():
        if name not in tiny_site("a") and name != "travel_minutes_one_way":
            assert getattr(site, name) == spec.default, name
    assert scenario.mode == "trial"


# -- shipped scenarios ------------------------------------------------------------------------


def test_shipped_scenarios_all_validate(scenarios_dir: Path) -> None:
    files = shipped_scenario_files()
    assert {"enrich_trial.toml", "archetype_high.toml", "archetype_low.toml"} <= {p.name for p in files}
    assert all(p.parent == scenarios_dir for p in files)
    for path in files:
        scenario = load_scenario(path)
        assert scenario.name == path.stem
        assert len(scenario.sites) >= 1


def test_enrich_trial_file_is_the_embedded_default(scenarios_dir: Path) -> None:
    shipped = (scenarios_dir / "enrich_trial.toml").read_bytes()
    embedded = resources.files("peersim.data").joinpath("enrich_trial.toml").read_bytes()
    assert shipped == embedded


# -- hash ---------------------------------------------------------------------------------------


TINY_REFORMATTED = """\
# The tiny scenario again: other key order, spacing, comments, inline tables,
# floats written as 4.0 or 4, and defaults spelled out.
description="Two small sites for fast tests"
horizon = { follow_up_weeks = 26, recruitment_weeks = 8 }
mode    = "trial"
name    = "tiny"

[protocol]
engaged_min_contacts = 2   # the default

[[sites]]
caseload_cap = 4
eligible_admissions_per_week = 1.5
geography = "urban"
host = "nhs"
n_peer_workers = 2
name = "north"
supervisor_hours_per_week = 4.0
travel_minutes_one_way = 15   # the urban default

[[sites]]
name = "south"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 1
supervisor_hours_per_week = 2.0
eligible_admissions_per_week = 1
caseload_cap = 3
"""


def test_hash_is_stable_under_reformatting() -> None:
    original = parse_scenario(TINY_TOML)
    again = parse_scenario(TINY_REFORMATTED)
    assert again == original
    assert again.hash == original.hash
    assert len(original.hash) == 16
    int(original.hash, 16)


def test_hash_changes_when_a_value_changes() -> None:
    original = parse_scenario(TINY_TOML)
    changed = parse_scenario(TINY_TOML.replace("caseload_cap = 3", "caseload_cap = 4"))
    assert changed.hash != original.hash
    renamed = parse_scenario(TINY_TOML.replace('name = "tiny"', 'name = "tiny2"'))
    assert renamed.hash != original.hash
    mechanism = copy.deepcopy(original.to_toml_dict())
    mechanism["mechanisms"]["rel_strain"] = 1.5
    assert scenario_from_dict(mechanism).hash != original.hash
    # Site order is content: random streams are keyed by a site's position.
    swapped = copy.deepcopy(original.to_toml_dict())
    swapped["sites"].reverse()
    assert scenario_from_dict(swapped).hash != original.hash


def test_to_toml_dict_round_trips() -> None:
    original = parse_scenario(TINY_TOML)
    assert scenario_from_dict(original.to_toml_dict()) == original
    assert scenario_from_dict(original.to_toml_dict()).hash == original.hash


# -- one declared source of bounds ----------------------------------------------------------------


def _schema_properties(definition: str) -> dict[str, Any]:
    schema = Scenario.model_json_schema()
    return schema["$defs"][definition]["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("definition", "model", "registry"),
    [
        ("Mechanisms", Mechanisms, MECHANISM_PARAMS),
        ("Horizon", Horizon, HORIZON_PARAMS),
        ("Protocol", Protocol, PROTOCOL_PARAMS),
    ],
)
def test_every_table_field_has_its_declared_bounds_and_default(
    definition: str, model: Any, registry: dict[str, ParamSpec]
) -> None:
    assert set(model.model_fields) == set(registry)
    properties = _schema_properties(definition)
    for name, spec in registry.items():
        assert properties[name]["minimum"] == spec.low, name
        assert properties[name]["maximum"] == spec.high, name
        assert properties[name]["default"] == spec.default, name
        assert properties[name]["type"] == ("integer" if spec.integer else "number"), name


def test_every_numeric_site_field_has_its_declared_bounds() -> None:
    properties = _schema_properties("Site")
    numeric = {name for name, prop in properties.items() if prop.get("type") in {"integer", "number"}}
    assert numeric == set(SITE_PARAMS)
    for name, spec in SITE_PARAMS.items():
        assert properties[name]["minimum"] == spec.low, name
        assert properties[name]["maximum"] == spec.high, name
        assert properties[name]["type"] == ("integer" if spec.integer else "number"), name


def test_funding_end_week_keeps_its_declared_minimum_in_the_schema() -> None:
    assert _schema_properties("Site")["funding_end_week"]["minimum"] == SITE_PARAMS["funding_end_week"].low


def test_registry_is_consistent() -> None:
    for name, spec in ALL_PARAMS.items():
        assert spec.name == name
        assert spec.low <= spec.default <= spec.high, name
        assert spec.contains(spec.default)
        if spec.integer:
            assert float(spec.low).is_integer(), name
            assert float(spec.high).is_integer(), name
        if spec.off is not None:
            assert spec.contains(spec.off), name
