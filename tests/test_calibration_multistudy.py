"""Calibrating to several studies at once: shared strengths, per-study baselines, inputs, fingerprint.

The known-answer test generates synthetic targets for two one-site trials with
different site inputs and baselines from known mechanism values, calibrates the
shared ``p_attend_base`` and study alpha's baseline with a small budget and
checks that the posterior's 90% intervals cover the truth and are narrower than
the priors (study beta's scenario sets its baseline, which stays fixed). As in
``test_calibration_abc.py``, each observed interval is the spread of single
runs at the truth, so covering is what a calibrated posterior should do.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import main_in_process
from peersim.calibration.analysis import identifiability
from peersim.calibration.evaluate import StudiesModel, evaluation_seed, study_seed, with_mechanisms
from peersim.calibration.inputs import load_targets, targets_from_dict
from peersim.calibration.smc import (
    TRANSITION_SCALING,
    CalibrationProblem,
    CalibrationSettings,
    _digest,
    fingerprint,
    run_abc,
)
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import parse_scenario
from peersim.core.streams import replicate_seed
from peersim.errors import PeersimInputError
from peersim.io.provenance import model_source_digest, package_version
from peersim.simulation import run
from peersim.uncertainty import Posterior, load_posterior

ALPHA_TOML = """
name = "alpha_trial"
mode = "trial"
[horizon]
recruitment_weeks = 16
follow_up_weeks = 26
[[sites]]
name = "alpha_ward"
host = "nhs"
geography = "urban"
n_peer_workers = 3
supervisor_hours_per_week = 6
eligible_admissions_per_week = 15
"""
"""Study alpha: one well-supported NHS ward, about 96 participants; a run takes ~0.05 s."""

BETA_TOML = """
name = "beta_trial"
mode = "trial"
[horizon]
recruitment_weeks = 16
follow_up_weeks = 26
[mechanisms]
p_readmit_12m_usual_care = 0.6
[[sites]]
name = "beta_ward"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 2
supervisor_hours_per_week = 2
eligible_admissions_per_week = 15
"""
"""Study beta: one thinly supervised rural ward whose scenario sets its own baseline (0.6)."""

ALPHA = parse_scenario(ALPHA_TOML, source="alpha.toml")
BETA = parse_scenario(BETA_TOML, source="beta.toml")

TRUTH = {"p_attend_base": 0.8, "p_readmit_12m_usual_care": 0.42}
"""Known values: the shared strength, and alpha's baseline (beta's is its scenario's 0.6)."""

METRICS = {
    "alpha": {"control": "readmission_rate_control", "contacts": "mean_contacts"},
    "beta": {"contacts": "mean_contacts", "engaged": "engagement_rate"},
}


def synthetic(study: str, scenario: Scenario, runs: int = 24) -> dict[str, Any]:
    """Targets of ``study``: point = mean of ``runs`` runs at the truth, interval ±1.96 SD of one run."""
    at_truth = with_mechanisms(
        scenario, TRUTH if study == "alpha" else {"p_attend_base": TRUTH["p_attend_base"]}
    )
    results = [run(at_truth, replicate_seed(2024, i)) for i in range(runs)]
    targets = []
    for name, metric in METRICS[study].items():
        values = np.array([r.metric(metric) for r in results])
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        targets.append(
            {
                "name": name,
                "metric": metric,
                "value": mean,
                "low": max(mean - 1.96 * sd, 0.0),
                "high": mean + 1.96 * sd,
                "source": f"synthetic: {runs} runs at {TRUTH}",
                "confidence": "V",
            }
        )
    return {"name": study, "priors": {"parameters": list(TRUTH)}, "targets": targets}


