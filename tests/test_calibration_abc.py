"""ABC-SMC with pyabc: known-answer recovery, resume, refused databases, model function seeds.

The known-answer test generates synthetic targets from known mechanism values on
a cheap two-site trial, calibrates two parameters with a small budget and
checks that the posterior's 90% intervals cover the truth and are narrower than
the priors. The observed interval of each target is the spread of single runs
at the truth (the uncertainty of one study of that size), so covering is what
a calibrated posterior should do, not a tuned outcome.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import town_and_county
from peersim.calibration.analysis import identifiability
from peersim.calibration.evaluate import CalibrationModel, evaluation_seed, with_mechanisms
from peersim.calibration.inputs import targets_from_dict
from peersim.calibration.smc import (
    CalibrationProblem,
    CalibrationSettings,
    check_resumable,
    fingerprint,
    run_abc,
    stored_fingerprint,
)
from peersim.core.scenario import Scenario
from peersim.core.streams import replicate_seed
from peersim.errors import PeersimInputError
from peersim.simulation import run

CHEAP = town_and_county("cheap", 16, admissions=6, supervision=(6, 3), peer_workers=3)
"""About 190 participants over 16 weeks, 26-week follow-up: one run takes ~0.1 s."""

TRUTH = {"p_readmit_12m_usual_care": 0.42, "p_attend_base": 0.8}
"""Known values, away from the declared defaults (0.51 and 0.6)."""

TARGET_METRICS = {"control": "readmission_rate_control", "contacts": "mean_contacts"}


def synthetic_targets(scenario: Scenario, truth: dict[str, float], runs: int = 24) -> dict[str, Any]:
    """Targets whose point is the mean of ``runs`` runs at ``truth`` and whose interval is ±1.96 SD."""
    at_truth = with_mechanisms(scenario, truth)
    results = [run(at_truth, replicate_seed(2024, i)) for i in range(runs)]
    targets = []
    for name, metric in TARGET_METRICS.items():
        values = np.array([r.metric(metric) for r in results])
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        targets.append(
            {
                "name": name,
                "metric": metric,
                "value": mean,
                "low": mean - 1.96 * sd,
                "high": mean + 1.96 * sd,
                "source": f"synthetic: {runs} runs at {truth}",
                "confidence": "V",
            }
        )
    return {"name": "synthetic", "priors": {"parameters": list(truth)}, "targets": targets}


@pytest.fixture(scope="module")
def synthetic() -> dict[str, Any]:
    return synthetic_targets(CHEAP, TRUTH)


@pytest.fixture(scope="module")
def problem(synthetic: dict[str, Any]) -> CalibrationProblem:
    return CalibrationProblem.build(targets_from_dict(synthetic, source="synthetic.toml"), CHEAP)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # pyabc forks
def test_known_answer_recovery(problem: CalibrationProblem, tmp_path: Path) -> None:
    settings = CalibrationSettings(population=50, generations=3, replicates=1, seed=1, jobs=1)
    outcome = run_abc(problem, settings, tmp_path / "history.db")
    table = identifiability(outcome.posterior, problem.priors).set_index("parameter")
    for name, true in TRUTH.items():
        row = table.loc[name]
        # Seen (seed 1, one process, so exactly reproducible): p_attend_base [0.60, 0.89] ratio 0.47;
        # p_readmit_12m_usual_care [0.35, 0.50] ratio 0.39. With 2 processes pyabc's multicore sampler
        # is not reproducible and the ratio wandered up to 0.80 in a CI run; multicore sampling is
        # covered by the interrupt and progress tests.
        assert row["posterior_q05"] <= true <= row["posterior_q95"], (name, true, dict(row))
        assert row["spread_ratio"] < 0.8, (name, dict(row))
    assert outcome.generations == 3
    assert outcome.posterior.n == 50
    assert outcome.posterior.fixed["rel_strain"] == CHEAP.mechanisms.rel_strain


@pytest.mark.slow
def test_known_answer_recovery_more_parameters(tmp_path: Path) -> None:
    truth = {**TRUTH, "rel_dose_readmission": 0.9}
    raw = synthetic_targets(CHEAP, truth, runs=40)
    raw["targets"].append(
        {
            "name": "intervention",
            "metric": "readmission_rate_intervention",
            **_interval(CHEAP, truth, "readmission_rate_intervention"),
            "source": "synthetic",
            "confidence": "V",
        }
    )
    problem = CalibrationProblem.build(targets_from_dict(raw), CHEAP)
    settings = CalibrationSettings(population=150, generations=5, seed=3, jobs=2)
    outcome = run_abc(problem, settings, tmp_path / "h.db")
    table = identifiability(outcome.posterior, problem.priors).set_index("parameter")
    for name, true in truth.items():
        assert table.loc[name, "posterior_q05"] <= true <= table.loc[name, "posterior_q95"], name


def _interval(scenario: Scenario, truth: dict[str, float], metric: str) -> dict[str, float]:
    at_truth = with_mechanisms(scenario, truth)
    values = np.array([run(at_truth, replicate_seed(7, i)).metric(metric) for i in range(40)])
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    return {"value": mean, "low": mean - 1.96 * sd, "high": mean + 1.96 * sd}


def test_interrupted_calibration_resumes(problem: CalibrationProblem, tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    settings = CalibrationSettings(population=12, generations=1, seed=5, jobs=1)
    first = run_abc(problem, settings, db)
    assert first.generations == 1
    assert first.resumed_from == 0
    before = first.populations.iloc[0].to_dict()
    resumed = run_abc(problem, replace(settings, generations=2), db)
    assert resumed.resumed_from == 1
    assert resumed.generations == 2
    assert resumed.populations.iloc[0].to_dict() == before  # generation 0 is kept, not redone
    assert any("resumed" in note for note in resumed.notes)
    again = run_abc(problem, replace(settings, generations=2), db)
    assert again.generations == 2
    assert any("nothing to add" in note for note in again.notes)


def test_single_core_calibration_is_reproducible(problem: CalibrationProblem, tmp_path: Path) -> None:
    settings = CalibrationSettings(population=12, generations=2, seed=9, jobs=1)
    one = run_abc(problem, settings, tmp_path / "a.db")
    two = run_abc(problem, settings, tmp_path / "b.db")
    np.testing.assert_array_equal(one.posterior.particles.to_numpy(), two.posterior.particles.to_numpy())
    np.testing.assert_array_equal(one.posterior.weights, two.posterior.weights)


def test_a_database_of_another_calibration_is_refused(
    problem: CalibrationProblem, synthetic: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    settings = CalibrationSettings(population=10, generations=1, seed=5, jobs=1)
    run_abc(problem, settings, db)
    changed = {**synthetic, "targets": [{**synthetic["targets"][0], "weight": 2.0}, synthetic["targets"][1]]}
    other = CalibrationProblem.build(targets_from_dict(changed), CHEAP)
    with pytest.raises(PeersimInputError) as caught:
        run_abc(other, settings, db)
    message = str(caught.value)
    assert message.startswith(f"`db` {db}: made for a different calibration: targets (")
    assert "`force=True`" in message
    with pytest.raises(PeersimInputError, match=r"`seed` \(5 in the database, 6 now\)"):
        check_resumable(db, fingerprint(problem, replace(settings, seed=6)))
    # force=True starts over with the new targets.
    fresh = run_abc(other, settings, db, force=True)
    assert fresh.resumed_from == 0
    assert stored_fingerprint(db)[0] == fingerprint(other, settings)


def test_a_database_from_another_model_version_is_refused(
    problem: CalibrationProblem, tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    settings = CalibrationSettings(population=10, generations=1, seed=5, jobs=1)
    run_abc(problem, settings, db)
    stored, _ = stored_fingerprint(db)
    with sqlite3.connect(db) as connection:  # what a database made by an older model holds
        old = {**stored, "model_source": "0123456789abcdef"}
        connection.execute("UPDATE abc_smc SET json_parameters = ?", (str({"peersim_fingerprint": old}),))
    with pytest.raises(PeersimInputError, match=r"model version \(source code of peersim.model\)"):
        run_abc(problem, settings, db)


def test_a_file_that_is_not_a_calibration_database_is_refused(
    problem: CalibrationProblem, tmp_path: Path
) -> None:
    db = tmp_path / "notes.db"
    db.write_text("my notes")
    with pytest.raises(PeersimInputError, match="not a pyabc calibration database"):
        run_abc(problem, CalibrationSettings(population=10, generations=1, jobs=1), db)
    assert db.read_text() == "my notes"


def test_model_function_is_a_pure_function_of_parameters_and_seed(problem: CalibrationProblem) -> None:
    model = problem.model(CalibrationSettings(seed=4, replicates=2))
    params = {"p_readmit_12m_usual_care": 0.5, "p_attend_base": 0.7}
    assert model(params) == model(dict(params))
    other_seed = CalibrationModel(model.scenario, model.targets, model.names, seed=5, replicates=2)
    assert other_seed.simulate(params) != model.simulate(params)
    nudged = {**params, "p_attend_base": 0.7000000001}
    assert evaluation_seed(4, params, list(model.names)) != evaluation_seed(4, nudged, list(model.names))
    # Replicates are averaged: the statistic is the mean of the replicate runs.
    scenario = with_mechanisms(problem.scenario, params)
    root = evaluation_seed(4, params, list(model.names))
    runs = [run(scenario, replicate_seed(root, r)).metric("mean_contacts") for r in range(2)]
    assert model.simulate(params)["contacts"] == pytest.approx(np.mean(runs))


def test_settings_are_checked() -> None:
    with pytest.raises(PeersimInputError, match="`population` must be at least 10"):
        CalibrationSettings(population=3)
    with pytest.raises(PeersimInputError, match='`scheduler` needs `executor="dask"`'):
        CalibrationSettings(scheduler="tcp://127.0.0.1:8786")


def test_dask_sampler_on_a_local_cluster(problem: CalibrationProblem, tmp_path: Path) -> None:
    # pyabc's DaskDistributedSampler on the LocalCluster peersim.executor.DaskExecutor starts
    # (127.0.0.1, 2 single-threaded workers), batches of population / (2 x workers) samples.
    settings = CalibrationSettings(population=20, generations=2, seed=3, jobs=2, executor="dask")
    outcome = run_abc(problem, settings, tmp_path / "history.db")
    assert outcome.generations == 2
    assert outcome.posterior.n == 20
    assert (outcome.populations["samples"] >= 20).all()
    # The model function is a pure function of (parameters, seed) wherever it runs:
    # re-simulating particles here gives the statistics a Dask worker computed for them.
    import pyabc  # heavy (about 1 s): not paid when the tests are only collected

    history = pyabc.History(f"sqlite:///{tmp_path / 'history.db'}", create=False)
    model = problem.model(settings)
    for particle in history.get_population(t=1).particles[:3]:
        stored = {key: float(value) for key, value in particle.sum_stat.items()}
        assert model(dict(particle.parameter)) == pytest.approx(stored, rel=1e-12)
