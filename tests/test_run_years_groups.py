"""``peersim run`` by service year and by diagnostic group: JSON, tables, figure, streamed summaries.

A two-site scenario with 100 weeks of admissions has three service years of
delivery: two with admissions (weeks 1-52 and 53-100) and one without, while
the last participants' support windows close (its rates are missing, so its
JSON values are ``null``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_TOML, main_in_process, tiny_data, tiny_site
from peersim import default_scenario, run_replicates
from peersim.core.overrides import ScenarioSource, load_source
from peersim.core.results import GROUPS, OVERALL, RunResult
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import parse_scenario, scenario_from_dict
from peersim.ensemble.batches import EnsembleJob, MemorySink, run_ensembles
from peersim.ensemble.figures import years_figure
from peersim.ensemble.runstore import RunStore
from peersim.ensemble.summary import (
    MAIN_YEAR_METRICS,
    TABLE_KEYS,
    admission_years,
    store_summary,
    summarise,
    summarise_table,
)
from peersim.ensemble.workflow import run_ensemble
from peersim.executor import Backend, LocalExecutor

SEED = 3
REPLICATES = 3
MULTI_YEAR_TOML = TINY_TOML.replace("recruitment_weeks = 8\n", "recruitment_weeks = 100\n")
"""The tiny two-site trial with admissions over 100 weeks: service years 1 and 2 have admissions, 3 not."""


def multi_year_data() -> dict[str, Any]:
    """Plain data of a small two-site service over 100 weeks of admissions."""
    sites = [tiny_site("north", caseload_cap=4), tiny_site("south", eligible_admissions_per_week=0.8)]
    return tiny_data(mode="service", horizon={"recruitment_weeks": 100, "follow_up_weeks": 26}, sites=sites)


@pytest.fixture(scope="module")
def multi_year() -> Scenario:
    return scenario_from_dict(multi_year_data(), source="<multi-year>")


@pytest.fixture(scope="module")
def results(multi_year: Scenario) -> list[RunResult]:
    return list(run_replicates(multi_year, SEED, REPLICATES))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("years")
    (cwd / "multi.toml").write_text(MULTI_YEAR_TOML, encoding="utf-8")
    (cwd / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    return cwd


def peersim(argv: list[str], cwd: Path) -> str:
    """Run the console entry in this process; return stdout after checking it succeeded."""
    code, stdout, stderr = main_in_process(argv, cwd)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    return stdout


def same(value: float | None, expected: float) -> bool:
    """Whether a JSON value is exactly ``expected`` (``None`` for a missing one)."""
    return value is None if math.isnan(expected) else value == expected


# -- summaries ------------------------------------------------------------------------------------


def test_year_and_group_summaries_have_the_documented_columns(results: list[RunResult]) -> None:
    years = summarise_table(results, "years")
    groups = summarise_table(results, "groups")
    assert list(years.columns) == ["year", "site", "metric", "mean", "lo", "hi", "n"]
    assert list(groups.columns) == ["group", "site", "metric", "mean", "lo", "hi", "n"]
    assert set(groups["group"]) == set(GROUPS)
    assert set(years["site"]) == {"north", "south", OVERALL}
    # Three years; admissions only in the first two (weeks 1-100), so year 3's rates have no value.
    assert sorted(set(years["year"])) == [1, 2, 3]
    assert admission_years(years) == [1, 2]
    year3 = years[(years["year"] == 3) & (years["site"] == OVERALL)].set_index("metric")
    assert year3.loc["participants", "mean"] == 0
    assert year3.loc["engagement_rate", "n"] == 0, year3.loc["engagement_rate"]
    finite = years[years["n"] > 0]
    assert ((finite["lo"] <= finite["mean"]) & (finite["mean"] <= finite["hi"])).all()


def test_streamed_year_and_group_summaries_equal_the_in_memory_ones_to_the_bit(
    multi_year: Scenario, results: list[RunResult], tmp_path: Path
) -> None:
    source = ScenarioSource(multi_year, multi_year.model_dump_json(), "<multi-year>")
    store = RunStore.open_for_writing(tmp_path / "store", source, SEED)
    memory = MemorySink(tables=("years", "groups"))
    with LocalExecutor(1) as one:
        # One replicate a batch, so the store is streamed over several parts.
        run_ensembles([EnsembleJob(multi_year, store)], SEED, REPLICATES, one, batch=1)
        run_ensembles([EnsembleJob(multi_year, memory)], SEED, REPLICATES, one)
    assert len(list(store.parts("years"))) == REPLICATES
    for table in ("years", "groups"):
        direct = summarise_table(results, table)
        pd.testing.assert_frame_equal(store_summary(store, table=table), direct, check_exact=True, obj=table)
        held = summarise(memory.read(table), TABLE_KEYS[table])
        pd.testing.assert_frame_equal(held, direct, check_exact=True, obj=table)
    # Fewer replicates than the store holds: the summary of those alone.
    pd.testing.assert_frame_equal(
        store_summary(store, 2, table="years"), summarise_table(results[:2], "years"), check_exact=True
    )


# -- peersim run ----------------------------------------------------------------------------------


def test_run_json_reports_years_and_groups_overall_as_a_direct_summary_does(workdir: Path) -> None:
    stdout = peersim(
        ["run", "multi.toml", "-n", str(REPLICATES), "-s", str(SEED), "--no-posterior", "--json", "-j", "1"],
        workdir,
    )
    document = json.loads(stdout)
    assert {"scenario", "seed", "replicates", "overall", "sites", "posterior"} <= set(document)
    runs = list(run_replicates(parse_scenario(MULTI_YEAR_TOML, source="<multi>"), SEED, REPLICATES))
    for table, key, names in (("years", "year", ["1", "2", "3"]), ("groups", "group", list(GROUPS))):
        shaped = document[table]
        assert list(shaped) == names, (table, list(shaped))
        summary = summarise_table(runs, table)
        overall = summary[summary["site"] == OVERALL]
        assert len(overall) == sum(len(metrics) for metrics in shaped.values())
        for row in overall.itertuples(index=False):
            entry = shaped[str(getattr(row, key))][row.metric]
            assert set(entry) == {"mean", "lo", "hi"}
            for field in ("mean", "lo", "hi"):
                assert same(entry[field], getattr(row, field)), (table, row, entry)
    # Year 3 has no admissions: its rates are null (the document is still strict JSON).
    assert document["years"]["3"]["engagement_rate"] == {"mean": None, "lo": None, "hi": None}
    assert document["years"]["3"]["participants"]["mean"] == 0


def test_run_text_shows_the_years_with_admissions_and_the_groups(workdir: Path) -> None:
    stdout = peersim(["run", "multi.toml", "-n", "2", "--no-posterior", "-j", "1"], workdir)
    by_year = stdout[stdout.index("By service year") : stdout.index("By diagnostic group")]
    assert "year 1" in by_year, by_year
    assert "year 2" in by_year, by_year
    assert "year 3" not in by_year, "a year without admissions was shown"
    for metric in MAIN_YEAR_METRICS:
        assert metric in by_year, metric
    by_group = stdout[stdout.index("By diagnostic group") :]
    for name in (*GROUPS, "engagement_rate", "readmission_rate_control", "readmission_rate_intervention"):
        assert name in by_group, name

    # Eight weeks of admissions: one service year, so no by-year table; the groups are still there.
    single = peersim(["run", "tiny.toml", "-n", "2", "--no-posterior", "-j", "1"], workdir)
    assert "By service year" not in single
    assert "By diagnostic group" in single


def test_years_figure_is_written_for_several_years_of_admissions_only(workdir: Path, tmp_path: Path) -> None:
    stdout = peersim(
        ["run", "multi.toml", "-n", "2", "--no-posterior", "-j", "1", "--out", str(tmp_path / "multi")],
        workdir,
    )
    assert (tmp_path / "multi" / "years.png").stat().st_size > 0
    assert "years.png" in stdout.splitlines()[-1], stdout.splitlines()[-1]
    summary = json.loads((tmp_path / "multi" / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["years"]) == ["1", "2", "3"]
    assert list(summary["groups"]) == list(GROUPS)

    # The 40-week default has admissions in year 1 only (its support windows reach into year 2).
    assert default_scenario().horizon.recruitment_weeks <= 52
    outcome = run_ensemble(load_source(None), SEED, 1, out=tmp_path / "default", executor=Backend(jobs=1))
    assert outcome.years is not None
    assert admission_years(outcome.years) == [1]
    assert sorted(set(outcome.years["year"])) == [1, 2]
    assert not (tmp_path / "default" / "years.png").exists()
    assert {path.name for path in outcome.written} == {"summary.csv", "summary.json", "summary.png"}


def test_years_figure_draws_every_metric_over_the_years_given(results: list[RunResult]) -> None:
    years = summarise_table(results, "years")
    drawn = years[years["year"].isin(admission_years(years))]
    figure = years_figure(drawn, ["north", "south"])
    axes = figure.axes
    assert len(axes) == len(MAIN_YEAR_METRICS)
    for ax, metric in zip(axes, MAIN_YEAR_METRICS, strict=True):
        lines = ax.get_lines()
        assert len(lines) == 3, (metric, len(lines))  # two sites and overall
        overall = drawn[(drawn["metric"] == metric) & (drawn["site"] == OVERALL)].sort_values("year")
        assert np.asarray(lines[-1].get_xdata()).tolist() == [1, 2], metric
        assert np.asarray(lines[-1].get_ydata()).tolist() == overall["mean"].tolist(), metric
        assert ax.collections, f"{metric}: no band drawn"
