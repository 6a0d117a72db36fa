"""The run store: resume, refusal of a store written for something else, interrupted writes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_TOML, peersim_command, run_peersim
from peersim import default_scenario, run
from peersim.core.overrides import ScenarioSource, load_source
from peersim.core.results import TABLES
from peersim.core.streams import replicate_seed
from peersim.ensemble.batches import EnsembleJob, MemorySink, run_ensembles
from peersim.ensemble.runstore import RunStore, RunStoreError
from peersim.ensemble.summary import store_summary, summarise
from peersim.executor import LocalExecutor

SEED = 5


def file_hashes(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def sorted_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["replicate", "site", "metric"], kind="stable").reset_index(drop=True)


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    return path


def test_resume_runs_only_missing_replicates_and_matches_a_fresh_run(tiny_file: Path, tmp_path: Path) -> None:
    source = load_source(tiny_file)
    store = RunStore.open_for_writing(tmp_path / "store", source, SEED)
    with LocalExecutor(1) as one:
        (first,) = run_ensembles([EnsembleJob(source.scenario, store)], SEED, 4, one)
        reopened = RunStore.open_for_writing(tmp_path / "store", source, SEED)
        (second,) = run_ensembles([EnsembleJob(source.scenario, reopened)], SEED, 10, one)
        (third,) = run_ensembles([EnsembleJob(source.scenario, reopened)], SEED, 10, one)
        fresh = MemorySink()
        run_ensembles([EnsembleJob(source.scenario, fresh)], SEED, 10, one)
    assert (first.skipped, first.finished) == (0, 4)
    assert (second.skipped, second.finished) == (4, 6)
    assert (third.skipped, third.finished) == (10, 0)
    held = reopened.read("metrics")
    assert held.groupby("replicate").size().nunique() == 1, "a replicate was written twice"
    pd.testing.assert_frame_equal(
        sorted_metrics(held), sorted_metrics(fresh.read("metrics")), check_exact=True
    )
    # The summary streamed from the store equals the in-memory one, to the last bit.
    pd.testing.assert_frame_equal(
        store_summary(reopened, 10), summarise(fresh.read("metrics")), check_exact=True, check_dtype=False
    )
    # Fewer replicates than the store holds: reading is limited to those asked for.
    assert set(reopened.read("metrics", replicates=3)["replicate"]) == {0, 1, 2}


def test_manifest_records_scenario_seed_and_versions(tiny_file: Path, tmp_path: Path) -> None:
    source = load_source(tiny_file, ["north.caseload_cap=5"])
    RunStore.open_for_writing(tmp_path / "store", source, SEED)
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["seed"] == SEED
    assert manifest["scenario"]["text"] == TINY_TOML
    assert manifest["scenario"]["hash"] == source.scenario.hash
    assert manifest["scenario"]["overrides"] == ["north.caseload_cap=5"]
    assert manifest["scenario"]["validated"]["sites"][0]["caseload_cap"] == 5
    assert {"peersim", "numpy", "pandas", "pyarrow", "mesa", "python"} <= set(manifest["versions"])
    assert manifest["created"]


def test_a_store_for_another_scenario_or_seed_is_refused_untouched(tiny_file: Path, tmp_path: Path) -> None:
    source = load_source(tiny_file)
    path = tmp_path / "store"
    store = RunStore.open_for_writing(path, source, SEED)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, 2, one)
    before = file_hashes(path)
    other = load_source(tiny_file, ["south.supervisor_hours_per_week=8"])
    with pytest.raises(RunStoreError, match=r"written for scenario 'tiny' \(hash .*`force=True`"):
        RunStore.open_for_writing(path, other, SEED)
    with pytest.raises(RunStoreError, match=r"written with `seed` 5, not `seed` 6"):
        RunStore.open_for_writing(path, source, SEED + 1)
    assert file_hashes(path) == before
    # --force replaces the store, and only peersim's own files.
    (path / "notes.txt").write_text("mine")
    replaced = RunStore.open_for_writing(path, other, SEED, force=True)
    assert replaced.completed() == set()
    assert (path / "notes.txt").read_text() == "mine"
    assert json.loads((path / "manifest.json").read_text())["scenario"]["hash"] == other.scenario.hash


def test_a_store_written_by_other_model_code_is_refused_untouched(tiny_file: Path, tmp_path: Path) -> None:
    from peersim.io.provenance import model_source_digest

    source = load_source(tiny_file)
    path = tmp_path / "store"
    store = RunStore.open_for_writing(path, source, SEED)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, 2, one)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["model_source"] == model_source_digest()
    # A development checkout edited since the store was written: same version, other source.
    manifest["model_source"] = "0123456789abcdef"
    (path / "manifest.json").write_text(json.dumps(manifest))
    before = file_hashes(path)
    with pytest.raises(RunStoreError, match=r"other model code \(source digest 0123456789abcdef, now "):
        RunStore.open_for_writing(path, source, SEED)
    assert file_hashes(path) == before


def test_a_directory_with_peersim_files_but_no_manifest_is_refused(tiny_file: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.csv").write_text("a user's table")
    with pytest.raises(RunStoreError, match=r"summary\.csv but is not a run store"):
        RunStore.open_for_writing(tmp_path / "out", load_source(tiny_file), SEED)
    assert (tmp_path / "out" / "summary.csv").read_text() == "a user's table"


def test_an_interrupted_batch_is_invisible_and_tidied_away(tiny_file: Path, tmp_path: Path) -> None:
    source = load_source(tiny_file)
    path = tmp_path / "store"
    store = RunStore.open_for_writing(path, source, SEED)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, 4, one, batch=2)
    # What a write cut short leaves: a batch's tables without its metrics file
    # (the commit record, written last), and a temporary file mid-write.
    (path / "timeseries" / "part-000009.parquet").write_bytes(
        (path / "timeseries" / "part-000000.parquet").read_bytes()
    )
    (path / "metrics" / ".part-000009.parquet.123.tmp").write_bytes(b"partial")
    assert store.completed() == {0, 1, 2, 3}
    assert set(store.read("timeseries", columns=["replicate"])["replicate"]) == {0, 1, 2, 3}
    RunStore.open_for_writing(path, source, SEED)
    assert not (path / "timeseries" / "part-000009.parquet").exists()
    assert not (path / "metrics" / ".part-000009.parquet.123.tmp").exists()


def test_reading_a_directory_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match="not a run store"):
        RunStore.open(tmp_path)
    result = run_peersim(["plot", str(tmp_path)], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"peersim: error: {tmp_path}: not a run store"), result.stderr


def test_ctrl_c_leaves_a_consistent_store_that_resumes(tmp_path: Path) -> None:
    replicates = 40
    command = peersim_command(
        "run", "-n", str(replicates), "--seed", str(SEED), "--out", "store", "-j", "2", "--no-posterior"
    )
    env = {**os.environ, "MPLBACKEND": "Agg"}
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    metrics = tmp_path / "store" / "metrics"
    deadline = time.monotonic() + 60
    while not (metrics.is_dir() and any(metrics.glob("part-*.parquet"))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no replicate finished within 60 s"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted" in stderr, stderr
    assert "resume" in stderr, stderr

    store = RunStore.open(tmp_path / "store")
    kept = store.completed()
    assert 0 < len(kept) < replicates, f"interrupt came too late to test anything ({len(kept)} kept)"
    held = store.read("metrics", columns=["replicate"])
    assert set(held["replicate"]) == kept

    again = run_peersim(
        ["run", "-n", str(replicates), "--seed", str(SEED), "--out", "store", "-j", "2", "--no-posterior"],
        tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert f"({len(kept)} resumed from store)" in again.stdout.splitlines()[0]
    store = RunStore.open(tmp_path / "store")
    assert store.completed() == set(range(replicates))
    metrics_table = store.read("metrics")
    assert metrics_table.groupby("replicate").size().nunique() == 1, "a replicate was written twice"
    # Replicates run before and after the interrupt are those of an undisturbed run.
    scenario = default_scenario()
    for index in (min(kept), max(set(range(replicates)) - kept)):
        direct = run(scenario, replicate_seed(SEED, index)).tables()["metrics"]
        mine = metrics_table[metrics_table["replicate"] == index].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine[direct.columns], direct, check_exact=True)


def test_source_for_a_scenario_object_round_trips(tmp_path: Path, tiny_file: Path) -> None:
    # ScenarioSource carries text and overrides into the manifest unchanged.
    source = ScenarioSource(load_source(tiny_file).scenario, TINY_TOML, str(tiny_file))
    store = RunStore.open_for_writing(tmp_path / "s", source, 0)
    assert store.scenario_name == "tiny"
    assert store.site_names == ["north", "south"]
    assert store.tables == TABLES


def test_a_store_never_mixes_posterior_and_point_value_runs(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    source = load_source(tmp_path / "tiny.toml")
    RunStore.open_for_writing(tmp_path / "store", source, 1, posterior="abc123")
    assert RunStore.open_for_writing(tmp_path / "store", source, 1, posterior="abc123").seed == 1
    with pytest.raises(RunStoreError, match="posterior abc123, not none"):
        RunStore.open_for_writing(tmp_path / "store", source, 1, posterior=None)


def test_weekly_bands_leave_out_weeks_that_not_every_replicate_reaches() -> None:
    import numpy as np

    from peersim.ensemble.summary import weekly_bands

    # Three replicates of one site: two last 5 weeks, one 3; replicate 1 has no value in week 2.
    values = {0: [0.1, 0.2, 0.3, 0.4, 0.5], 1: [0.2, np.nan, 0.4, 0.6, 0.8], 2: [0.3, 0.4, 0.5]}
    rows = pd.DataFrame(
        [
            {"site": "a", "metric": "m", "week": week + 1, "value": value, "replicate": replicate}
            for replicate, series in values.items()
            for week, value in enumerate(series)
        ]
    )
    bands = weekly_bands(rows).set_index("week")
    assert bands["replicates"].tolist() == [3] * 5
    assert bands["reached"].tolist() == [3, 3, 3, 2, 2]
    assert bands["n"].tolist() == [3, 2, 3, 2, 2]
    for week in (1, 2, 3):  # every replicate reaches these weeks; a missing value is left out
        present = [series[week - 1] for series in values.values() if not np.isnan(series[week - 1])]
        assert bands.loc[week, "mean"] == pytest.approx(np.mean(present), abs=1e-15)
        assert bands.loc[week, "lo"] == pytest.approx(np.percentile(present, 2.5), abs=1e-15)
    # Weeks 4-5 would average 2 of 3 replicates (0.5 and 0.65) under a count of 3: not given.
    assert bands.loc[[4, 5], ["mean", "lo", "hi"]].isna().all().all()


def test_store_trajectories_describe_every_replicate_and_say_which_weeks_are_left_out(
    tiny_file: Path, tmp_path: Path
) -> None:
    import numpy as np

    from peersim.ensemble.figures import TRAJECTORY_METRICS, partial_weeks_note, trajectories_figure
    from peersim.ensemble.summary import timeseries_bands

    source = load_source(tiny_file)
    store = RunStore.open_for_writing(tmp_path / "store", source, SEED)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, 8, one)
    bands = timeseries_bands(store, list(TRAJECTORY_METRICS))
    raw = store.read("timeseries", columns=["site", "metric", "week", "value", "replicate"])
    raw = raw[raw["metric"].isin(list(TRAJECTORY_METRICS))]
    reached = raw.groupby(["site", "metric", "week"])["replicate"].nunique()
    merged = bands.set_index(["site", "metric", "week"]).join(reached.rename("expected"))
    assert (merged["reached"] == merged["expected"]).all()
    assert (merged["replicates"] == 8).all()
    partial = merged["reached"] < 8
    # The tiny trial's replicates last different numbers of weeks (seen: 34 to 41 for seed 5's 8).
    assert partial.any(), "every replicate lasted as long: this store cannot test the tail"
    assert merged.loc[partial, "mean"].isna().all(), "a mean drawn from fewer replicates than the title says"
    full = merged[~partial]
    means = raw.groupby(["site", "metric", "week"])["value"].mean()
    assert np.allclose(full["mean"], means.loc[full.index], rtol=0, atol=1e-12, equal_nan=True)
    last_complete = int(full.index.get_level_values("week").max())
    note = partial_weeks_note(bands)
    assert note.startswith(f"Weeks {last_complete + 1}-"), note
    assert "fewer than all 8 replicates last that long" in note, note
    figure = trajectories_figure(bands, store.site_names, "8 replicates")
    assert figure.get_supxlabel() == note


def test_streamed_summaries_equal_those_of_the_whole_table_to_the_bit(
    tiny_file: Path, tmp_path: Path
) -> None:
    import numpy as np

    from peersim.ensemble.compare import stacked_differences
    from peersim.ensemble.figures import TRAJECTORY_METRICS
    from peersim.ensemble.summary import outcome_summary, timeseries_bands, weekly_bands
    from peersim.stats import paired_differences

    source = load_source(tiny_file)
    store = RunStore.open_for_writing(tmp_path / "store", source, SEED)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, 7, one, batch=1)
        # Replicates 1 and 4 lost and run again together: part-000001 then holds 1 and 4, so the
        # parts are not in replicate order.
        for table in store.tables:
            for name in ("part-000001.parquet", "part-000004.parquet"):
                (store.path / table / name).unlink()
        store = RunStore.open_for_writing(tmp_path / "store", source, SEED)
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, 7, one, batch=2)
        whatif = MemorySink(tables=("metrics",))
        other = load_source(tiny_file, ["north.supervisor_hours_per_week=8"])
        run_ensembles([EnsembleJob(other.scenario, whatif)], SEED, 6, one)
    assert sorted(p.name for p in (store.path / "metrics").iterdir())[1] == "part-000001.parquet"
    metrics = store.read("metrics")
    pd.testing.assert_frame_equal(store_summary(store), summarise(metrics), check_exact=True)
    pd.testing.assert_frame_equal(
        store_summary(store, 5), summarise(store.read("metrics", replicates=5)), check_exact=True
    )
    outcomes = store.read("outcomes")
    by_arm = []
    for arm, rows in outcomes.groupby("arm", sort=False):
        part = summarise(rows.drop(columns="arm"))
        part.insert(1, "arm", arm)
        by_arm.append(part)
    pd.testing.assert_frame_equal(
        outcome_summary(store), pd.concat(by_arm, ignore_index=True), check_exact=True
    )
    # Paired differences over the 6 pairs the two hold (the store has a 7th replicate).
    expected = paired_differences(metrics, whatif.read("metrics"), "w")
    pd.testing.assert_frame_equal(
        stacked_differences([store, whatif], ["base", "w"]), expected, check_exact=True
    )
    # Weekly bands of a store come from histograms: counts and means as from the rows, band ends
    # within one bin (0.001) of the exact percentiles (seen: up to 0.00095).
    streamed = timeseries_bands(store, list(TRAJECTORY_METRICS)).set_index(["site", "metric", "week"])
    rows = store.read("timeseries")
    exact = weekly_bands(rows[rows["metric"].isin(list(TRAJECTORY_METRICS))], 7)
    exact = exact.set_index(["site", "metric", "week"]).loc[streamed.index]
    for column in ("n", "reached", "replicates"):
        assert (streamed[column] == exact[column]).all(), column
    assert np.allclose(streamed["mean"], exact["mean"], rtol=0, atol=1e-12, equal_nan=True)
    for column in ("lo", "hi"):
        assert (streamed[column].isna() == exact[column].isna()).all(), column
        assert np.nanmax(np.abs(streamed[column] - exact[column])) <= 0.001, column
