"""The explorer's "model" tab: one run stepped week by week, its table, status, figure and buttons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

solara: Any = pytest.importorskip("solara", reason="the model tab needs the explore extra (solara)")

from peersim import run  # noqa: E402
from peersim.core.overrides import load_source  # noqa: E402
from peersim.core.scenario import Scenario  # noqa: E402
from peersim.explore.model_tab import (  # noqa: E402
    WEEKLY_COLUMNS,
    ModelTab,
    model_figure,
    start_model,
    status_text,
    step_weeks,
    weekly_frame,
    weeks_error,
)

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def site(sets: tuple[str, ...] = ("horizon.recruitment_weeks=12", "horizon.follow_up_weeks=20")) -> Scenario:
    """The explorer's example site (service mode, one site) with a short horizon: about 50 weeks."""
    return load_source(SCENARIOS / "new_site_example.toml", sets).scenario


def test_stepping_in_chunks_is_the_run_and_ends_at_its_metrics() -> None:
    scenario = site()
    model = start_model(scenario, 7)
    assert step_weeks(model, 0) == 0
    assert step_weeks(model, 1) == 1
    assert step_weeks(model, 9) == 9
    rest = step_weeks(model, 10**6)
    assert rest == model.n_weeks - 10
    assert not model.running
    assert step_weeks(model, 5) == 0
    whole = start_model(scenario, 7)
    whole.run_model()
    frame = weekly_frame(model)
    assert frame.equals(weekly_frame(whole))
    metrics = run(scenario, 7).metrics.query("site == 'overall'").set_index("metric")["value"]
    last = frame.iloc[-1]
    # Exact: the same counts (seen: engagement 0.48, readmission 0.20 with peer support and in usual care).
    for metric in ("engagement_rate", "readmission_rate_intervention", "readmission_rate_control"):
        assert last[metric] == metrics[metric]


def test_the_weekly_frame_numbers_the_weeks_so_far() -> None:
    model = start_model(site(), 1)
    assert len(weekly_frame(model)) == 0
    step_weeks(model, 30)
    frame = weekly_frame(model)
    assert list(frame.columns) == ["week", *WEEKLY_COLUMNS]
    assert frame["week"].tolist() == list(range(1, 31))
    rates = frame[["engagement_rate", "readmission_rate_intervention", "ward_acceptance"]]
    assert ((rates.fillna(0) >= 0) & (rates.fillna(0) <= 1)).all().all()
    assert (frame["caseload"] >= 0).all()


def test_the_run_length_field_refuses_what_cannot_be_run() -> None:
    assert weeks_error(1) is None
    assert weeks_error(52) is None
    assert weeks_error(0) == "weeks to run must be 1 or more, got 0"
    assert weeks_error(-3) == "weeks to run must be 1 or more, got -3"
    assert weeks_error(None) == "weeks to run: enter a whole number of weeks, 1 or more"


def test_status_says_when_readmission_becomes_known_and_when_the_run_ends() -> None:
    model = start_model(site(), 2)
    assert status_text(model).startswith(f"week 0 of {model.n_weeks}: press Step")
    step_weeks(model, 5)
    first = model.tally.first_follow_up_week
    assert first is not None
    assert first > 5
    assert f"readmission is known from week {first} (when the first 20-week follow-up ends)" in status_text(
        model
    )
    step_weeks(model, 10**6)
    text = status_text(model)
    values = model.tally.values
    assert f"readmitted {values['readmission_rate_intervention']:.0%} with peer support" in text
    assert "in usual care" in text
    assert text.endswith("run complete")


def test_the_figure_draws_the_weeks_so_far_on_the_whole_run_axis() -> None:
    model = start_model(site(), 3)
    step_weeks(model, 25)
    figure = model_figure(model)
    axes = figure.axes
    assert len(axes) == 4
    assert [len(line.get_xdata()) for ax in axes for line in ax.get_lines()] == [25] * 5
    assert all(ax.get_xlim() == (0.0, float(model.n_weeks)) for ax in axes)
    labels = [text.get_text() for text in axes[1].get_legend().get_texts()]
    assert labels == ["usual care", "peer support"]


def test_the_tab_steps_runs_and_resets_through_its_buttons() -> None:
    v: Any = pytest.importorskip("ipyvuetify", reason="the model tab needs the explore extra")
    scenario = site()
    _, rc = solara.render(ModelTab(scenario, 4), handle_error=False)

    def status() -> str:
        return str(rc.find(v.Html, class_="peersim-model-status").widget.children[0])

    def button(css: str) -> Any:
        return rc.find(v.Btn, class_=css).widget

    button("peersim-model-step").click()
    assert status().startswith("week 1 of")
    field = rc.find(v.TextField, class_="peersim-model-weeks").widget
    field.v_model = "5"
    field.fire_event("keyup.enter", "5")
    assert button("peersim-model-run").children == ["Run 5 weeks"]
    button("peersim-model-run").click()
    assert status().startswith("week 6 of")
    field.v_model = "0"
    field.fire_event("keyup.enter", "0")
    assert button("peersim-model-run").disabled
    assert "weeks to run must be 1 or more, got 0" in str(rc.find(v.Alert).widget.children)
    button("peersim-model-reset").click()
    assert status().startswith("week 0 of")
    import ipywidgets

    assert len(rc.find(ipywidgets.Image).widget.value) > 1000  # the figure, as a PNG
