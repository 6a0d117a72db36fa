"""The explorer's "model" tab: one run of a scenario, stepped week by week, as Mesa's DataCollector sees it.

The plain functions do the work: :func:`start_model` builds the run
(``PeerSupportModel(scenario, rng=seed)``, the run of ``peersim.run(scenario,
seed)``), :func:`step_weeks` advances it, :func:`weekly_frame` reads the
DataCollector into the table the figure draws, :func:`status_text` says where
the run is and :func:`model_figure` draws engagement, readmission, ward
acceptance and caseload over the weeks so far. :func:`ModelTab` only lays them
out, with Step, Run-N-weeks and Reset buttons.

Imported only by the explorer app (it needs the ``explore`` extra); CSS classes
``peersim-model-*`` mark the elements tests and users can rely on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import solara

from peersim.core.scenario import Scenario
from peersim.model import PeerSupportModel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WEEKLY_COLUMNS: tuple[str, ...] = (
    "engagement_rate",
    "readmission_rate_intervention",
    "readmission_rate_control",
    "ward_acceptance",
    "caseload",
)
"""DataCollector columns the tab plots (see :mod:`peersim.model.observe`)."""
DEFAULT_RUN_WEEKS = 10
"""Weeks the Run-N-weeks button starts with."""
PANEL_TITLES: dict[str, str] = {
    "engagement": "Engaged share of those offered so far (0-1)",
    "readmission": "Readmitted within follow-up, of those followed up (0-1)",
    "ward_acceptance": "Ward staff acceptance of peer workers (0-1)",
    "caseload": "People in peer support (caseload, all posts)",
}
"""Titles of the four panels of :func:`model_figure`."""
COLOURS: dict[str, str] = {"peer support": "#1f77b4", "control": "#7f7f7f"}
"""Peer support in blue, the control arm (or usual care) in grey, dashed and drawn first."""


def start_model(scenario: Scenario, seed: int) -> PeerSupportModel:
    """Build the run of ``scenario`` with ``seed``, before its first week.

    Its weeks are those of ``peersim.run(scenario, seed)``: stepped to the end,
    the DataCollector's last row equals that run's ``metrics`` (site ``overall``).
    """
    return PeerSupportModel(scenario, rng=seed)


def step_weeks(model: PeerSupportModel, weeks: int) -> int:
    """Advance ``model`` by up to ``weeks`` weeks, stopping when the run is over.

    Returns
    -------
    int
        Weeks actually stepped (0 if ``weeks`` < 1 or the run is over).
    """
    done = 0
    while done < weeks and model.running:
        model.step()
        done += 1
    return done


def weeks_error(weeks: int | None) -> str | None:
    """Say why ``weeks`` (the Run-N-weeks field) cannot be run, or ``None`` if it can (1 or more)."""
    if weeks is None:
        return "weeks to run: enter a whole number of weeks, 1 or more"
    if weeks < 1:
        return f"weeks to run must be 1 or more, got {weeks}"
    return None


def control_label(model: PeerSupportModel) -> str:
    """Name of the comparison arm: ``"control"`` in a trial, ``"usual care"`` in a service."""
    return "usual care" if model.spec.mode == "service" else "control"


def weekly_frame(model: PeerSupportModel) -> pd.DataFrame:
    """Return the weeks so far from the DataCollector: ``week`` (1 = first) and :data:`WEEKLY_COLUMNS`.

    Rates are 0-1 (NaN before they are defined: readmission before the first
    follow-up ends); ``caseload`` counts participants in support.
    """
    data = model.datacollector.model_vars
    frame = pd.DataFrame({name: data[name] for name in WEEKLY_COLUMNS}, columns=list(WEEKLY_COLUMNS))
    frame.insert(0, "week", range(1, len(frame) + 1))
    return frame


def status_text(model: PeerSupportModel) -> str:
    """Where the run is: the week, and engagement and readmission so far with their denominators."""
    values = model.tally.values
    head = f"week {model.steps} of {model.n_weeks}"
    if model.steps == 0:
        return f"{head}: press Step or Run to simulate the first weeks"
    offered = int(values["participants_offered"])
    parts = [f"{head}", f"{offered} offered peer support so far, {_share(values['engagement_rate'])} engaged"]
    followed = int(values["participants_followed_up"])
    if followed == 0:
        first = model.tally.first_follow_up_week
        parts.append(
            "readmission is known from week "
            f"{first} (when the first {model.setup.follow_up_weeks}-week follow-up ends)"
            if first is not None
            else "no one is followed up"
        )
    else:
        parts.append(
            f"{followed} followed up: readmitted {_share(values['readmission_rate_intervention'])} "
            f"with peer support, {_share(values['readmission_rate_control'])} in {control_label(model)}"
        )
    if not model.running:
        parts.append("run complete")
    return "; ".join(parts)


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def model_figure(model: PeerSupportModel) -> Figure:
    """Engagement, readmission (both arms), ward acceptance and caseload over the weeks so far (2 x 2).

    The week axis spans the whole run, so the lines grow as the run is stepped.
    """
    from matplotlib.figure import Figure

    frame = weekly_frame(model)
    figure = Figure(figsize=(9.0, 6.0), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True)
    week = frame["week"].to_numpy(dtype=float)
    engagement, readmission, acceptance, caseload = axes.flat
    engagement.plot(week, frame["engagement_rate"], color=COLOURS["peer support"])
    readmission.plot(
        week,
        frame["readmission_rate_control"],
        color=COLOURS["control"],
        linestyle="--",
        label=control_label(model),
    )
    readmission.plot(
        week, frame["readmission_rate_intervention"], color=COLOURS["peer support"], label="peer support"
    )
    readmission.legend(loc="lower right", fontsize=9)
    acceptance.plot(week, frame["ward_acceptance"], color=COLOURS["peer support"])
    caseload.plot(week, frame["caseload"], color=COLOURS["peer support"])
    for ax, title in zip(axes.flat, PANEL_TITLES.values(), strict=True):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_xlim(0, model.n_weeks)
    for ax in (engagement, readmission, acceptance):
        ax.set_ylim(0, 1)
    caseload.set_ylim(0, max(1.0, 1.1 * float(frame["caseload"].max())) if len(frame) else 1.0)
    for ax in axes[-1]:
        ax.set_xlabel("week")
    figure.suptitle(f"{model.spec.name}: one run, week {model.steps} of {model.n_weeks}", fontsize=11)
    return figure


@solara.component
def ModelTab(scenario: Scenario, seed: int) -> None:
    """Step one run of ``scenario`` with ``seed`` week by week: Step, Run N weeks, Reset, and the plots.

    A new ``scenario`` or ``seed`` starts a new run.
    """
    holder = solara.use_memo(lambda: [start_model(scenario, seed)], dependencies=[scenario.hash, seed])
    version, set_version = solara.use_state(0)
    weeks, set_weeks = solara.use_state(DEFAULT_RUN_WEEKS)
    model = holder[0]

    def advance(n: int) -> None:
        step_weeks(holder[0], n)
        set_version(version + 1)

    def reset() -> None:
        holder[0] = start_model(scenario, seed)
        set_version(version + 1)

    error = weeks_error(weeks)
    figure = solara.use_memo(lambda: model_figure(model), dependencies=[id(model), model.steps])
    with solara.Row(style={"align-items": "center"}):
        solara.Button(
            "Step", on_click=lambda: advance(1), disabled=not model.running, classes=["peersim-model-step"]
        )
        solara.InputInt(
            "weeks to run",
            value=weeks,
            on_value=set_weeks,
            optional=True,
            classes=["peersim-model-weeks"],
            style={"max-width": "9em"},
        )
        solara.Button(
            f"Run {weeks} weeks" if error is None else "Run",
            on_click=lambda: advance(weeks or 0),
            disabled=error is not None or not model.running,
            classes=["peersim-model-run"],
        )
        solara.Button("Reset", on_click=reset, classes=["peersim-model-reset"])
    if error is not None:
        solara.Error(error, classes=["peersim-model-error"])
    solara.Text(status_text(model), classes=["peersim-model-status"])
    with solara.Column(classes=["peersim-model-figure"]):
        solara.FigureMatplotlib(figure, format="png", dependencies=[id(model), model.steps])
    solara.Markdown(
        "One run of the draft, as Mesa's DataCollector records it each week (all sites pooled). "
        "Engagement counts those admitted so far; readmission counts those whose follow-up has "
        "ended. At the last week these are the run's results for this seed."
    )