def write_study(folder: Path, study: str, data: dict[str, Any], scenario: str | None) -> Path:
    """Write a targets file (TOML) for ``study`` naming ``scenario``; return its path."""
    lines = [f'name = "{data["name"]}"']
    if scenario is not None:
        lines.append(f'scenario = "{scenario}"')
    priors = data.get("priors", {})
    if priors:
        lines += ["[priors]", f"parameters = {json.dumps(priors['parameters'])}"]
        if "bounds" in priors:
            lines += ["[priors.bounds]", *(f"{k} = {json.dumps(v)}" for k, v in priors["bounds"].items())]
    for target in data["targets"]:
        lines.append("[[targets]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in target.items()]
    path = folder / f"{study}_targets.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two studies' scenarios and synthetic targets files, each naming its scenario."""
    root = tmp_path_factory.mktemp("multistudy")
    (root / "scenarios").mkdir()
    (root / "scenarios" / "alpha.toml").write_text(ALPHA_TOML, encoding="utf-8")
    (root / "scenarios" / "beta.toml").write_text(BETA_TOML, encoding="utf-8")
    write_study(root, "alpha", synthetic("alpha", ALPHA), "scenarios/alpha.toml")
    write_study(root, "beta", synthetic("beta", BETA), "scenarios/beta.toml")
    return root


@pytest.fixture(scope="module")
def problem(folder: Path) -> CalibrationProblem:
    return CalibrationProblem.load([folder / "alpha_targets.toml", folder / "beta_targets.toml"])


def test_studies_share_strengths_and_keep_their_baselines(problem: CalibrationProblem) -> None:
    assert problem.multi
    assert [s.name for s in problem.studies] == ["alpha", "beta"]
    assert problem.priors.names == ["p_attend_base", "p_readmit_12m_usual_care@alpha"]
    assert [s.baseline for s in problem.studies] == ["p_readmit_12m_usual_care@alpha", None]  # beta: set
    assert problem.targets.names == ["alpha.control", "alpha.contacts", "beta.contacts", "beta.engaged"]
    assert "p_readmit_12m_usual_care" not in problem.fixed
    assert problem.fixed["rel_strain"] == MECHANISM_PARAMS["rel_strain"].default
    model = problem.model(CalibrationSettings(seed=4))
    assert isinstance(model, StudiesModel)
    params = {"p_attend_base": 0.7, "p_readmit_12m_usual_care@alpha": 0.45}
    alpha, beta = (model.scenario_for(s, params).mechanisms for s in problem.studies)
    assert (alpha.p_attend_base, beta.p_attend_base) == (0.7, 0.7)  # the same draw in both studies
    assert (alpha.p_readmit_12m_usual_care, beta.p_readmit_12m_usual_care) == (0.45, 0.6)
    # Each study's runs are seeded from the evaluation seed and the study's index.
    root = evaluation_seed(4, params, list(model.names))
    scenario = model.scenario_for(problem.studies[1], params)
    expected = run(scenario, replicate_seed(study_seed(root, 1), 0)).metric("mean_contacts")
    assert model.simulate(params)["beta.contacts"] == pytest.approx(expected)
    assert model(params) == model(dict(params))


RECOVERED = {"p_attend_base": TRUTH["p_attend_base"], "p_readmit_12m_usual_care@alpha": 0.42}
"""What the calibration should recover: the shared strength and alpha's own baseline."""


def assert_recovered(outcome: Any, problem: CalibrationProblem) -> None:
    """The truth lies in each posterior 90% interval, and each spread narrowed below 0.8 of the prior's."""
    table = identifiability(outcome.posterior, problem.priors).set_index("parameter")
    for name, true in RECOVERED.items():
        row = table.loc[name]
        assert row["posterior_q05"] <= true <= row["posterior_q95"], (name, true, dict(row))
        assert row["spread_ratio"] < 0.8, (name, dict(row))


def test_multi_study_recovers_known_parameters(problem: CalibrationProblem, tmp_path: Path) -> None:
    # Single-core: reproducible, so this fast variant cannot flake. 17-25 s under a load of 8-10.
    # Seen (seed 1, 24 particles, 2 generations, 104 evaluations, ESS 20 of 24):
    # p_attend_base [0.58, 0.93] ratio 0.55; p_readmit_12m_usual_care@alpha [0.31, 0.53] ratio 0.70.
    settings = CalibrationSettings(population=24, generations=2, replicates=1, seed=1, jobs=1)
    outcome = run_abc(problem, settings, tmp_path / "history.db")
    assert_recovered(outcome, problem)
    posterior = outcome.posterior
    assert posterior.studies == {"alpha": "alpha_trial", "beta": "beta_trial"}
    assert posterior.fingerprint == _digest(fingerprint(problem, settings))
    # Applied to each study's scenario: the shared strength, and that study's own baseline.
    seeds = [replicate_seed(0, i) for i in range(40)]
    on_alpha = {posterior.mechanisms_for(ALPHA, s)["p_readmit_12m_usual_care"] for s in seeds}
    on_beta = {posterior.mechanisms_for(BETA, s)["p_readmit_12m_usual_care"] for s in seeds}
    assert on_alpha <= set(posterior.particles["p_readmit_12m_usual_care@alpha"])
    assert on_beta == {0.6}  # beta's scenario sets it
    other = ALPHA.model_copy(update={"name": "elsewhere"})  # not a study's scenario: its own value
    assert {posterior.mechanisms_for(other, s)["p_readmit_12m_usual_care"] for s in seeds} == {0.51}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # pyabc forks
def test_multi_study_recovers_known_parameters_full(problem: CalibrationProblem, tmp_path: Path) -> None:
    # Seen (seed 2, 60 particles, 4 generations, 2 processes, 659 evaluations, 88 s under a load
    # of 4-8, ESS 49 of 60): p_attend_base [0.62, 0.89] ratio 0.39;
    # p_readmit_12m_usual_care@alpha [0.32, 0.53] ratio 0.55.
    settings = CalibrationSettings(population=60, generations=4, replicates=1, seed=2, jobs=2)
    assert_recovered(run_abc(problem, settings, tmp_path / "history.db"), problem)


def test_single_study_fingerprint_is_what_it_always_was(tmp_path: Path) -> None:
    """Pinned: existing databases (calibration/default/history.db) must keep resuming.

    The keys, their order, and every value's derivation are those of the
    one-study fingerprint before several studies existed; the content digests
    of this fixed problem are literal values computed then. The scenario and
    fixed-strength digests were recomputed once when the scenario gained fields
    and six mechanism strengths (issue 12), since their content changed.
    """
    scenario = parse_scenario(
        'name = "pin"\n[horizon]\nrecruitment_weeks = 8\nfollow_up_weeks = 12\n[[sites]]\nname = "pin_ward"\n'
        'host = "nhs"\ngeography = "urban"\nn_peer_workers = 2\nsupervisor_hours_per_week = 4\n'
        "eligible_admissions_per_week = 3\n",
        source="<pin>",
    )
    data: dict[str, Any] = {
        "name": "pin",
        "priors": {
            "parameters": ["p_attend_base", "p_readmit_12m_usual_care"],
            "bounds": {"p_attend_base": [0.4, 0.9]},
        },
        "targets": [
            {
                "name": "control",
                "metric": "readmission_rate_control",
                "value": 0.5,
                "low": 0.3,
                "high": 0.7,
                "source": "pin",
                "confidence": "A",
            }
        ],
    }
    problem = CalibrationProblem.build(targets_from_dict(data, source="pin.toml"), scenario)
    found = fingerprint(problem, CalibrationSettings(seed=3, replicates=2))
    declared = {name: [spec.low, spec.high] for name, spec in MECHANISM_PARAMS.items()}
    assert found == {
        "format": "1",
        "transition_scaling": str(TRANSITION_SCALING),
        "peersim_version": package_version(),
        "model_source": model_source_digest(),
        "declared_bounds": _digest(declared),
        "scenario": "2a1b9d14942ff064",
        "targets": "ebc1b2bf2a516029",
        "priors": "3f6f041480f7fba3",
        "fixed": "d9fcc8bcc07833ad",
        "seed": "3",
        "replicates": "2",
    }
    assert list(found) == [
        "format", "transition_scaling", "peersim_version", "model_source", "declared_bounds",
        "scenario", "targets", "priors", "fixed", "seed", "replicates",
    ]  # fmt: skip
    # A `scenario` key naming the same scenario changes nothing (the scenario is hashed on its own).
    (tmp_path / "pin.toml").write_text(
        'name = "pin"\n[horizon]\nrecruitment_weeks = 8\nfollow_up_weeks = 12\n[[sites]]\nname = "pin_ward"\n'
        'host = "nhs"\ngeography = "urban"\nn_peer_workers = 2\nsupervisor_hours_per_week = 4\n'
        "eligible_admissions_per_week = 3\n"
    )
    named = targets_from_dict({**data, "scenario": "pin.toml"}, source="pin.toml", folder=tmp_path)
    assert named.fingerprint == "ebc1b2bf2a516029"
    loaded = CalibrationProblem.load(write_study(tmp_path, "pin", data, "pin.toml"))
    assert fingerprint(loaded, CalibrationSettings(seed=3, replicates=2)) == found
    # The default targets: the digest of their validated content, as before.
    default = CalibrationProblem.load()
    dump = default.targets.target_set.spec.model_dump(mode="json")
    dump.pop("scenario")
    digest = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:16]
    assert fingerprint(default, CalibrationSettings())["targets"] == digest


