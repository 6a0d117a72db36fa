"""Mesa's own tools see the outcomes: the DataCollector, ``mesa.batch_run`` and SolaraViz's Reset."""

from __future__ import annotations

import inspect
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import pytest

from peersim import run
from peersim.core.overrides import load_source
from peersim.core.results import RunResult
from peersim.core.scenario import Scenario
from peersim.errors import ScenarioError
from peersim.model import PeerSupportModel
from peersim.model.observe import COUNT_METRICS, OUTCOME_METRICS, year_column
from peersim.model.site_model import SITE_LEVERS, SiteModel, site_scenario, solara_model_params

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHORT = ("horizon.recruitment_weeks=16", "horizon.follow_up_weeks=26")
"""Short horizons: a run of one archetype site takes a few milliseconds."""
TWO_YEARS = ("horizon.recruitment_weeks=70", "horizon.follow_up_weeks=12")
"""Admissions in two service years, short follow-up."""


def short(name: str, sets: tuple[str, ...] = SHORT) -> Scenario:
    return load_source(SCENARIOS / f"{name}.toml", sets).scenario


def overall(result: RunResult) -> pd.Series:
    return result.metrics.query("site == 'overall'").set_index("metric")["value"]


@pytest.fixture
def restore_start_method() -> Iterator[None]:
    # mesa.batch_run forces the "spawn" start method process-wide; later tests keep theirs.
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


def collected(model: PeerSupportModel) -> pd.DataFrame:
    model.run_model()
    return model.datacollector.get_model_vars_dataframe()


@pytest.mark.usefixtures("restore_start_method")
def test_batch_run_outcomes_equal_peersim_run_for_the_same_seed() -> None:
    low, high = short("archetype_low"), short("archetype_high")
    rows = mesa.batch_run(PeerSupportModel, {"scenario": [low, high]}, rng=[0, 1], display_progress=False)
    table = pd.DataFrame(rows)
    assert len(table) == 4
    for column in (*OUTCOME_METRICS, *COUNT_METRICS, year_column("engagement_rate", 1)):
        assert column in table.columns
    for _, row in table.iterrows():
        metrics = overall(run(row["scenario"], row["rng"]))
        # Exact: the same integer counts divided the same way (seen: equal to the last bit).
        for metric in OUTCOME_METRICS:
            assert row[metric] == metrics[metric], (row["scenario"].name, row["rng"], metric)
        assert row[year_column("engagement_rate", 1)] == metrics["engagement_rate"]
    # The sites differ as the archetypes say (seen: engagement 0.95 and 0.95 at high, 0.20 and 0.40 at low).
    by_name = table.assign(name=[s.name for s in table["scenario"]]).groupby("name")["engagement_rate"].mean()
    assert by_name["archetype_high"] > by_name["archetype_low"] + 0.2


def test_the_weekly_columns_are_rates_so_far_with_growing_denominators() -> None:
    scenario = short("archetype_low")
    frame = collected(PeerSupportModel(scenario, rng=3))
    result = run(scenario, 3)
    for metric in OUTCOME_METRICS:
        values = frame[metric].dropna()
        assert ((values >= 0) & (values <= 1)).all(), metric
    for metric in COUNT_METRICS:
        assert (frame[metric].diff().dropna() >= 0).all(), metric
    engaged = frame["engagement_rate"].fillna(0) * frame["participants_offered"]
    assert np.allclose(engaged, np.rint(engaged))
    assert (np.diff(np.rint(engaged)) >= 0).all()
    # Readmission so far is known only once a follow-up window has closed.
    first = frame["participants_followed_up"].gt(0).idxmax()
    assert frame["readmission_rate_intervention"].iloc[:first].isna().all()
    arms = result.outcomes.query("site == 'overall' and metric == 'participants'").set_index("arm")["value"]
    assert frame["participants_offered"].iloc[-1] == arms["peer_support"]
    assert frame["participants_followed_up"].iloc[-1] == len(result.patients)


def test_weekly_engagement_is_the_timeseries_engagement() -> None:
    scenario = short("archetype_high")
    frame = collected(PeerSupportModel(scenario, rng=5))
    series = run(scenario, 5).timeseries.query("metric == 'engagement_rate'")["value"].to_numpy()
    # One site: the pooled column is that site's series, week for week (exact).
    np.testing.assert_array_equal(frame["engagement_rate"].to_numpy()[: len(series)], series)


