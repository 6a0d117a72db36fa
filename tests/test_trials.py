"""``peersim trials``: held-out validation against published trials.

Real runs with few replicates, through the console entry in this process (as
``test_bad_inputs.py`` does): the JSON contract, the published figures as
registered, the studies kept out of the default calibration, bad registries
refused with one line, and the same JSON on one or two workers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_TOML, main_in_process
from peersim.calibration.inputs import default_targets, default_targets_text, study_scenario
from peersim.cli.common import EXIT_BAD_INPUT
from peersim.cli.trials import DEFAULT_REPLICATES as CLI_DEFAULT_REPLICATES
from peersim.core.scenario_files import default_scenario
from peersim.trials import crps, load_registry, predictive_percentile
from peersim.trials.inputs import default_registry_path
from peersim.trials.workflow import DEFAULT_REPLICATES
from peersim.uncertainty import Posterior, default_posterior

FEW = "20"
"""Replicates of the runs here: the fewest accepted, a few seconds for CORE."""


@pytest.fixture(scope="module")
def core_json() -> dict[str, Any]:
    code, out, err = main_in_process(["trials", "--replicates", FEW, "--seed", "3", "--json", "--jobs", "1"])
    assert code == 0, err
    return json.loads(out)


# --- the JSON contract ------------------------------------------------------------------


def test_json_contract(core_json: dict[str, Any]) -> None:
    assert isinstance(core_json["trials"], list)
    assert core_json["trials"]
    for trial in core_json["trials"]:
        assert isinstance(trial["name"], str)
        assert trial["name"]
        assert isinstance(trial["citation"], str)
        assert trial["citation"]
        assert trial["held_out"] is True
        assert trial["outcomes"]
        for outcome in trial["outcomes"]:
            assert isinstance(outcome["metric"], str)
            assert isinstance(outcome["observed"], float)
            predicted = outcome["predicted"]
            assert set(predicted) >= {"median", "lo", "hi"}
            assert predicted["lo"] <= predicted["median"] <= predicted["hi"]
            assert isinstance(outcome["covered"], bool)
            assert outcome["covered"] == (predicted["lo"] <= outcome["observed"] <= predicted["hi"])
            assert 0.0 <= outcome["percentile"] <= 1.0
            assert outcome["crps"] >= 0.0
            assert outcome["role"] in {"predicted", "input", "calibration"}
            assert outcome["tested"] == (outcome["role"] == "predicted")
    core = next(t for t in core_json["trials"] if t["name"] == "core")
    assert core["pinned_by_scenario"] == ["p_readmit_12m_usual_care"]
    assert core_json["replicates"] == int(FEW)
    assert core_json["posterior"]["embedded_default"] is True


def test_the_command_and_the_library_default_to_the_same_replicates() -> None:
    assert CLI_DEFAULT_REPLICATES == DEFAULT_REPLICATES


def test_same_seed_same_json_on_one_or_two_workers(core_json: dict[str, Any]) -> None:
    code, out, err = main_in_process(["trials", "--replicates", FEW, "--seed", "3", "--json", "--jobs", "2"])
    assert code == 0, err
    assert json.loads(out) == core_json


def test_human_output_and_out_directory(tmp_path: Path) -> None:
    registry = _registry(tmp_path / "registry", {"tiny": (TINY_TOML, OBSERVED_TINY)})
    out = tmp_path / "out"
    code, text, err = main_in_process(
        ["trials", "-n", FEW, "--registry", str(registry), "--out", str(out), "-j", "1"]
    )
    assert code == 0, err
    assert "tiny" in text
    assert "itt_odds_ratio" in text
    assert "covered" in text
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "trials.csv", "trials.json", "trials.png"]
    assert json.loads((out / "trials.json").read_text())["trials"][0]["name"] == "tiny"
    assert "## tiny" in (out / "report.md").read_text()
    before = (out / "trials.json").read_bytes()
    code, text, err = main_in_process(
        ["trials", "-n", FEW, "--registry", str(registry), "--out", str(out), "-j", "1"]
    )
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1
    assert "--force" in err
    assert "Traceback" not in err
    assert (out / "trials.json").read_bytes() == before
    code, _text, err = main_in_process(
        ["trials", "-n", FEW, "--registry", str(registry), "--out", str(out), "-j", "1", "--force"]
    )
    assert code == 0, err


# --- the registry as published ----------------------------------------------------------


def test_core_figures_are_the_published_ones() -> None:
    core = next(s for s in load_registry().studies if s.name == "core")
    by_metric = {o.metric: o for o in core.observed.outcomes}
    treated = by_metric["readmission_rate_intervention"]
    assert (treated.observed, treated.events, treated.denominator, treated.role) == (
        0.29,
        64,
        218,
        "predicted",
    )
    control = by_metric["readmission_rate_control"]
    assert (control.observed, control.events, control.denominator, control.role) == (0.38, 83, 216, "input")
    ratio = by_metric["itt_odds_ratio"]
    assert (ratio.observed, ratio.ci_low, ratio.ci_high, ratio.role) == (0.66, 0.43, 0.99, "predicted")
    engaged = by_metric["engagement_rate"]
    assert (engaged.observed, engaged.events, engaged.denominator, engaged.confidence, engaged.role) == (
        0.72,
        160,
        221,
        "V",
        "predicted",
    )
    assert "Lancet 2018;392(10145):409-418" in core.observed.citation
    assert "221 vs 220" in core.observed.design_note
    # The scenario: the control arm pinned to the published figure, the design as documented.
    scenario = core.scenario
    assert scenario.mode == "trial"
    assert scenario.mechanisms.model_fields_set == {"p_readmit_12m_usual_care"}
    assert scenario.mechanisms.p_readmit_12m_usual_care == 0.38
    assert scenario.protocol.engaged_min_contacts == 3
    assert scenario.horizon.follow_up_weeks == 52
    assert len(scenario.sites) == 6
    assert all(site.host == "nhs" for site in scenario.sites)
    expected = scenario.horizon.recruitment_weeks * sum(
        s.eligible_admissions_per_week for s in scenario.sites
    )
    assert abs(expected - 441) < 5


def _mentions(text: str, study_name: str, citation: str, url: str | None) -> bool:
    first_author = citation.split()[0]
    patterns = [rf"\b{re.escape(study_name)}\b", rf"\b{re.escape(first_author)}\b"]
    if url:
        patterns.append(re.escape(url))
    return any(re.search(p, text, flags=re.IGNORECASE) for p in patterns)


def test_held_out_studies_are_not_in_the_default_calibration() -> None:
    """No registry study enters the default targets, except a figure its entry declares.

    A default target that names a registry study (its name, first author or
    address) must be declared by that study's entry as the ``calibration_target``
    of a ``role = "calibration"`` outcome, which takes that outcome out of the
    tests. The reverse is not required: a target can have been informed by a
    study without naming it (CORE's attendance and ``engaged_share``, a weak
    link that CORE's entry states in its note), and only the entry can say so.
    """
    targets = default_targets()
    registry = load_registry()
    for study in registry.studies:
        spec = study.observed
        mentioned = {
            t.name
            for t in targets.targets
            if _mentions(json.dumps(t.model_dump(mode="json")), spec.name, spec.citation, spec.url)
        }
        declared = {o.calibration_target for o in spec.outcomes if o.role == "calibration"}
        assert mentioned <= declared, (study.name, mentioned - declared)
        assert declared <= set(targets.names), (study.name, declared - set(targets.names))
        outside = default_targets_text()
        for target in targets.targets:  # the file's comments and header, besides its targets' fields
            outside = outside.replace(target.source, "").replace(target.description, "")
        assert not _mentions(outside, spec.name, spec.citation, spec.url), study.name
    # The default calibration runs the embedded ENRICH-like scenario, not a registry scenario.
    assert study_scenario(targets) is None
    default = default_scenario()
    assert default.name == "enrich_trial"
    assert all(s.scenario.hash != default.hash and s.scenario.name != default.name for s in registry.studies)
    meta = default_posterior().meta
    assert meta["scenario"] == "enrich_trial"
    assert meta["targets"] == targets.spec.name
    assert meta["targets_source"] == "<embedded default_targets.toml>"


# --- bad registries -------------------------------------------------------------------------

OBSERVED_TINY = """\
name = "tiny"
citation = "Nobody A. A tiny trial. Journal of Tests 2020;1:1-2"
url = "https://example.org/tiny"
held_out = true
design_note = "A test entry."

[[outcomes]]
metric = "itt_odds_ratio"
observed = 0.8
ci_low = 0.5
ci_high = 1.2
quantity = "Odds ratio of readmission"
confidence = "V"
role = "predicted"
"""


def _registry(root: Path, studies: dict[str, tuple[str | None, str | None]]) -> Path:
    for name, (scenario, observed) in studies.items():
        folder = root / name
        folder.mkdir(parents=True)
        if scenario is not None:
            (folder / "scenario.toml").write_text(scenario, encoding="utf-8")
        if observed is not None:
            (folder / "observed.toml").write_text(observed, encoding="utf-8")
    return root


def _without_outcomes(text: str) -> str:
    return text.split("[[outcomes]]")[0] + "outcomes = []\n"


BAD: dict[str, tuple[dict[str, tuple[str | None, str | None]], str, str]] = {
    "no outcomes": (
        {"tiny": (TINY_TOML, _without_outcomes(OBSERVED_TINY))},
        "tiny/observed.toml",
        "outcomes",
    ),
    "outcomes key missing": (
        {"tiny": (TINY_TOML, OBSERVED_TINY.split("[[outcomes]]")[0])},
        "tiny/observed.toml",
        "outcomes: required key is missing",
    ),
    "unknown metric": (
        {"tiny": (TINY_TOML, OBSERVED_TINY.replace('"itt_odds_ratio"', '"odds_ratio"'))},
        "tiny/observed.toml",
        "outcomes[0].metric: unknown metric 'odds_ratio'",
    ),
    "unknown key": (
        {"tiny": (TINY_TOML, OBSERVED_TINY.replace('role = "predicted"', 'role = "predicted"\nweight = 2'))},
        "tiny/observed.toml",
        "outcomes[0].weight: unknown key 'weight'",
    ),
    "missing scenario": ({"tiny": (None, OBSERVED_TINY)}, "tiny/scenario.toml", "no such file"),
    "missing observed": ({"tiny": (TINY_TOML, None)}, "tiny/observed.toml", "no such file"),
    "not held out": (
        {"tiny": (TINY_TOML, OBSERVED_TINY.replace("held_out = true", "held_out = false"))},
        "tiny/observed.toml",
        "held_out: must be true",
    ),
    "name not the folder": (
        {"other": (TINY_TOML, OBSERVED_TINY)},
        "other/observed.toml",
        "must be the study's folder name 'other'",
    ),
    "pinned outcome claimed as a prediction": (
        {
            "tiny": (
                TINY_TOML.replace(
                    "[[sites]]", "[mechanisms]\np_readmit_12m_usual_care = 0.4\n\n[[sites]]", 1
                ),
                OBSERVED_TINY.replace('"itt_odds_ratio"', '"readmission_rate_control"')
                .replace("observed = 0.8", "observed = 0.4")
                .replace("ci_high = 1.2", "ci_high = 0.6")
                .replace("ci_low = 0.5", "ci_low = 0.3"),
            )
        },
        "tiny/observed.toml",
        "outcomes[0].role: readmission_rate_control is set by scenario.toml",
    ),
    "bad scenario": (
        {"tiny": (TINY_TOML.replace("caseload_cap = 4", "caseload_cap = 0"), OBSERVED_TINY)},
        "tiny/scenario.toml",
        "sites[0].caseload_cap",
    ),
    "empty registry": ({}, "registry", "holds no study"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_registry_is_one_clear_line(case: str, tmp_path: Path) -> None:
    studies, where, what = BAD[case]
    root = tmp_path / "registry"
    root.mkdir()
    _registry(root, studies)
    code, out, err = main_in_process(["trials", "-n", FEW, "--registry", str(root), "-j", "1"])
    assert code == EXIT_BAD_INPUT, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("peersim: error: "), err
    assert "Traceback" not in err
    assert str(root / where) in err if where != "registry" else str(root) in err
    assert what in err, err


def test_a_registry_that_is_not_there(tmp_path: Path) -> None:
    code, out, err = main_in_process(["trials", "--registry", str(tmp_path / "nowhere")])
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == f"peersim: error: {tmp_path / 'nowhere'}: no such registry folder\n"


def test_another_posterior_is_read_and_a_missing_one_refused(tmp_path: Path) -> None:
    code, out, err = main_in_process(["trials", "--posterior", str(tmp_path / "none.parquet")])
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert str(tmp_path / "none.parquet") in err
    assert "Traceback" not in err
    two = Posterior(pd.DataFrame({"p_attend_base": [0.5, 0.9]}), np.array([1.0, 1.0]), source="two")
    two.save(tmp_path / "two.parquet")
    args = ["trials", "-n", FEW, "--json", "-j", "1", "--posterior", str(tmp_path / "two.parquet")]
    code, out, err = main_in_process(args)
    assert code == 0, err
    assert json.loads(out)["posterior"]["source"] == str(tmp_path / "two.parquet")


def test_the_shipped_registry_is_packaged() -> None:
    root = default_registry_path()
    assert (root / "core" / "scenario.toml").is_file()
    assert (root / "core" / "observed.toml").is_file()


# --- the scores -----------------------------------------------------------------------------


def test_crps_is_the_pairwise_formula() -> None:
    rng = np.random.default_rng(5)
    draws = rng.normal(0.3, 0.1, size=57)
    for y in (0.0, 0.3, 0.31, 1.0):
        pairwise = np.mean(np.abs(draws - y)) - 0.5 * np.mean(np.abs(draws[:, None] - draws[None, :]))
        assert crps(draws, y) == pytest.approx(pairwise, abs=1e-12)
    assert crps(np.array([0.5, 0.5]), 0.5) == 0.0
    assert crps(np.array([0.2]), 0.5) == pytest.approx(0.3)


def test_percentile_counts_ties_half() -> None:
    assert predictive_percentile(np.array([0.1, 0.2, 0.2, 0.3]), 0.2) == pytest.approx(0.5)
    assert predictive_percentile(np.array([0.1, 0.2, 0.3, np.nan]), 0.25) == pytest.approx(2 / 3)
    assert predictive_percentile(np.array([0.1, 0.2]), 0.0) == 0.0


def test_a_mention_of_a_study_is_found() -> None:
    core = next(s for s in load_registry().studies if s.name == "core").observed
    for text in ("a range guided by CORE (72% attended >= 3)", "as Johnson et al. found", core.url or ""):
        assert _mentions(text, core.name, core.citation, core.url), text
    assert not _mentions("scored at the core of the model? no: the corpus", "corex", core.citation, None)
