"""Factors files: parse, validate, build against a scenario, and apply sample points."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peersim.core.parameters import MECHANISM_PARAMS, SITE_PARAMS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import default_scenario
from peersim.sensitivity.inputs import (
    DUMMY,
    FactorsError,
    apply_point,
    default_factors,
    factors_from_dict,
    load_factors,
    parse_factors,
    valid_names,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return default_scenario()


def _space(scenario: Scenario, *factors: dict[str, Any]) -> Any:
    return factors_from_dict({"factors": list(factors)}, scenario, source="f.toml")


def _error(scenario: Scenario, *factors: dict[str, Any]) -> str:
    with pytest.raises(FactorsError) as caught:
        _space(scenario, *factors)
    return str(caught.value)


def test_shipped_default_is_the_embedded_copy() -> None:
    shipped = (ROOT / "scenarios" / "factors_default.toml").read_bytes()
    embedded = resources.files("peersim.data").joinpath("factors_default.toml").read_bytes()
    assert shipped == embedded


def test_default_factors_build_on_the_default_scenario(scenario: Scenario) -> None:
    space = default_factors(scenario)
    names = {f.name for f in space.factors}
    # The study's four themes and at least 8 factors.
    assert {"supervisor_hours_per_week", "team_prep_sessions", "host", "travel_minutes_one_way"} <= names
    assert len(space.factors) >= 8
    assert DUMMY not in space.labels
    assert len(space.text_hash) == 16


def test_omitted_bounds_default_to_the_declared_bounds(scenario: Scenario) -> None:
    space = _space(scenario, {"name": "rel_geography"}, {"name": "caseload_cap", "low": 4})
    geo, cap = space.factors
    spec = MECHANISM_PARAMS["rel_geography"]
    assert (geo.low, geo.high) == (spec.low, spec.high)
    assert (cap.low, cap.high) == (4, SITE_PARAMS["caseload_cap"].high)
    assert geo.scope == "mechanism"
    assert not geo.sites
    assert cap.kind == "integer"
    assert cap.sites == tuple(s.name for s in scenario.sites)


def test_integer_factors_are_rounded_with_every_value_equally_likely(scenario: Scenario) -> None:
    (cap,) = _space(scenario, {"name": "caseload_cap", "low": 4, "high": 7}).factors
    lo, hi = cap.sample_bounds
    grid = np.linspace(lo, hi, 40_001)[:-1]  # a uniform sample of the sampling range
    values = np.array([cap.value(x) for x in grid])
    counts = {v: int((values == v).sum()) for v in (4.0, 5.0, 6.0, 7.0)}
    assert set(np.unique(values)) == {4.0, 5.0, 6.0, 7.0}
    # Each whole value gets a quarter of the range (10 000 of 40 000 grid points, +-1).
    assert all(abs(c - 10_000) <= 1 for c in counts.values()), counts


def test_host_is_a_fair_binary_factor(scenario: Scenario) -> None:
    (host,) = _space(scenario, {"name": "host", "sites": ["rural_nfp_f"]}).factors
    assert host.kind == "binary"
    assert host.sites == ("rural_nfp_f",)
    assert [host.value(x) for x in (0.0, 0.49, 0.5, 1.0)] == [0.0, 0.0, 1.0, 1.0]


def test_apply_point_sets_sites_and_mechanisms_and_revalidates(scenario: Scenario) -> None:
    space = _space(
        scenario,
        {"name": "supervisor_hours_per_week", "low": 1, "high": 12, "sites": "rural_nfp_g"},
        {"name": "host", "sites": ["urban_nhs_a", "urban_nhs_b"]},
        {"name": "team_prep_sessions", "low": 0, "high": 6},
        {"name": "rel_supervision"},
    )
    base = scenario.to_toml_dict()
    point = apply_point(base, space, (9.5, 1.0, 3.0, 0.25))
    assert isinstance(point, Scenario)
    assert point.site("rural_nfp_g").supervisor_hours_per_week == 9.5
    assert (
        point.site("rural_nfp_f").supervisor_hours_per_week
        == scenario.site("rural_nfp_f").supervisor_hours_per_week
    )
    assert point.site("urban_nhs_a").host == "not_for_profit"
    assert point.site("urban_nhs_c").host == "nhs"
    assert {s.team_prep_sessions for s in point.sites} == {3}
    assert point.mechanisms.rel_supervision == 0.25
    assert base == scenario.to_toml_dict()  # the base data is not modified


def test_unknown_factor_name_lists_the_valid_ones(scenario: Scenario) -> None:
    message = _error(scenario, {"name": "supervision_hours"})
    assert "f.toml: factors[0].name: unknown factor 'supervision_hours'" in message
    assert all(name in message for name in valid_names())


@pytest.mark.parametrize(
    ("entry", "fragments"),
    [
        ({"name": "supervisor_hours_per_week", "low": 8, "high": 8}, ["factors[0]", "low (8)", "high (8)"]),
        ({"name": "rel_supervision", "low": 0.9, "high": 0.1}, ["factors[0]", "low (0.9)", "0 to 1"]),
        (
            {"name": "supervisor_hours_per_week", "low": 1, "high": 50},
            ["factors[0].high", "50 is out of range", SITE_PARAMS["supervisor_hours_per_week"].range_text],
        ),
        ({"name": "caseload_cap", "low": 2.5, "high": 9}, ["factors[0].low", "whole numbers"]),
        ({"name": "host", "low": 0, "high": 1}, ["factors[0].low", "0/1 factor"]),
        ({"name": "rel_geography", "sites": "all"}, ["factors[0].sites", "whole scenario"]),
        (
            {"name": "caseload_cap", "sites": ["urban_nhs_a", "nowhere"]},
            ["factors[0].sites", "'nowhere'", "not in scenario 'enrich_trial'", "rural_nfp_g"],
        ),
        ({"name": "caseload_cap", "label": "dummy"}, ["factors[0].label", "reserved"]),
        ({"name": "caseload_cap", "low": "4"}, ["factors[0].low", "must be a number", "'4'"]),
        ({"name": "caseload_cap", "sites": 3}, ["factors[0].sites", "a site name"]),
        ({"name": "caseload_cap", "hi": 9}, ["factors[0].hi", "unknown key 'hi'", "high"]),
        ({"low": 1}, ["factors[0].name", "required key is missing"]),
    ],
)
def test_bad_factor_entries_name_file_key_and_range(
    scenario: Scenario, entry: dict[str, Any], fragments: list[str]
) -> None:
    message = _error(scenario, entry)
    assert message.startswith("f.toml: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_duplicate_and_overlapping_factors_are_refused(scenario: Scenario) -> None:
    message = _error(scenario, {"name": "caseload_cap"}, {"name": "caseload_cap"})
    assert "label 'caseload_cap' is used more than once" in message
    message = _error(
        scenario,
        {"name": "caseload_cap", "label": "a", "sites": ["urban_nhs_a"]},
        {"name": "caseload_cap", "label": "b", "sites": ["urban_nhs_a", "urban_nhs_b"]},
    )
    assert "both set caseload_cap at urban_nhs_a" in message
    # Disjoint sites are fine: two factors for one parameter in different places.
    space = _space(
        scenario,
        {"name": "caseload_cap", "label": "cap_urban", "sites": ["urban_nhs_a"]},
        {"name": "caseload_cap", "label": "cap_rural", "sites": ["rural_nfp_f"]},
    )
    assert space.labels == ("cap_urban", "cap_rural")


def test_bounds_that_make_the_scenario_invalid_are_refused(scenario: Scenario) -> None:
    message = _error(scenario, {"name": "supervisor_hours_per_week", "low": 0, "high": 5})
    assert "supervisor_hours_per_week at its low bound 0" in message
    assert "invalid" in message
    assert "Narrow" in message


def test_file_level_errors(tmp_path: Path, scenario: Scenario) -> None:
    with pytest.raises(FactorsError, match="no such file"):
        load_factors(tmp_path / "absent.toml", scenario)
    with pytest.raises(FactorsError, match="malformed TOML"):
        parse_factors("[[factors]\nname = 1", scenario, source="bad.toml")
    with pytest.raises(FactorsError, match="at least one factor"):
        parse_factors("factors = []", scenario, source="empty.toml")
    with pytest.raises(FactorsError, match="unknown key 'factor'"):
        parse_factors('[[factor]]\nname = "caseload_cap"', scenario, source="typo.toml")
