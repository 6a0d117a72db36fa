"""Targets files and priors: parse, validate, bind to a scenario, compute from a run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import town_and_county
from peersim import default_scenario, run
from peersim.calibration.inputs import (
    ARM_METRICS,
    bind_targets,
    build_priors,
    default_targets,
    default_targets_text,
    load_targets,
    parse_targets,
    run_lookup,
    targets_from_dict,
)
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.results import METRICS
from peersim.core.scenario_files import parse_scenario
from peersim.errors import PeersimInputError

Z_95 = 1.959963984540054
"""Standard normal quantile of a two-sided 95% interval (``scipy.stats.norm.ppf(0.975)``)."""

ROOT = Path(__file__).resolve().parents[1]

TWO_SITES = town_and_county("two", 8, admissions=2, supervision=(4, 2), peer_workers=2)


def point(name: str = "t", **extra: Any) -> dict[str, Any]:
    target: dict[str, Any] = {
        "name": name,
        "metric": "readmission_rate_control",
        "value": 0.5,
        "low": 0.4,
        "high": 0.6,
        "source": "test",
        "confidence": "A",
    }
    target.update(extra)
    return target


def data(*targets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "test", "targets": list(targets) or [point()]}
    out.update(extra)
    return out


def error_of(raw: dict[str, Any], scenario: Any = TWO_SITES) -> str:
    def read() -> None:
        target_set = targets_from_dict(raw, source="my_targets.toml")
        bind_targets(target_set, scenario)
        build_priors(target_set)

    with pytest.raises(PeersimInputError) as caught:
        read()
    return str(caught.value)


def test_packaged_default_targets_are_the_repository_file() -> None:
    shipped = (ROOT / "calibration" / "targets.toml").read_text(encoding="utf-8")
    assert default_targets_text() == shipped


def test_default_targets_bind_to_the_default_scenario() -> None:
    target_set = default_targets()
    bound = bind_targets(target_set, default_scenario())
    assert bound.names == [
        "control_readmission",
        "itt_odds_ratio",
        "engaged_share",
        "engaged_benefit_cace",
        "engagement_high_vs_low_sites",
        "fidelity_high_vs_low_sites",
    ]
    high, low = bound.targets[4].selectors
    assert high.sites == ("urban_nhs_a", "urban_nhs_b", "urban_nhs_c")
    assert low.sites == ("urban_nfp_d", "rural_nfp_f", "rural_nfp_g")
    # Every [V] target is a direction only; every [A] figure carries an interval, except the
    # CACE direction, whose source gives a direction second-hand and no figure to widen.
    for target in target_set.targets:
        if target.confidence == "V" or target.name == "engaged_benefit_cace":
            assert target.is_ordinal, target.name
        else:
            assert not target.is_ordinal, target.name
    assert build_priors(target_set).names == list(MECHANISM_PARAMS)


def test_arm_metrics_are_those_a_run_reports() -> None:
    result = run(TWO_SITES, 0)
    for arm, metrics in ARM_METRICS.items():
        reported = set(result.outcomes.loc[result.outcomes["arm"] == arm, "metric"])
        assert set(metrics) == reported, arm


def test_target_values_follow_their_definitions() -> None:
    raw = data(
        point("overall"),
        point("site", sites=["county"]),
        point("arm", metric="readmission_rate", arm="usual_care", sites=["town"]),
        {
            "name": "contrast",
            "metric": "engagement_rate",
            "compare": "difference",
            "a": {"host": "nhs"},
            "b": {"sites": ["county"]},
            "at_least": 0.0,
            "source": "test",
            "confidence": "V",
        },
        {
            "name": "ratio",
            "compare": "ratio",
            "a": {"metric": "readmission_rate_engaged"},
            "b": {"metric": "readmission_rate_not_engaged"},
            "at_most": 1.0,
            "source": "test",
            "confidence": "V",
        },
        {
            "name": "group_mean",
            "metric": "fidelity_index",
            "sites": ["town", "county"],
            "value": 0.7,
            "low": 0.5,
            "high": 0.9,
            "source": "test",
            "confidence": "A",
        },
    )
    bound = bind_targets(targets_from_dict(raw), TWO_SITES)
    result = run(TWO_SITES, 3)
    values = bound.values(result)
    assert values["overall"] == result.metric("readmission_rate_control")
    assert values["site"] == result.metric("readmission_rate_control", "county")
    o = result.outcomes
    expected_arm = o[(o.site == "town") & (o.arm == "usual_care") & (o.metric == "readmission_rate")]
    assert values["arm"] == float(expected_arm["value"].iloc[0])
    assert values["contrast"] == pytest.approx(
        result.metric("engagement_rate", "town") - result.metric("engagement_rate", "county")
    )
    assert values["ratio"] == pytest.approx(
        result.metric("readmission_rate_engaged") / result.metric("readmission_rate_not_engaged")
    )
    # Several sites: each site counts once (unweighted mean of site values).
    assert values["group_mean"] == pytest.approx(
        np.mean([result.metric("fidelity_index", s) for s in ("town", "county")])
    )
    assert run_lookup(result)[("overall", "", "participants")] == result.metric("participants")


def test_discrepancy_uses_each_side_of_the_interval() -> None:
    raw = data(point(value=0.8, low=0.55, high=1.15, metric="itt_odds_ratio"))
    target = bind_targets(targets_from_dict(raw), TWO_SITES).targets[0]
    assert target.discrepancy(0.8) == 0.0
    assert target.discrepancy(0.55) == pytest.approx(-Z_95)
    assert target.discrepancy(1.15) == pytest.approx(Z_95)
    ordinal = data(
        {"name": "o", "metric": "engagement_rate", "at_least": 0.5, "tolerance": 0.1}
        | {"source": "s", "confidence": "V"}
    )
    bound = bind_targets(targets_from_dict(ordinal), TWO_SITES).targets[0]
    assert bound.discrepancy(0.7) == 0.0
    assert bound.discrepancy(0.3) == pytest.approx(2.0)
    assert bound.satisfied(0.5)
    assert not bound.satisfied(math.nan)


def test_a_users_single_site_service_can_be_calibrated(tmp_path: Path) -> None:
    scenario = parse_scenario(
        """
