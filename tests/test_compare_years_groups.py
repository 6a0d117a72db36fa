"""What-if comparisons per service year and per diagnostic group, on common random numbers.

One comparison is run for the module: the five-year service (``service_sustain_5_years``)
shortened to two years of admissions, against the same service whose funding ends in
week 53, the first week of year 2 (posts that are or fall vacant from then are not
refilled), at the scenarios' point values. It runs twice, into run stores and in memory,
3 paired replicates each on a local pool of 2 processes; the tests check its per-year
and per-group differences against ``peersim.run`` of the same seeds.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import SCENARIOS_DIR
from peersim import run
from peersim.cli.compare import print_breakdowns
from peersim.core.overrides import ScenarioSource
from peersim.core.results import GROUP_METRICS, GROUPS, OVERALL, YEAR_METRICS, RunResult
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import scenario_from_dict
from peersim.core.streams import replicate_seed
from peersim.ensemble.compare import BREAKDOWN_COLUMNS, BREAKDOWN_HIGHER_IS_BETTER
from peersim.ensemble.workflow import CompareOutcome, compare
from peersim.executor import LocalExecutor

SEED = 5
REPLICATES = 3
FUNDING_END = 53
"""Funding ends in the first week of service year 2: year 1 (weeks 1-52) runs as the base does."""
YEAR_ONE_STAFF = (
    "vacant_post_weeks",
    "peer_worker_leavers",
    "ward_staff_leavers",
    "supervision_sessions",
    "ward_acceptance",
    "fidelity_index",
)
"""Year-1 measures of weeks 1-52 themselves (not of the people admitted then, whose support may run into
year 2), which a funding end in week 53 cannot reach."""


def _two_years(funding_end_week: int = 0) -> Scenario:
    with (SCENARIOS_DIR / "service_sustain_5_years.toml").open("rb") as handle:
        data = tomllib.load(handle)
    data["horizon"]["recruitment_weeks"] = 104
    if funding_end_week:
        for site in data["sites"]:
            site["funding_end_week"] = funding_end_week
        data["name"] = "funding_ends"
    return scenario_from_dict(data, source=f"<two years, funding end {funding_end_week}>")


def _source(scenario: Scenario) -> ScenarioSource:
    return ScenarioSource(scenario, scenario.model_dump_json(), f"<{scenario.name}>")


@dataclass
class Runs:
    stored: CompareOutcome
    memory: CompareOutcome
    direct: dict[str, list[RunResult]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base, ends = _two_years(), _two_years(FUNDING_END)
    out = tmp_path_factory.mktemp("compare_years") / "cmp"
    with LocalExecutor(2) as pool:
        stored = compare(
            _source(base), [_source(ends)], SEED, REPLICATES, out=out, executor=pool, labels=["ends"]
        )
        memory = compare(_source(base), [_source(ends)], SEED, REPLICATES, executor=pool, labels=["ends"])
    direct = {
        label: [run(scenario, replicate_seed(SEED, i)) for i in range(REPLICATES)]
        for label, scenario in (("base", base), ("ends", ends))
    }
    return Runs(stored, memory, direct)


def _values(results: list[RunResult], table: str, key: str) -> pd.DataFrame:
    """The overall rows of ``table`` of every replicate: ``KEY, metric`` down, one column per replicate."""
    frames = []
    for i, result in enumerate(results):
        rows = getattr(result, table)
        rows = rows[rows["site"] == OVERALL].set_index([key, "metric"])["value"].rename(i)
        frames.append(rows)
    return pd.concat(frames, axis=1)


def _direct_differences(runs: Runs, table: str, key: str) -> dict[tuple[Any, str], tuple[float, float, int]]:
    """Per key and metric: mean base, mean paired difference (what-if - base) and pairs, from run()."""
    base = _values(runs.direct["base"], table, key)
    whatif = _values(runs.direct["ends"], table, key)
    out = {}
    for index in base.index.intersection(whatif.index):
        a, b = base.loc[index].to_numpy(dtype=float), whatif.loc[index].to_numpy(dtype=float)
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.any():
            out[index] = (float(a[keep].mean()), float(b[keep].mean() - a[keep].mean()), int(keep.sum()))
    return out


def _compared(frame: pd.DataFrame, key: str) -> dict[tuple[Any, str], Any]:
    """Rows with at least one pair (a rate of a year without admissions has none), by key and metric."""
    rows: list[Any] = list(frame.itertuples(index=False))
    return {(getattr(r, key), r.metric): r for r in rows if r.n > 0}


@pytest.mark.parametrize(("table", "key"), [("years", "year"), ("groups", "group")])
def test_differences_equal_those_of_the_runs_themselves(runs: Runs, table: str, key: str) -> None:
    frame = getattr(runs.memory, table)
    assert list(frame.columns) == BREAKDOWN_COLUMNS[table]
    assert set(frame["site"]) == {OVERALL}
    expected = _direct_differences(runs, table, key)
    got = _compared(frame, key)
    assert set(got) == set(expected), set(got) ^ set(expected)
    for index, (base, difference, pairs) in expected.items():
        row = got[index]
        assert row.base == pytest.approx(base, rel=1e-12, abs=1e-12), index
        assert row.difference == pytest.approx(difference, rel=1e-9, abs=1e-12), index
        assert row.n == pairs, index
        assert row.predictive_lo <= row.difference <= row.predictive_hi, index
    # The run stores give the same numbers as memory, to the bit.
    pd.testing.assert_frame_equal(frame, getattr(runs.stored, table))


def test_every_group_and_every_service_year_is_compared(runs: Runs) -> None:
    groups, years = runs.memory.groups, runs.memory.years
    assert groups is not None
    assert years is not None
    for group in GROUPS:
        assert set(groups.loc[groups["group"] == group, "metric"]) == set(GROUP_METRICS), group
    # Two years of admissions and the follow-up year after them, in which no one is admitted.
    assert sorted(set(years["year"])) == [1, 2, 3]
    admitted = years[years["metric"] == "participants"].set_index("year")["base"]
    assert admitted[1] > 0
    assert admitted[2] > 0
    assert admitted[3] == 0
    assert set(years.loc[years["year"] == 1, "metric"]) == set(YEAR_METRICS)


def test_a_funding_end_in_year_two_leaves_year_one_alone_and_empties_posts_after(runs: Runs) -> None:
    years = runs.memory.years
    assert years is not None
    rows = years.set_index(["year", "metric"])
    for metric in YEAR_ONE_STAFF:
        row: Any = rows.loc[(1, metric)]
        assert row["difference"] == 0.0, metric
        assert (row["predictive_lo"], row["predictive_hi"]) == (0.0, 0.0), metric
    # Year 2: posts that fall vacant stay empty. Seen (seed 5, 3 pairs): +112.7 post-weeks (55.0 ->
    # 167.7), predictive interval [+94.6, +137.3], every pair worse (P(harm) 1).
    vacant: Any = rows.loc[(2, "vacant_post_weeks")]
    assert vacant["predictive_lo"] > 0, vacant
    assert vacant["p_harm"] == 1.0
    assert rows.loc[(2, "participants"), "difference"] == 0.0, "who is admitted does not change"


def test_the_json_document_carries_years_and_groups(runs: Runs) -> None:
    document = runs.stored.document
    assert document is not None
    (comparison,) = document["comparisons"]
    assert set(comparison["years"]) == {"1", "2", "3"}
    assert set(comparison["groups"]) == set(GROUPS)
    keys = set(comparison["overall"]["engagement_rate"])
    for table in (comparison["years"], comparison["groups"]):
        for metrics in table.values():
            for metric, values in metrics.items():
                assert set(values) == keys, metric
                assert values["higher_is_better"] == BREAKDOWN_HIGHER_IS_BETTER.get(metric), metric
    assert comparison["years"]["1"]["vacant_post_weeks"]["difference"] == 0.0
    assert comparison["years"]["2"]["vacant_post_weeks"]["higher_is_better"] is False
    written = Path(runs.stored.written[1])
    assert written.name == "compare.json"
    assert written.is_file()


def test_the_text_report_shows_years_only_with_several_years_of_admissions(
    runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    years, groups = runs.memory.years, runs.memory.groups
    assert years is not None
    assert groups is not None
    print_breakdowns(years, groups, "ends")
    text = capsys.readouterr().out
    assert "by service year with admissions" in text
    assert "year 1" in text
    assert "year 2" in text
    assert "year 3" not in text, "the follow-up year admits no one"
    assert all(group in text for group in GROUPS)
    print_breakdowns(years[years["year"] == 1], groups, "ends")
    text = capsys.readouterr().out
    assert "by service year" not in text, "one year of admissions: no by-year table"
    assert "by diagnostic group" in text


def test_compare_scenarios_gives_years_or_groups_when_asked(tiny_scenario: Scenario) -> None:
    from peersim import compare_scenarios
    from peersim.errors import PeersimInputError

    with LocalExecutor(1) as pool:
        groups = compare_scenarios(
            tiny_scenario, {"same": tiny_scenario}, replicates=2, executor=pool, by="group"
        )
    assert list(groups.columns) == BREAKDOWN_COLUMNS["groups"]
    assert set(groups["group"]) == set(GROUPS)
    compared = groups[groups["n"] > 0]
    assert len(compared) > 0
    assert (compared["difference"] == 0.0).all(), "a scenario against itself differs by exactly zero"
    with pytest.raises(PeersimInputError, match="`by` 'week'"):
        compare_scenarios(tiny_scenario, {"same": tiny_scenario}, replicates=2, by="week")  # type: ignore[arg-type]
