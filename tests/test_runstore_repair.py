"""Run stores that cannot be written, are damaged, or hold more than was asked.

Output locations are checked before any simulation; a full disk while parts
are added keeps what was committed and says how to resume; a damaged part is
named by every reader, and ``repair=True`` drops its batch and runs it again,
giving the tables of an undamaged store; summaries describe the whole store.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_TOML, peersim_command, run_peersim
from peersim.core.overrides import ScenarioSource, load_source
from peersim.core.results import TABLES
from peersim.ensemble.batches import BatchTask, EnsembleJob, run_batch, run_ensembles
from peersim.ensemble.report import write_plots
from peersim.ensemble.runstore import DamagedStoreError, RunStore, RunStoreError
from peersim.ensemble.summary import store_summary
from peersim.ensemble.workflow import compare, run_ensemble
from peersim.errors import PeersimInputError, StoreNotWritten
from peersim.executor import Backend, LocalExecutor
from peersim.io.files import OutputDirectory

SEED = 3
REPLICATES = 6


def file_hashes(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def tables_of(store: RunStore) -> dict[str, pd.DataFrame]:
    """Every table of a store, in replicate order (as the store returns it)."""
    return {table: store.read(table) for table in store.tables}


def truncate(file: Path) -> None:
    """Cut a file to half its length, as an interrupted copy would."""
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("peersim: error: "), lines[0]
    return lines[0]


@pytest.fixture
def source(tmp_path: Path) -> ScenarioSource:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    return load_source(path)


def fill(path: Path, source: ScenarioSource, replicates: int = REPLICATES, batch: int = 2) -> RunStore:
    store = RunStore.open_for_writing(path, source, SEED)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(source.scenario, store)], SEED, replicates, one, batch=batch)
    return store


# -- output locations ------------------------------------------------------------------------


def test_an_out_under_a_file_or_in_proc_is_refused_before_anything_is_written(
    source: ScenarioSource, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("a user's notes\n")
    with pytest.raises(PeersimInputError, match=r"`out` .*afile/x: is under .*afile, which is a file"):
        RunStore.open_for_writing(tmp_path / "afile" / "x", source, SEED)
    with pytest.raises(PeersimInputError, match=r"`out` /proc/peersim-x: cannot be created or written"):
        RunStore.open_for_writing(Path("/proc/peersim-x"), source, SEED)
    assert (tmp_path / "afile").read_text() == "a user's notes\n"


def test_a_folder_of_unrelated_files_is_refused_unless_forced(source: ScenarioSource, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in ("base.toml", "whatif.toml"):
        (folder / name).write_text(TINY_TOML)
    before = file_hashes(folder)
    with pytest.raises(
        RunStoreError, match=r"holds files that are not a run store \(base\.toml, whatif\.toml\)"
    ):
        RunStore.open_for_writing(folder, source, SEED)
    assert file_hashes(folder) == before, "a refused store changed the folder"
    # An empty folder, or one holding only hidden files, is fine.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"")
    RunStore.open_for_writing(tmp_path / "empty", source, SEED)
    # With force the store is written among the files, which stay as they were.
    RunStore.open_for_writing(folder, source, SEED, force=True)
    assert (folder / "manifest.json").is_file()
    assert {k: v for k, v in file_hashes(folder).items() if k in before} == before


def test_the_cli_refuses_bad_out_locations_in_one_line(source: ScenarioSource, tmp_path: Path) -> None:
    store = fill(tmp_path / "store", source)
    (tmp_path / "afile").write_text("notes\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "base.toml").write_text(TINY_TOML)
    tiny = str(tmp_path / "tiny.toml")
    cases = {
        "run_under_file": ["run", tiny, "-n", "2", "-j", "1", "--no-posterior", "-o", "afile/x"],
        "run_in_proc": ["run", tiny, "-n", "2", "-j", "1", "--no-posterior", "-o", "/proc/x"],
        "run_into_scenarios": ["run", tiny, "-n", "2", "-j", "1", "--no-posterior", "-o", "scenarios"],
        "plot_into_scenarios": ["plot", str(store.path), "-o", "scenarios"],
        "plot_under_file": ["plot", str(store.path), "-o", "afile/figs"],
    }
    with ThreadPoolExecutor(3) as pool:
        results = dict(zip(cases, pool.map(lambda a: run_peersim(a, tmp_path), cases.values()), strict=True))
    assert "--out afile/x: is under afile, which is a file" in one_line_error(results["run_under_file"])
    assert "--out /proc/x: cannot be created or written" in one_line_error(results["run_in_proc"])
    for case in ("run_into_scenarios", "plot_into_scenarios"):
        line = one_line_error(results[case])
        assert "(base.toml)" in line, line
        assert "--force" in line, line
    assert "which is a file" in one_line_error(results["plot_under_file"])
    assert sorted(p.name for p in folder.iterdir()) == ["base.toml"], "a refused command wrote files"
    assert (tmp_path / "afile").read_text() == "notes\n"


def test_plot_elsewhere_is_written_with_force_among_other_files(
    source: ScenarioSource, tmp_path: Path
) -> None:
    store = fill(tmp_path / "store", source, replicates=3)
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "mine.png").write_bytes(b"a user's figure")
    with pytest.raises(PeersimInputError, match=r"holds files that are not peersim's outputs \(mine\.png\)"):
        write_plots(store, OutputDirectory(figures))
    written = write_plots(store, OutputDirectory(figures, force=True))
    assert sorted(p.name for p in written) == ["outcomes.png", "trajectories.png"]
    assert (figures / "mine.png").read_bytes() == b"a user's figure"


# -- a disk that refuses writes -------------------------------------------------------------


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Make the system refuse to write a file beyond ``limit`` bytes (EFBIG), as a full disk does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_refused_write_keeps_the_store_consistent_and_resumable(
    source: ScenarioSource, tmp_path: Path
) -> None:
    scenario = source.scenario
    small = run_batch(BatchTask(0, scenario, SEED, (0,)))
    large = run_batch(BatchTask(0, scenario, SEED, tuple(range(1, 9))))
    small_max = max(len(data) for data in small.tables.values())
    large_max = max(len(data) for data in large.tables.values())
    # Seen: about 10 kB for one replicate's largest part, 20 kB for eight.
    assert large_max > small_max + 2000, (small_max, large_max)
    limit = (small_max + large_max) // 2
    store = RunStore.open_for_writing(tmp_path / "store", source, SEED)
    with file_size_limit(limit):
        store.add(small)
        with pytest.raises(StoreNotWritten) as raised:
            store.add(large)
    message = str(raised.value)
    assert raised.value.replicates == 1
    assert "the store keeps 1 replicate(s)" in message, message
    assert "File too large" in message, message
    assert "run the same command again to resume" in message, message
    # Nothing of the refused batch is left, and readers see the one committed replicate.
    assert sorted(p.name for p in (store.path / "timeseries").iterdir()) == ["part-000000.parquet"]
    assert RunStore.open(store.path).completed() == {0}
    # Running again resumes: the tables equal those of a store that was never refused.
    resumed = RunStore.open_for_writing(store.path, source, SEED)
    with LocalExecutor(1) as one:
        (report,) = run_ensembles([EnsembleJob(scenario, resumed)], SEED, 9, one)
    assert (report.skipped, report.finished) == (1, 8)
    clean = fill(tmp_path / "clean", source, replicates=9)
    for table, frame in tables_of(clean).items():
        pd.testing.assert_frame_equal(resumed.read(table), frame, check_exact=True, obj=table)


def test_the_cli_exits_4_naming_what_the_store_keeps_when_the_disk_refuses(
    source: ScenarioSource, tmp_path: Path
) -> None:
    scenario = source.scenario
    one = max(len(d) for d in run_batch(BatchTask(0, scenario, SEED, (0,))).tables.values())
    # `run -n 11 -j 1` on a store of 1 runs batches of 3 (replicates 1-3 first).
    three = max(len(d) for d in run_batch(BatchTask(0, scenario, SEED, (1, 2, 3))).tables.values())
    # The limit must fall between the two sizes; seen: about 12.8 kB and 13.5 kB (patients, the
    # largest table since it gained group, referral and allocation columns).
    assert three > one + 400, (one, three)
    limit = (one + three) // 2
    tiny = str(tmp_path / "tiny.toml")
    args = ["run", tiny, "-n", "1", "-j", "1", "--no-posterior", "-o", "store", "-s", str(SEED)]
    assert run_peersim(args, tmp_path).returncode == 0

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    args[3] = "11"
    env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "200"}
    result = subprocess.run(
        peersim_command(*args), cwd=tmp_path, capture_output=True, text=True, env=env, preexec_fn=limited,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("peersim: error: --out store: new replicates could not be written"), line
    assert "the store keeps 1 replicate(s)" in line, line
    assert "run the same command again to resume" in line, line
    assert RunStore.open(tmp_path / "store").completed() == {0}


# -- damaged parts and repair ---------------------------------------------------------------


def test_a_truncated_part_is_named_by_every_reader(source: ScenarioSource, tmp_path: Path) -> None:
    store = fill(tmp_path / "store", source)
    truncate(store.path / "timeseries" / "part-000002.parquet")
    named = r"part timeseries/part-000002\.parquet is unreadable"
    with pytest.raises(DamagedStoreError, match=named + r" \(truncated or overwritten\?\); run again with "
                       r"`repair=True` to drop the damaged batch\(es\)") as raised:  # fmt: skip
        RunStore.open_for_writing(store.path, source, SEED)
    assert raised.value.parts == ["timeseries/part-000002.parquet"]
    reader = RunStore.open(store.path)
    with pytest.raises(DamagedStoreError, match=named + r" \(Parquet magic bytes not found in footer\)"):
        reader.read("timeseries")
    with pytest.raises(
        DamagedStoreError, match=r"running the command that wrote it again with `repair=True`"
    ):
        write_plots(reader, OutputDirectory(store.path))
    # A second damaged part, in metrics (the commit record): both are named, by the reader of either.
    truncate(store.path / "metrics" / "part-000004.parquet")
    with pytest.raises(
        DamagedStoreError, match=r"2 parts \(metrics/part-000004\.parquet, timeseries/part-000002"
    ):
        RunStore.open(store.path).completed()
    with pytest.raises(
        DamagedStoreError, match=r"2 parts \(metrics/part-000004\.parquet, timeseries/part-000002"
    ):
        RunStore.open_for_writing(store.path, source, SEED)


def test_repair_drops_damaged_batches_and_reruns_them_bit_identically(
    source: ScenarioSource, tmp_path: Path
) -> None:
    clean = fill(tmp_path / "clean", source)
    damaged = fill(tmp_path / "damaged", source)
    truncate(damaged.path / "timeseries" / "part-000002.parquet")
    truncate(damaged.path / "metrics" / "part-000004.parquet")
    (damaged.path / "failures").mkdir()
    (damaged.path / "failures" / "replicate-000009.json").write_text('{"replic')  # a damaged record too
    with pytest.warns(UserWarning, match=r"dropped 2 damaged batch\(es\).*their replicates run again"):
        repaired = RunStore.open_for_writing(damaged.path, source, SEED, repair=True)
    # The batches of both parts are gone from every table, so the store is consistent.
    assert repaired.completed() == {0, 1}
    for table in TABLES:
        assert sorted(p.name for p in (damaged.path / table).glob("part-*")) == ["part-000000.parquet"], table
    assert repaired.failures() == []
    with LocalExecutor(1) as one:
        (report,) = run_ensembles([EnsembleJob(source.scenario, repaired)], SEED, REPLICATES, one)
    assert (report.skipped, report.finished) == (2, 4)
    for table, frame in tables_of(clean).items():
        pd.testing.assert_frame_equal(repaired.read(table), frame, check_exact=True, obj=table)
    pd.testing.assert_frame_equal(store_summary(repaired), store_summary(clean), check_exact=True)


def test_the_cli_names_a_damaged_part_and_repairs_it(source: ScenarioSource, tmp_path: Path) -> None:
    # The store `peersim run TINY -n 6 --no-posterior -o clean` writes (without paying for a subprocess).
    run_ensemble(source, SEED, REPLICATES, out=tmp_path / "clean", executor=Backend(jobs=1))
    shutil.copytree(tmp_path / "clean", tmp_path / "store")
    tiny = str(tmp_path / "tiny.toml")
    args = ["run", tiny, "-n", str(REPLICATES), "-j", "1", "--no-posterior", "-s", str(SEED)]
    part = sorted((tmp_path / "store" / "timeseries").glob("part-*.parquet"))[1]
    truncate(part)
    refused = run_peersim([*args, "-o", "store"], tmp_path)
    line = one_line_error(refused)
    assert f"part timeseries/{part.name} is unreadable" in line, line
    assert "run again with --repair" in line, line
    plot = one_line_error(run_peersim(["plot", "store"], tmp_path))
    assert f"part timeseries/{part.name} is unreadable" in plot, plot
    assert "again with --repair" in plot, plot
    repaired = run_peersim([*args, "-o", "store", "--repair"], tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert "peersim: warning: --out store: dropped 1 damaged batch(es)" in repaired.stderr, repaired.stderr
    assert (tmp_path / "store" / "summary.csv").read_bytes() == (
        tmp_path / "clean" / "summary.csv"
    ).read_bytes()
    for table in TABLES:
        pd.testing.assert_frame_equal(
            RunStore.open(tmp_path / "store").read(table), RunStore.open(tmp_path / "clean").read(table),
            check_exact=True, obj=table,
        )  # fmt: skip


# -- summaries of the whole store -----------------------------------------------------------


def test_summaries_describe_every_replicate_the_store_holds(source: ScenarioSource, tmp_path: Path) -> None:
    out = tmp_path / "store"
    eight = run_ensemble(source, SEED, 8, out=out, executor=Backend(jobs=1))
    before = file_hashes(out)
    four = run_ensemble(source, SEED, 4, out=out, executor=Backend(jobs=1))
    assert (four.report.skipped, four.report.finished, four.held) == (4, 0, 8)
    assert four.counts() == f"store {out} holds 8 replicate(s); 4 asked, none new"
    assert four.summary is not None
    assert eight.summary is not None
    pd.testing.assert_frame_equal(four.summary, eight.summary, check_exact=True)
    assert four.document()["replicates"] == 8
    after = file_hashes(out)
    for name in ("summary.csv", "summary.json"):
        assert after[name] == before[name], f"{name} was rewritten for fewer replicates than the store holds"
    assert json.loads((out / "summary.json").read_text())["replicates"] == 8
    # Asking for more resumes, and the summary grows with the store.
    ten = run_ensemble(source, SEED, 10, out=out, executor=Backend(jobs=1))
    assert (ten.report.skipped, ten.report.finished, ten.held) == (8, 2, 10)
    assert ten.counts() == f"8 resumed from {out}"
    assert json.loads((out / "summary.json").read_text())["replicates"] == 10


def test_the_cli_says_the_store_holds_more_than_asked(source: ScenarioSource, tmp_path: Path) -> None:
    run_ensemble(source, SEED, 8, out=tmp_path / "store", executor=Backend(jobs=1))
    tiny = str(tmp_path / "tiny.toml")
    result = run_peersim(["run", tiny, "-n", "4", "-s", str(SEED), "--no-posterior", "-o", "store"], tmp_path)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert "8 replicate(s), seed 3 (store store holds 8 replicate(s); 4 asked, none new)" in first, first
    assert "run store: store (8 replicate(s))" in result.stdout


def test_a_comparison_describes_every_pair_its_stores_hold(source: ScenarioSource, tmp_path: Path) -> None:
    whatif = load_source(Path(source.source), ["north.supervisor_hours_per_week=8"])
    out = tmp_path / "cmp"
    three = compare(source, [whatif], SEED, 3, out=out, executor=Backend(jobs=1))
    two = compare(source, [whatif], SEED, 2, out=out, executor=Backend(jobs=1))
    assert two.document is not None
    assert two.document["replicates"] == 3
    assert three.differences is not None
    assert two.differences is not None
    pd.testing.assert_frame_equal(two.differences, three.differences, check_exact=True)
    assert two.differences["n"].max() == 3, two.differences["n"].describe()