def test_multi_study_fingerprint_covers_every_study(problem: CalibrationProblem, folder: Path) -> None:
    settings = CalibrationSettings(seed=1)
    parts = fingerprint(problem, settings)
    assert parts["studies"] == "alpha,beta"
    assert parts["scenario"] == f"{ALPHA.hash}+{BETA.hash}"
    alpha, beta = (load_targets(folder / f"{s}_targets.toml") for s in ("alpha", "beta"))
    assert parts["targets"] == f"{alpha.fingerprint}+{beta.fingerprint}"
    swapped = CalibrationProblem.load([folder / "beta_targets.toml", folder / "alpha_targets.toml"])
    assert fingerprint(swapped, settings)["studies"] == "beta,alpha"
    only = CalibrationProblem.load(folder / "alpha_targets.toml")  # one file naming its scenario
    assert not only.multi
    assert only.scenario.hash == ALPHA.hash
    assert "studies" not in fingerprint(only, settings)


@pytest.mark.filterwarnings("ignore:.*has no column or fixed value:UserWarning")
def test_a_multi_study_posterior_round_trips_and_single_ones_stay_as_they_were(tmp_path: Path) -> None:
    particles = pd.DataFrame({"p_attend_base": [0.7, 0.8], "p_readmit_12m_usual_care@alpha": [0.4, 0.45]})
    posterior = Posterior(particles, np.array([1.0, 1.0]), studies={"alpha": "alpha_trial"})
    loaded = load_posterior(posterior.save(tmp_path / "p.parquet"))
    assert loaded.studies == {"alpha": "alpha_trial"}
    assert "p_readmit_12m_usual_care" not in loaded.undrawn
    assert loaded.describe(ALPHA)["baseline_of_study"] == "alpha"
    with pytest.raises(PeersimInputError, match="baseline of study 'alpha', which metadata 'studies'"):
        Posterior(particles, np.array([1.0, 1.0]))
    with pytest.raises(PeersimInputError, match="'rel_strain@alpha' is not a mechanism parameter"):
        Posterior(pd.DataFrame({"rel_strain@alpha": [1.0]}), np.array([1.0]), studies={"alpha": "a"})
    single = Posterior(pd.DataFrame({"p_attend_base": [0.7]}), np.array([1.0]))
    single.save(tmp_path / "single.parquet")
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(tmp_path / "single.parquet").metadata[b"peersim.posterior"])
    assert "studies" not in meta  # a one-study posterior file is what it always was