def test_per_year_columns_equal_the_years_table_at_the_end() -> None:
    scenario = short("service_sustain_5_years", TWO_YEARS)
    frame = collected(PeerSupportModel(scenario, rng=2))
    result = run(scenario, 2)
    years = result.years.query("site == 'overall'").set_index(["year", "metric"])["value"]
    last = frame.iloc[-1]
    for year in (1, 2):
        for metric in ("engagement_rate", "readmission_rate_intervention"):
            assert last[year_column(metric, year)] == years[(year, metric)], (year, metric)
    assert year_column("engagement_rate", 3) not in frame.columns
    # Service mode: the control rate is everyone's usual-care counterfactual, as in `metrics`.
    metrics = overall(result)
    assert last["readmission_rate_control"] == metrics["readmission_rate_control"]
    patients = result.patients
    year_two = patients[(patients["admit_week"] - 1) // 52 == 1]
    assert last[year_column("readmission_rate_control", 2)] == pytest.approx(
        year_two["readmitted_usual_care"].mean(), abs=1e-12
    )


def test_iterations_without_seeds_get_a_clear_message() -> None:
    with pytest.raises(TypeError, match=r"rng=None: give mesa\.batch_run rng="):
        PeerSupportModel(short("archetype_low"), rng=None)  # type: ignore[arg-type]


def test_site_model_is_the_scenario_run_and_takes_levers_for_every_site() -> None:
    path = SCENARIOS / "archetype_low.toml"
    frame = collected(SiteModel(str(path), rng=4, sets=SHORT))
    assert frame.equals(collected(PeerSupportModel(short("archetype_low"), rng=4)))
    assert frame["engagement_rate"].iloc[-1] == overall(run(short("archetype_low"), 4))["engagement_rate"]
    default = site_scenario(None, levers={"supervisor_hours_per_week": 9.0, "n_peer_workers": 3.0})
    assert {site.supervisor_hours_per_week for site in default.sites} == {9.0}
    assert {site.n_peer_workers for site in default.sites} == {3}
    assert len(default.sites) == 7


def test_a_bad_lever_reads_as_the_command_line_message() -> None:
    with pytest.raises(ScenarioError) as raised:
        SiteModel(str(SCENARIOS / "archetype_low.toml"), caseload_cap=0)
    assert "with `sets` sites.low.caseload_cap=0" in str(raised.value)
    assert "caseload_cap" in str(raised.value)


def test_site_model_keywords_survive_solara_reset_rules() -> None:
    # SolaraViz's Reset passes a Mesa Scenario under `scenario` to any model that takes
    # `scenario` or **kwargs; SiteModel takes neither, and every keyword has a default.
    parameters = inspect.signature(SiteModel).parameters
    assert "scenario" not in parameters
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty for p in parameters.values())
    params = solara_model_params(SCENARIOS / "archetype_high.toml", SHORT)
    assert set(params) == {"path", "sets", *SITE_LEVERS}
    values = {k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}
    rebuilt = SiteModel(**values)
    assert rebuilt.spec == short("archetype_high")


def test_solara_viz_reset_rebuilds_the_site_model_with_the_moved_lever() -> None:
    pytest.importorskip(
        "altair", reason="SolaraViz needs Mesa's visualization extra: pip install 'mesa[rec]'"
    )
    solara = pytest.importorskip("solara", reason="SolaraViz needs Mesa's visualization extra")
    v: Any = pytest.importorskip("ipyvuetify", reason="SolaraViz needs Mesa's visualization extra")
    from mesa.visualization import SolaraViz, make_plot_component

    path = str(SCENARIOS / "archetype_low.toml")
    reactive = solara.reactive(SiteModel(path, rng=0, sets=SHORT))

    @solara.component  # type: ignore[untyped-decorator]
    def Page() -> None:
        with solara.AppLayout():
            SolaraViz(
                reactive,
                components=[make_plot_component(list(OUTCOME_METRICS))],
                model_params=solara_model_params(path, SHORT),
            )

    _, rc = solara.render(Page(), handle_error=False)
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert reactive.value.steps == 1
    slider = next(w for w in rc.find(v.Slider).widgets if w.label.startswith("supervisor_hours_per_week"))
    slider.v_model = 10.0
    rc.find(v.Btn, children=["Reset"]).widget.click()
    model = reactive.value
    assert isinstance(model, SiteModel)
    assert model.steps == 0
    assert model.spec.sites[0].supervisor_hours_per_week == 10.0
    assert model.spec.horizon.recruitment_weeks == 16


@pytest.mark.usefixtures("restore_start_method")
def test_readme_mesa_example_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (SCENARIOS.parent / "README.md").read_text(encoding="utf-8")
    heading = "## Driving the model with Mesa's tools"
    if heading not in readme:
        pytest.skip("README.md has no section 'Driving the model with Mesa's tools' yet")
    block = readme.split(heading, 1)[1].split("\n## ", 1)[0].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(SCENARIOS.parent)  # the example's paths are relative to the repository root
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md (Mesa's tools)", "exec"), namespace)
    table = namespace["table"]
    metrics = namespace["metrics"]
    assert isinstance(table, pd.DataFrame)
    assert isinstance(metrics, pd.Series)
    first = table.query("name == 'archetype_low' and rng == 0").iloc[0]
    for metric in OUTCOME_METRICS:
        assert first[metric] == metrics[metric]
