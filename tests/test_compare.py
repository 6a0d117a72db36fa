"""What-if comparisons: common random numbers, exact zero for self-comparison, --set."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_TOML, run_peersim
from peersim.core.overrides import ScenarioSource, load_source, parse_override
from peersim.core.results import HIGHER_IS_BETTER, METRICS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import parse_scenario, scenario_from_dict
from peersim.ensemble.batches import EnsembleJob, MemorySink, run_ensembles
from peersim.errors import ScenarioError
from peersim.executor import LocalExecutor
from peersim.stats import PAIRED_COLUMNS, paired_differences, t_quantile

SEED = 3


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    return path


def test_t_quantile_matches_tables() -> None:
    # Two-sided 95% critical values from any t table.
    for df, expected in [(1, 12.7062), (2, 4.3027), (5, 2.5706), (19, 2.0930), (120, 1.9799)]:
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4), df
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7))
    assert t_quantile(0.975, 1e9) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError, match="0 < p < 1"):
        t_quantile(1.0, 5)


def metrics_of(scenario_sources: list[ScenarioSource], replicates: int) -> list[pd.DataFrame]:
    sinks = [MemorySink() for _ in scenario_sources]
    with LocalExecutor(1) as one:
        run_ensembles(
            [EnsembleJob(s.scenario, sink) for s, sink in zip(scenario_sources, sinks, strict=True)],
            SEED,
            replicates,
            one,
        )
    return [sink.read("metrics") for sink in sinks]


def test_comparing_a_scenario_with_itself_gives_exactly_zero(tiny_file: Path) -> None:
    # Two independent loads and two independent ensembles: only shared seeds make them equal.
    base, same = metrics_of([load_source(tiny_file), load_source(tiny_file)], 6)
    diff = paired_differences(base, same, "self")
    finite = diff[diff["n"] > 0]
    assert set(METRICS) - {"readmission_rate_engaged", "readmission_rate_not_engaged"} <= set(
        finite["metric"]
    )
    assert (finite["difference"] == 0.0).all()
    assert (finite["lo"] == 0.0).all()
    assert (finite["hi"] == 0.0).all()
    assert set(finite["site"]) == {"overall", "north", "south"}


def test_a_lever_leaves_untouched_processes_identical(tiny_file: Path) -> None:
    # Less supervision at north changes delivery there, not who is admitted, usual
    # care or the other site: on common random numbers those differences are
    # exactly zero, replicate by replicate.
    base, less = metrics_of(
        [load_source(tiny_file), load_source(tiny_file, ["north.supervisor_hours_per_week=1"])], 6
    )
    diff = paired_differences(base, less, "less supervision").set_index(["site", "metric"])
    for site in ("overall", "north", "south"):
        assert diff.loc[(site, "participants"), "difference"] == 0.0
        assert diff.loc[(site, "readmission_rate_control"), "difference"] == 0.0
    for metric in ("supervision_sessions", "pw_strain", "fidelity_index"):
        assert diff.loc[("south", metric), "difference"] == 0.0, metric
    # The lever itself does something. Seen (seed 3, 6 pairs): sessions -47 [-53, -42],
    # strain +0.16 [+0.14, +0.17], fidelity -0.15 [-0.157, -0.144].
    assert diff.loc[("north", "supervision_sessions"), "hi"] < 0
    assert diff.loc[("north", "pw_strain"), "lo"] > 0
    assert diff.loc[("north", "fidelity_index"), "hi"] < 0


def test_intervals_cover_the_mean_and_shrink_to_zero_width_only_for_identical_pairs() -> None:
    base = pd.DataFrame({"site": "a", "metric": "m", "value": [1.0, 2.0, 3.0, 4.0], "replicate": range(4)})
    whatif = base.assign(value=[1.5, 2.0, 3.5, 5.0])
    row = paired_differences(base, whatif, "w").iloc[0]
    d = np.array([0.5, 0.0, 0.5, 1.0])
    half = t_quantile(0.975, 3) * d.std(ddof=1) / 2
    assert row["difference"] == pytest.approx(0.5)
    assert (row["lo"], row["hi"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert row["n"] == 4


def test_set_overrides_equal_editing_the_file(tiny_file: Path) -> None:
    edited = (
        TINY_TOML.replace("caseload_cap = 3", "caseload_cap = 6").replace(
            "recruitment_weeks = 8", "recruitment_weeks = 10"
        )
        + "\n[mechanisms]\nrel_supervision = 0.3\n"
    )
    assert edited.count("caseload_cap = 6") == 1
    assert "recruitment_weeks = 10" in edited
    got = load_source(
        tiny_file, ["south.caseload_cap=6", "horizon.recruitment_weeks=10", "mechanisms.rel_supervision=0.3"]
    ).scenario
    assert got == parse_scenario(edited)
    assert got.hash == parse_scenario(edited).hash
    assert parse_override("north.host=nhs").value == "nhs"  # bare words are strings
    assert parse_override('name="x y"').value == "x y"


@pytest.mark.parametrize(
    ("setting", "fragments"),
    [
        ("north.caseload_cap=0", ["sites[0].caseload_cap", 'site "north"', "out of range", "allowed"]),
        ("north.nonsense=1", ["sites[0].nonsense", "unknown key 'nonsense'", "valid keys here are"]),
        ("mechanisms.rel_bogus=1", ["mechanisms.rel_bogus", "unknown key"]),
        ("east.caseload_cap=3", ["no site or section 'east'", "sites are: north, south"]),
        ("north.caseload_cap", ["expected KEY=VALUE"]),
    ],
)
def test_bad_set_values_are_refused_like_bad_files(
    tiny_file: Path, setting: str, fragments: list[str]
) -> None:
    with pytest.raises(ScenarioError) as error:
        load_source(tiny_file, [setting])
    for fragment in fragments:
        assert fragment in str(error.value), (fragment, str(error.value))


def test_cli_compare_and_set_errors(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    calls = {
        "self": ["compare", "tiny.toml", "tiny.toml", "-n", "4", "--seed", "3", "-j", "1", "--json",
                 "--no-posterior"],
        "self_posterior": ["compare", "tiny.toml", "tiny.toml", "-n", "4", "--seed", "3", "-j", "1",
                           "--json"],
        "out": ["compare", "tiny.toml", "--set", "north.supervisor_hours_per_week=20", "-n", "3", "-j", "1",
                "--out", "cmp"],
        "range": ["compare", "tiny.toml", "--set", "north.supervisor_hours_per_week=99", "-n", "2"],
        "site": ["run", "tiny.toml", "--set", "east.caseload_cap=3", "-n", "1"],
        "nothing": ["compare", "tiny.toml", "-n", "2"],
    }  # fmt: skip
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_peersim, args, tmp_path) for name, args in calls.items()}
        results: dict[str, subprocess.CompletedProcess[str]] = {k: f.result() for k, f in futures.items()}

    document = json.loads(results["self"].stdout)  # exactly one JSON document
    assert results["self"].returncode == 0, results["self"].stderr
    (comparison,) = document["comparisons"]
    values = [v for v in comparison["overall"].values() if v["difference"] is not None]
    assert values
    assert all(v["difference"] == 0.0 and v["lo"] == 0.0 and v["hi"] == 0.0 for v in values)
    # Every replicate pairs; only the stratified odds ratio may be undefined in a replicate of
    # this ~20-person trial (seen: n = 3 of 4, when no site x group stratum has a readmission
    # in one arm and none spared in the other).
    defined = {m: v for m, v in comparison["overall"].items() if v["difference"] is not None}
    assert all(v["n"] == 4 for m, v in defined.items() if m != "itt_odds_ratio_stratified")
    assert 1 <= defined["itt_odds_ratio_stratified"]["n"] <= 4
    assert document["posterior"] is None
    assert "model noise only" in document["predictive_interval"]
    assert_self_comparison(comparison)
    # With the shipped posterior both sides draw the same particle per replicate: still exactly zero.
    document = json.loads(results["self_posterior"].stdout)
    assert document["posterior"]["embedded_default"] is True
    (comparison,) = document["comparisons"]
    values = [v for v in comparison["overall"].values() if v["difference"] is not None]
    assert values
    assert all(v["difference"] == 0.0 and v["lo"] == 0.0 and v["hi"] == 0.0 for v in values)
    assert "posterior + model noise" in document["predictive_interval"]
    assert_self_comparison(comparison)

    out = results["out"]
    assert out.returncode == 0, out.stderr
    assert "what-if tiny+set" in out.stdout
    assert "supervision_sessions" in out.stdout
    for name in ("compare.csv", "compare.json", "forest.png", "base/manifest.json", "tiny+set/manifest.json"):
        assert (tmp_path / "cmp" / name).is_file(), name
    assert_compare_contract(out.stdout, tmp_path / "cmp")

    for name, fragments in {
        "range": [
            "tiny.toml with --set north.supervisor_hours_per_week=99",
            "sites[0].supervisor_hours_per_week",
            "out of range",
        ],
        "site": ["tiny.toml with --set east.caseload_cap=3", "no site or section 'east'"],
        "nothing": ["at least one WHATIF file or a --set"],
    }.items():  # fmt: skip
        result = results[name]
        assert result.returncode == 2, (name, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("peersim: error: "), result.stderr
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        assert result.stdout == ""


def assert_self_comparison(comparison: dict[str, Any]) -> None:
    """A scenario against itself: predictive intervals [0, 0], no benefit anywhere (ties are none)."""
    tables = [comparison["overall"], *comparison["sites"].values()]
    values = [v for table in tables for v in table.values() if v["n"] >= 2]
    assert len(values) > 40
    assert all(v["predictive_lo"] == 0.0 and v["predictive_hi"] == 0.0 for v in values)
    assert all(v["p_benefit"] == (None if v["higher_is_better"] is None else 0.0) for v in values)
    assert all(v["p_harm"] == (None if v["higher_is_better"] is None else 0.0) for v in values)


def assert_compare_contract(stdout: str, out: Path) -> None:
    """compare.json, compare.csv and the table carry both intervals and P(benefit)."""
    document = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    for key in ("interval", "predictive_interval", "p_benefit"):
        assert isinstance(document[key], str), key
    assert "exactly 0" in document["p_benefit"]
    assert "not a benefit" in document["p_benefit"]
    (comparison,) = document["comparisons"]
    keys = {"base", "whatif", "difference", "lo", "hi", "predictive_lo", "predictive_hi", "p_benefit"}
    keys |= {"p_harm"}
    keys |= {"higher_is_better", "n"}
    tables = [comparison["overall"], *comparison["sites"].values()]
    assert set(comparison["sites"]) == {"north", "south"}
    for table in tables:
        for metric, values in table.items():
            assert set(values) == keys, metric
            assert values["higher_is_better"] == HIGHER_IS_BETTER[metric]
    assert comparison["overall"]["readmission_rate_intervention"]["higher_is_better"] is False
    assert comparison["overall"]["participants"]["p_benefit"] is None
    csv = pd.read_csv(out / "compare.csv")
    assert list(csv.columns) == PAIRED_COLUMNS
    assert {"predictive_lo", "predictive_hi", "p_benefit", "p_harm"} <= set(csv.columns)
    # The table: the predictive interval first, as the primary answer, then P(benefit) and the mean's.
    header = next(line for line in stdout.splitlines() if line.startswith("metric"))
    order = ["difference", "95% predictive interval", "P(benefit)", "interval of the mean", " n"]
    assert [header.index(name) for name in order] == sorted(header.index(name) for name in order)
    assert "95% predictive interval of the effect, posterior + model noise (the primary answer)" in stdout


def test_compare_scenarios_pairs_replicates_and_posterior_draws(tiny_scenario: Scenario) -> None:
    from peersim import compare_scenarios
    from peersim.uncertainty import default_posterior

    data = tiny_scenario.to_toml_dict()
    data["sites"][0]["supervisor_hours_per_week"] = 0.5
    stretched = scenario_from_dict(data, source="<tiny, stretched supervision>")
    data["sites"][0]["supervisor_hours_per_week"] = 12
    more = scenario_from_dict(data, source="<tiny, more supervision>")
    with LocalExecutor(1) as pool:
        differences = compare_scenarios(
            stretched,
            {"itself": stretched, "more": more},
            seed=3,
            replicates=4,
            posterior=default_posterior(),
            executor=pool,
        )
    itself = differences[differences["comparison"] == "itself"].dropna(subset=["difference"])
    assert len(itself) > 0
    assert (itself["difference"] == 0).all()
    # Every replicate is paired (fewer only where a metric is undefined in a replicate, e.g. no one engaged).
    assert itself.query("metric == 'participants'")["n"].tolist() == [4, 4, 4]
    fidelity = differences.query("comparison == 'more' and site == 'north' and metric == 'fidelity_index'")
    assert float(fidelity["lo"].iloc[0]) > 0  # seen: +0.202 [0.182, 0.222]


def test_compare_scenarios_refuses_nothing_to_compare(tiny_scenario: Scenario) -> None:
    from peersim import compare_scenarios

    with pytest.raises(ValueError, match="at least one what-if"):
        compare_scenarios(tiny_scenario, {})
    with pytest.raises(ValueError, match="at least 2"):
        compare_scenarios(tiny_scenario, {"same": tiny_scenario}, replicates=1)


def test_compare_scenarios_warns_when_sites_differ(tiny_scenario: Scenario) -> None:
    from peersim import compare_scenarios

    data = tiny_scenario.to_toml_dict()
    data["sites"] = data["sites"][::-1]
    swapped = scenario_from_dict(data, source="<tiny, sites swapped>")
    with LocalExecutor(1) as pool, pytest.warns(UserWarning, match="shared by site position"):
        differences = compare_scenarios(tiny_scenario, {"swapped": swapped}, replicates=2, executor=pool)
    assert set(differences["site"]) == {"north", "south", "overall"}
