"""Posterior particles: drawing per replicate, applying to scenarios, files, and the shipped default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from peersim import default_scenario, run
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.scenario_files import parse_scenario
from peersim.core.streams import replicate_seed
from peersim.ensemble.batches import EnsembleJob, MemorySink, run_ensembles
from peersim.errors import PeersimInputError
from peersim.executor import LocalExecutor
from peersim.simulation import Runner
from peersim.stats import weighted_quantiles
from peersim.uncertainty import (
    METADATA_KEY,
    Posterior,
    PosteriorError,
    default_posterior,
    load_posterior,
    posterior_rng,
    resolve_posterior,
)

SMALL = """
name = "small"
[horizon]
recruitment_weeks = 6
follow_up_weeks = 12
{mechanisms}
[[sites]]
name = "town"
host = "nhs"
geography = "urban"
n_peer_workers = 2
supervisor_hours_per_week = 4
eligible_admissions_per_week = 2
"""


def small(mechanisms: str = "") -> object:
    return parse_scenario(SMALL.format(mechanisms=mechanisms), source="<small>")


def two_particles() -> Posterior:
    particles = pd.DataFrame({"p_attend_base": [0.4, 0.9], "rel_dose_readmission": [0.1, 1.2]})
    return Posterior(particles, np.array([1.0, 3.0]), fixed={"rel_strain": 2.0}, source="<test>")


def test_weighted_draws_follow_the_weights() -> None:
    posterior = two_particles()
    rng = np.random.default_rng(0)
    draws = [posterior.draw(rng)["p_attend_base"] for _ in range(4000)]
    share = np.mean(np.array(draws) == 0.9)
    # Weight 3 of 4: expect 0.75; binomial SD at n=4000 is 0.007 (seen 0.75).
    assert abs(share - 0.75) < 0.03, share
    assert posterior.draw(rng)["rel_strain"] == 2.0


def test_the_draw_is_keyed_on_the_replicate_seed() -> None:
    posterior = two_particles()
    scenario = small()
    seeds = [replicate_seed(7, i) for i in range(40)]
    first = [posterior.mechanisms_for(scenario, s)["p_attend_base"] for s in seeds]
    again = [posterior.mechanisms_for(scenario, s)["p_attend_base"] for s in seeds]
    assert first == again
    assert len(set(first)) == 2  # both particles appear over 40 replicates
    # The posterior stream is not a model stream: the drawn scenario's run uses the same
    # participant flow as the point-value run (common random numbers).
    with_draw = run(posterior.apply_to(scenario, seeds[0]), seeds[0])
    without = run(scenario, seeds[0])
    assert with_draw.patients["admit_week"].equals(without.patients["admit_week"])
    assert posterior_rng(seeds[0]).random() != np.random.default_rng(seeds[0]).random()


def test_values_the_scenario_sets_win_over_the_posterior() -> None:
    posterior = two_particles()
    pinned = small("[mechanisms]\np_attend_base = 0.5\n")
    values = posterior.mechanisms_for(pinned, replicate_seed(0, 0))
    assert values["p_attend_base"] == 0.5
    assert values["rel_dose_readmission"] in (0.1, 1.2)
    assert values["rel_strain"] == 2.0
    assert posterior.pinned_by(pinned) == ["p_attend_base"]
    assert posterior.describe(pinned)["pinned_by_scenario"] == ["p_attend_base"]


def test_replicates_without_a_posterior_are_unchanged() -> None:
    scenario = small()
    plain = run(scenario, replicate_seed(3, 1))
    same = Runner().replicate(scenario, 3, 1)
    pd.testing.assert_frame_equal(plain.metrics, same.metrics)
    drawn = Runner(two_particles()).replicate(scenario, 3, 1)
    assert drawn.scenario_hash == scenario.hash
    assert drawn.spawn_key == plain.spawn_key
    by_seed = Runner(two_particles())(scenario, replicate_seed(3, 1))
    pd.testing.assert_frame_equal(by_seed.metrics, drawn.metrics)
    # It is the run of the scenario with replicate 1's draw applied.
    seed = replicate_seed(3, 1)
    direct = run(two_particles().apply_to(scenario, seed), seed)
    pd.testing.assert_frame_equal(direct.metrics, drawn.metrics)


def test_posterior_runner_through_an_ensemble() -> None:
    scenario = small()
    sink = MemorySink()
    with LocalExecutor(1) as executor:
        run_ensembles([EnsembleJob(scenario, sink)], 3, 2, executor, runner=Runner(two_particles()))
    metrics = sink.read("metrics")
    expected = Runner(two_particles()).replicate(scenario, 3, 1).metrics
    got = metrics[metrics["replicate"] == 1][["site", "metric", "value"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[["site", "metric", "value"]])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    posterior = Posterior(
        two_particles().particles,
        np.array([1.0, 3.0]),
        fixed={"rel_strain": 2.0},
        source="<test>",
        meta={"targets": "t", "fingerprint": "abc"},
    )
    path = posterior.save(tmp_path / "post.parquet", scenario_hash="h", seed=4)
    assert [p.name for p in tmp_path.iterdir()] == ["post.parquet"]  # written whole, no temporary left
    loaded = load_posterior(path)
    pd.testing.assert_frame_equal(loaded.particles, posterior.particles)
    np.testing.assert_allclose(loaded.weights, [0.25, 0.75])
    assert loaded.fixed == {"rel_strain": 2.0}
    assert loaded.meta["targets"] == "t"
    table = pd.read_parquet(path)
    assert {"particle", "weight", "scenario_hash", "seed", "version"} <= set(table.columns)


def write_raw(path: Path, frame: pd.DataFrame, meta: dict[str, object] | None = None) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if meta is not None:
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("frame", "meta", "fragment"),
    [
        (
            pd.DataFrame({"weight": [1.0], "rel_unknown": [0.2]}),
            None,
            "column 'rel_unknown' is not a mechanism",
        ),
        (pd.DataFrame({"weight": [1.0], "p_attend_base": [0.1]}), None, "outside the declared 0.3 to 0.95"),
        (pd.DataFrame({"p_attend_base": [0.5]}), None, "column 'weight' is missing"),
        (pd.DataFrame({"weight": [1.0], "notes": ["x"]}), None, "column 'notes' is not a mechanism"),
        (
            pd.DataFrame({"weight": [-1.0], "p_attend_base": [0.5]}),
            None,
            "'weight' must be finite, non-negative",
        ),
        (
            pd.DataFrame({"weight": [1.0], "p_attend_base": [0.5]}),
            {"fixed": {"rel_strain": 9.0}},
            "fixed.rel_strain",
        ),
    ],
)
def test_bad_posterior_files_are_refused(
    tmp_path: Path, frame: pd.DataFrame, meta: dict[str, object] | None, fragment: str
) -> None:
    path = write_raw(tmp_path / "bad.parquet", frame, meta)
    with pytest.raises(PosteriorError) as caught:
        load_posterior(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert fragment in str(caught.value)


def test_not_parquet_and_missing_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.parquet"
    text.write_text("not parquet")
    with pytest.raises(PosteriorError, match="not a readable Parquet posterior"):
        load_posterior(text)
    with pytest.raises(PosteriorError, match="no such file"):
        load_posterior(tmp_path / "absent.parquet")
    with pytest.raises(PeersimInputError, match="contradict"):
        resolve_posterior(text, use_posterior=False)
    assert resolve_posterior(None, use_posterior=False) is None


def test_shipped_default_posterior_covers_the_mechanisms() -> None:
    posterior = default_posterior()
    assert resolve_posterior(None).parameters == posterior.parameters  # type: ignore[union-attr]
    assert set(posterior.parameters) | set(posterior.fixed) == set(MECHANISM_PARAMS)
    assert posterior.meta["targets"] == "enrich_default"
    # Enough distinct particles to carry uncertainty (seen: ESS well above 20).
    assert posterior.effective_sample_size > 20, posterior.effective_sample_size
    posterior.check_against(default_scenario())


def test_weighted_quantiles() -> None:
    values = np.array([0.0, 1.0, 2.0, 3.0])
    assert weighted_quantiles(values, np.ones(4), [0.5])[0] == pytest.approx(1.5)
    assert weighted_quantiles(values, np.array([0.0, 0.0, 0.0, 1.0]), [0.05, 0.95]).tolist() == [3.0, 3.0]