# --- the command line ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad(folder: Path) -> Path:
    """Broken variants of the two studies, next to the good ones."""
    alpha = synthetic("alpha", ALPHA, runs=4)
    beta = synthetic("beta", BETA, runs=4)
    write_study(folder, "missing", {**alpha, "name": "missing"}, "scenarios/absent.toml")
    write_study(folder, "unnamed", {**beta, "name": "unnamed"}, None)
    write_study(folder, "twin", {**beta, "name": "alpha"}, "scenarios/beta.toml")
    (folder / "scenarios" / "clash.toml").write_text(
        BETA_TOML.replace('name = "beta_trial"', 'name = "clash_trial"').replace("beta_ward", "Alpha_Ward")
    )
    write_study(folder, "clash", {**beta, "name": "clash"}, "scenarios/clash.toml")
    (folder / "scenarios" / "same_name.toml").write_text(BETA_TOML.replace("beta_ward", "gamma_ward"))
    write_study(folder, "samename", {**beta, "name": "samename"}, "scenarios/same_name.toml")
    write_study(folder, "spaced", {**beta, "name": "my study"}, "scenarios/beta.toml")
    return folder


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["missing_targets.toml"],
            [
                "missing_targets.toml: scenario: 'scenarios/absent.toml': no such file",
                "targets file's folder",
            ],
        ),
        (
            ["alpha_targets.toml", "missing_targets.toml"],
            ["missing_targets.toml: scenario: 'scenarios/absent.toml': no such file"],
        ),
        (
            ["alpha_targets.toml", "clash_targets.toml"],
            ["clash_targets.toml: scenario: site 'Alpha_Ward'", "also a site of study 'alpha'", "by name"],
        ),
        (
            ["alpha_targets.toml", "twin_targets.toml"],
            ["twin_targets.toml: name: study name 'alpha' is also the name of alpha_targets.toml"],
        ),
        (
            ["alpha_targets.toml", "beta_targets.toml", "samename_targets.toml"],
            [
                "samename_targets.toml: scenario: ",
                "is named 'beta_trial', as is the scenario of study 'beta'",
            ],
        ),
        (
            ["alpha_targets.toml", "unnamed_targets.toml"],
            ["unnamed_targets.toml: scenario: missing; with several targets files each names"],
        ),
        (
            ["alpha_targets.toml", "spaced_targets.toml"],
            ["spaced_targets.toml: name: 'my study' cannot name a study"],
        ),
        (
            ["alpha_targets.toml", "--scenario", "scenarios/beta.toml"],
            [
                "--scenario scenarios/beta.toml: conflicts with the scenario alpha_targets.toml names",
                "scenario = 'scenarios/alpha.toml'",
            ],
        ),
        (
            ["alpha_targets.toml", "beta_targets.toml", "--scenario", "scenarios/beta.toml"],
            ["--scenario scenarios/beta.toml: applies to a single targets file only; with 2 targets files"],
        ),
    ],
    ids=[
        "missing_scenario",
        "missing_scenario_of_two",
        "clashing_sites",
        "same_study_name",
        "same_scenario_name",
        "no_scenario_key",
        "study_name_not_plain",
        "conflicting_scenario_option",
        "scenario_option_with_two",
    ],
)
def test_bad_multi_study_input_exits_2_with_one_message(
    bad: Path, argv: list[str], fragments: list[str]
) -> None:
    code, stdout, stderr = main_in_process(["calibrate", *argv, "--quick", "--out", "never"], bad)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("peersim: error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert stdout == ""
    assert not (bad / "never").exists()


def test_the_same_scenario_by_option_and_key_is_accepted(folder: Path) -> None:
    problem = CalibrationProblem.load(folder / "alpha_targets.toml", folder / "scenarios" / "alpha.toml")
    assert problem.scenario.hash == ALPHA.hash
    assert not problem.multi


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_calibrate_two_studies_end_to_end(folder: Path) -> None:
    argv = ["calibrate", "alpha_targets.toml", "beta_targets.toml", "--out", "both"]
    budget = ["--population", "10", "--generations", "1", "--ppc-draws", "10", "--jobs", "1"]
    code, stdout, stderr = main_in_process([*argv, *budget], folder)
    assert code == 0, stderr
    assert "2 studies, 4 target(s) from alpha_targets.toml + beta_targets.toml" in stderr
    ppc = pd.read_csv(folder / "both" / "ppc.csv")
    assert list(ppc["target"]) == ["alpha.control", "alpha.contacts", "beta.contacts", "beta.engaged"]
    draws = pd.read_parquet(folder / "both" / "ppc_draws.parquet")
    assert {"alpha.control", "beta.engaged"} <= set(draws.columns)
    ident = pd.read_csv(folder / "both" / "identifiability.csv")
    assert list(ident["parameter"]) == ["p_attend_base", "p_readmit_12m_usual_care@alpha"]
    posterior = load_posterior(folder / "both" / "posterior.parquet")
    assert posterior.studies == {"alpha": "alpha_trial", "beta": "beta_trial"}
    assert posterior.meta["study_records"][1]["baseline"] is None
    # `peersim run --posterior` on a study's scenario applies that study's baseline.
    code, stdout, stderr = main_in_process(
        ["run", "scenarios/alpha.toml", "-n", "2", "--posterior", "both/posterior.parquet", "--out", "store"],
        folder,
    )
    assert code == 0, stderr
    assert "drawn from both/posterior.parquet" in stdout
    # `peersim ppc` checks the multi-study posterior against both studies, each on its scenario,
    # and ties the control target to that study's own baseline (an input in disguise).
    check = ["ppc", "alpha_targets.toml", "beta_targets.toml", "--posterior", "both/posterior.parquet"]
    code, stdout, stderr = main_in_process([*check, "--draws", "10", "--json", "--jobs", "1"], folder)
    assert code == 0, stderr
    document = json.loads(stdout)
    assert [t["name"] for t in document["targets"]] == list(ppc["target"])
    assert all({"prior_predictive", "posterior_predictive"} <= set(t) for t in document["targets"])
    baseline = next(p for p in document["parameters"] if p["parameter"] == "p_readmit_12m_usual_care@alpha")
    assert baseline["set_by"] == "alpha.control"


def test_the_worked_example_of_the_docs_binds(tmp_path: Path) -> None:
    """docs/calibration.md's service example: its scenario and targets, with a copy of the defaults."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "calibration.md").read_text(encoding="utf-8")
    example = text[text.index("## Worked example: a service adds") :]
    scenario, targets = (textwrap.dedent(b) for b in re.findall(r"```toml\n(.*?)```", example, re.S)[:2])
    (tmp_path / "my_service.toml").write_text(scenario, encoding="utf-8")
    (tmp_path / "my_service_targets.toml").write_text(targets, encoding="utf-8")
    enrich = (root / "calibration" / "targets.toml").read_text(encoding="utf-8")
    enrich = enrich.replace('name = "enrich_default"', 'name = "enrich"\nscenario = "enrich_trial"', 1)
    (tmp_path / "enrich.toml").write_text(enrich, encoding="utf-8")
    problem = CalibrationProblem.load([tmp_path / "enrich.toml", tmp_path / "my_service_targets.toml"])
    assert problem.priors.names[-2:] == [
        "p_readmit_12m_usual_care@enrich",
        "p_readmit_12m_usual_care@my_service",
    ]
    assert len(problem.priors.names) == len(MECHANISM_PARAMS) + 1  # 12 shared strengths, 2 baselines
    assert "my_service.harbour_engaged" in problem.targets.names