name = "our_service"
mode = "service"
[[sites]]
name = "our_ward"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 3
supervisor_hours_per_week = 3
eligible_admissions_per_week = 1.5
"""
    )
    path = tmp_path / "ours.toml"
    path.write_text(
        """
name = "our_service_2025"
[priors]
parameters = ["p_attend_base", "rel_fidelity_engagement"]
[priors.bounds]
p_attend_base = [0.4, 0.8]

[[targets]]
name = "our_engagement"
metric = "engagement_rate"
sites = ["our_ward"]
value = 0.55
low = 0.45
high = 0.65
weight = 2
source = "our audit, 2025 (112 people offered support)"
confidence = "V"
""",
        encoding="utf-8",
    )
    target_set = load_targets(path)
    bound = bind_targets(target_set, scenario)
    priors = build_priors(target_set)
    assert bound.targets[0].selectors[0].sites == ("our_ward",)
    assert [(p.name, p.low, p.high) for p in priors.priors] == [
        ("rel_fidelity_engagement", 0.0, 6.0),
        ("p_attend_base", 0.4, 0.8),
    ]
    assert bound.weights == {"our_engagement": 1.0}


BAD: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "unknown metric": (
        data(point(metric="readmision_rate_control")),
        ("targets[0].metric", "unknown metric 'readmision_rate_control'", "readmission_rate_control"),
    ),
    "metric not reported per arm": (
        data(point(metric="engagement_rate", arm="usual_care")),
        ("targets[0].metric", "not reported per arm", "readmission_rate"),
    ),
    "unknown site": (
        data(point(sites=["town", "city"])),
        ("targets[0].sites[1]", "unknown site 'city'", "town, county"),
    ),
    "unknown site in a contrast": (
        data(
            {
                "name": "c",
                "metric": "engagement_rate",
                "compare": "difference",
                "a": {"sites": ["town"]},
                "b": {"sites": ["nowhere"]},
                "at_least": 0.0,
                "source": "s",
                "confidence": "V",
            }
        ),
        ("targets[0].b.sites[0]", "unknown site 'nowhere'"),
    ),
    "empty group": (
        data(point(host="nhs", geography="rural")),
        ("targets[0]", "no site of scenario 'two' has host = 'nhs', geography = 'rural'"),
    ),
    "interval low above high": (
        data(point(low=0.6, high=0.4)),
        ("targets[0]", "interval low 0.6 is above high 0.4"),
    ),
    "value outside interval": (
        data(point(value=0.7)),
        ("targets[0]", "value 0.7 lies outside its interval [0.4, 0.6]"),
    ),
    "point and ordinal": (data(point(at_least=0.2)), ("targets[0]", "not both")),
    "no observation": (
        data({"name": "n", "metric": "engagement_rate", "source": "s", "confidence": "A"}),
        ("targets[0]", "observation is missing"),
    ),
    "unknown key": (data(point(wieght=2)), ("targets[0].wieght", "unknown key 'wieght'", "weight")),
    "bad confidence tag": (data(point(confidence="B")), ("targets[0].confidence",)),
    "duplicate name": (data(point("x"), point("x")), ("targets[1].name", "duplicate target name 'x'")),
    "prior outside declared bounds": (
        data(point(), priors={"bounds": {"p_attend_base": [0.1, 0.9]}}),
        ("priors.bounds.p_attend_base", "outside the declared bounds", "0.3 to 0.95"),
    ),
    "prior low above high": (
        data(point(), priors={"bounds": {"p_attend_base": [0.8, 0.5]}}),
        ("priors.bounds.p_attend_base", "low 0.8 must be below high 0.5"),
    ),
    "prior for an unknown parameter": (
        data(point(), priors={"parameters": ["p_attend"]}),
        ("priors.parameters[0]", "'p_attend' is not a mechanism parameter", "p_attend_base"),
    ),
    "bounds for an uncalibrated parameter": (
        data(point(), priors={"parameters": ["rel_strain"], "bounds": {"p_attend_base": [0.4, 0.5]}}),
        ("priors.bounds.p_attend_base", "not calibrated"),
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_targets_name_file_and_key(case: str) -> None:
    raw, fragments = BAD[case]
    message = error_of(raw)
    assert message.startswith("my_targets.toml: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_malformed_toml_names_the_file_and_line() -> None:
    with pytest.raises(PeersimInputError, match=r"^t\.toml: malformed TOML: .*line 2"):
        parse_targets('name = "x"\nweight = = 2\n', source="t.toml")


def test_every_metric_of_the_results_can_be_a_target() -> None:
    raw = data(*(point(f"m{i}", metric=m) for i, m in enumerate(METRICS)))
    assert len(bind_targets(targets_from_dict(raw), TWO_SITES).targets) == len(METRICS)
