"""The explorer's page (Solara): it lays out what :mod:`peersim.explore` computes, nothing more.

The sidebar holds the site's context, its levers, the replicate budget, the
target and the seed; every value is checked as it is entered
(:func:`~peersim.explore.inputs.read_form`, the checks of ``--set``) and a
bad one shows its message. "Run" compares the draft with the plan in a
background task (:func:`~peersim.explore.workflow.explore_run` on the
server's shared pool), showing partial results as replicates finish; a new
run cancels the one before. "Save plan" downloads the draft as a scenario
TOML file, "Report" the exploration as one HTML file.

Imported only by the server (it needs the ``explore`` extra); CSS classes
``peersim-*`` mark the elements tests and users can rely on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from html import escape

import solara
import solara.lab

from peersim.discovery.figures import discovery_figure
from peersim.discovery.result import DiscoveryResult
from peersim.explore.failures import POINTS, boxes_table, find_failures
from peersim.explore.figures import bands_figure
from peersim.explore.inputs import (
    MAX_REPLICATES,
    Draft,
    ExploreInputs,
    FormError,
    LeverField,
    form_defaults,
    lever_fields,
    read_form,
    site_context,
)
from peersim.explore.model_tab import ModelTab
from peersim.explore.present import (
    answer_lines,
    chance_text,
    differences_html,
    groups_table,
    progress_text,
    table_html,
    years_table,
)
from peersim.explore.report import draft_toml, report_html
from peersim.explore.server import current_inputs, shared_executor
from peersim.explore.view import ExploreView, view_of
from peersim.explore.workflow import Exploration, explore_run

CSS = """
.peersim-table { border-collapse: collapse; font-size: 0.9rem; }
.peersim-table th, .peersim-table td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
.peersim-table th:first-child, .peersim-table td:first-child { text-align: left; }
.peersim-table td:not(:first-child) { white-space: nowrap; }
.peersim-boxes .peersim-table td { white-space: normal; }
.peersim-context td { padding: 1px 6px; font-size: 0.85rem; }
.peersim-answer { font-size: 1.05rem; }
.v-navigation-drawer .v-input { margin-bottom: 10px; }
"""
FEW_REPLICATES = 20
"""Below this many pairs the predictive interval (2.5th-97.5th percentile of the pairs) is too narrow."""
UPDATE_SECONDS = 0.5
"""Shortest time between two partial results on the page (each redraws the tables and the figure)."""


@dataclass(frozen=True)
class Shown:
    """What the results area shows: the exploration so far and its view."""

    exploration: Exploration
    view: ExploreView
    number: int
    """The run's number in this page (1 = the first Run pressed)."""


failures: solara.Reactive[tuple[Draft, DiscoveryResult] | None] = solara.reactive(None)
failures_progress: solara.Reactive[tuple[int, int]] = solara.reactive((0, 0))
form = solara.reactive({})  # field name -> text entered; missing fields keep the plan's values
shown: solara.Reactive[Shown | None] = solara.reactive(None)
started: solara.Reactive[int] = solara.reactive(0)


@solara.lab.task(prefer_threaded=True)
def run_exploration(inputs: ExploreInputs, draft: Draft, number: int) -> Exploration:
    """Compare ``draft`` with the plan, publishing each partial result; a newer run cancels this one."""
    last = [-math.inf]

    def publish(exploration: Exploration) -> None:
        now = time.monotonic()
        if run_exploration.is_current() and (exploration.done or now - last[0] >= UPDATE_SECONDS):
            last[0] = now
            shown.set(Shown(exploration, view_of(exploration), number))

    return explore_run(
        inputs,
        draft,
        shared_executor(),
        on_update=publish,
        cancelled=lambda: not run_exploration.is_current(),
    )


@solara.lab.task(prefer_threaded=True)
def find_where_it_fails(inputs: ExploreInputs, draft: Draft) -> None:
    """Run scenario discovery around the draft; a newer request stops this one."""
    failures_progress.set((0, POINTS))
    result = find_failures(
        inputs,
        draft,
        shared_executor(),
        on_progress=lambda done, total: failures_progress.set((done, total)),
        cancelled=lambda: not find_where_it_fails.is_current(),
    )
    if result is not None and find_where_it_fails.is_current():
        failures.set((draft, result))


def _set_field(name: str, text: str | None) -> None:
    form.set({**form.value, name: text or ""})


@solara.component
def LeverInput(field: LeverField, value: str, error: str | None) -> None:
    """One lever: a text field (a choice for the host) with its options and bounds as the hint."""
    classes = [f"peersim-lever-{field.name}"]
    label = field.title
    if field.choices:
        solara.Select(
            label=label,
            values=list(field.choices),
            value=value,
            on_value=lambda text: _set_field(field.name, text),
            classes=classes,
        )
        return
    solara.InputText(
        label,
        value=value,
        on_value=lambda text: _set_field(field.name, text),
        message=field.hint,
        error=_short(error),
        classes=classes,
    )


def _short(message: str | None) -> str | bool:
    """Return a field's own error: the message's last clause (the full message is shown above)."""
    if not message:
        return False
    return message.rsplit(": ", 1)[-1]


RUN_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("replicates", "replicates (paired)", f"2 to {MAX_REPLICATES}; more: narrower intervals"),
    ("target", "target", "METRIC>=VALUE or METRIC<=VALUE"),
    ("seed", "seed", None),
)
"""The run's fields below the levers: form name, label and hint."""


@solara.component
def RunField(name: str, label: str, hint: str | None, value: str, error: str | None) -> None:
    """One of the run's settings: a text field whose CSS class is ``peersim-NAME``."""
    solara.InputText(
        label,
        value=value,
        on_value=lambda text: _set_field(name, text),
        error=error or False,
        message=hint,
        classes=[f"peersim-{name}"],
    )


@solara.component
def SiteContext(inputs: ExploreInputs) -> None:
    """Show the site's context: host, geography, travel, admissions."""
    rows = "".join(
        f"<tr><td>{escape(label)}</td><td><b>{escape(value)}</b></td></tr>"
        for label, value in site_context(inputs)
    )
    with solara.Card(f"Site: {inputs.site_name}", subtitle=inputs.site.source, margin=0):
        solara.HTML(tag="table", unsafe_innerHTML=rows, classes=["peersim-context"])


@solara.component
def Sidebar(
    inputs: ExploreInputs,
    fields: list[LeverField],
    values: dict[str, str],
    draft: Draft | None,
    errors: dict[str, str],
) -> None:
    """Context, levers, budget and target, and the buttons."""
    SiteContext(inputs)
    with solara.Card("Levers", subtitle="the draft; the plan is the site as given", margin=0):
        for field in fields:
            LeverInput(field, values[field.name], errors.get(field.name))
    with solara.Card("Run", margin=0):
        for name, label, hint in RUN_FIELDS:
            RunField(name, label, hint, values[name], errors.get(name))

        def start() -> None:
            if draft is not None:
                started.set(started.value + 1)
                run_exploration(inputs, draft, started.value)

        with solara.Row():
            solara.Button(
                "Run", on_click=start, color="primary", disabled=draft is None, classes=["peersim-run"]
            )
            if draft is not None:
                solara.FileDownload(
                    lambda: draft_toml(inputs, draft),
                    filename=f"{inputs.site_name}_draft.toml",
                    children=[
                        solara.Button("Save plan", icon_name="mdi-content-save", classes=["peersim-save"])
                    ],
                    mime_type="application/toml",
                )
            current = shown.value
            if current is not None and current.view.done:
                solara.FileDownload(
                    lambda: report_html(current.exploration, current.view),
                    filename=f"{inputs.site_name}_explore_report.html",
                    children=[
                        solara.Button("Report", icon_name="mdi-file-document", classes=["peersim-report"])
                    ],
                    mime_type="text/html",
                )


@solara.component
def Results(inputs: ExploreInputs, draft: Draft | None) -> None:
    """Progress, the answer, the paired differences, the weekly bands, years and groups."""
    current = shown.value
    if current is None:
        solara.Info(
            "Move a lever in the sidebar and press Run: the draft is compared with the plan "
            "(the site as given) on common random numbers."
        )
        return
    view, exploration = current.view, current.exploration
    currency = inputs.costs.currency
    if draft != exploration.draft and not run_exploration.pending:
        solara.Warning(
            "These results are for the draft run last (below); the sidebar has changed since. "
            "Press Run to compare the values now in the sidebar.",
            classes=["peersim-stale"],
        )
    solara.ProgressLinear(value=100.0 * view.n / max(view.total, 1), color="primary")
    solara.Text(f"run {current.number}: {progress_text(view)}", classes=["peersim-progress"])
    if view.done:
        solara.Text(f"done: {view.n} replicates in {exploration.seconds:.1f} s", classes=["peersim-status"])
    elif run_exploration.pending:
        solara.Text("running...", classes=["peersim-status-running"])
    else:
        solara.Text(f"stopped: {view.n} of {view.total} replicates", classes=["peersim-status"])
    changes = ", ".join(exploration.draft.changes) or "no lever changed"
    with solara.Card(
        "Answer", subtitle=f"draft: {changes}; target {exploration.draft.target.text}", margin=0
    ):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<b>Draft: {chance_text(view.chance['draft'])}</b>",
            classes=["peersim-target-chance", "peersim-answer"],
        )
        with solara.Column(classes=["peersim-answer"], gap="4px"):
            for line in answer_lines(view, exploration.draft.target, currency):
                solara.Text(line)
    solara.Markdown("#### Draft minus plan, paired on common random numbers (95% intervals)")
    if view.n < FEW_REPLICATES:
        solara.Warning(
            f"Only {view.n} replicates: the predictive interval is the spread of so few pairs and is too "
            f"narrow; use {FEW_REPLICATES} or more before reading it.",
            classes=["peersim-few"],
        )
    solara.HTML(tag="div", unsafe_innerHTML=differences_html(view, currency), classes=["peersim-differences"])
    solara.Markdown(
        "The *interval of the mean* is where the average effect lies; the *predictive interval* is where the "
        "effect in one service lies (posterior draws and chance): the answer a planner should read. "
        "P(draft better) is the share of paired replicates in which the draft does better."
    )
    if view.n and not run_exploration.pending:  # drawn once: redrawing it each update slows the run
        solara.FigureMatplotlib(
            bands_figure(view, inputs.site_name), format="png", dependencies=[view.n, current.number]
        )
    elif view.n:
        solara.Text("The weekly bands are drawn when the run finishes.")
    years = years_table(view, currency)
    if len(years):
        solara.Markdown("#### By service year")
        solara.HTML(
            tag="div",
            unsafe_innerHTML=table_html(years),
            classes=["peersim-years"],
        )
    groups = groups_table(view)
    if len(groups):
        with solara.Details("By diagnostic group"):
            solara.HTML(
                tag="div",
                unsafe_innerHTML=table_html(groups),
                classes=["peersim-groups"],
            )


@solara.component
def WhereItFails(inputs: ExploreInputs, draft: Draft | None) -> None:
    """Scenario discovery around the draft: the boxes of conditions where it misses its target."""
    solara.Markdown(
        f"Samples {POINTS} combinations of site conditions and levers around the draft (travel, host, "
        "ward acceptance, admissions, vacancy weeks, posts, hours, supervision, team preparation, joint "
        "work, caseload cap), runs each twice with posterior draws, and lets PRIM find the boxes of "
        "conditions where the draft's target is missed. *Coverage*: the share of all misses inside the "
        "box; *density*: the share of the box's runs that miss."
    )
    if draft is None:
        solara.Info("Fix the values marked in the sidebar first.")
        return
    solara.Button(
        f"Find where {draft.target.text} fails",
        on_click=lambda: find_where_it_fails(inputs, draft),
        color="primary",
        classes=["peersim-discover"],
    )
    if find_where_it_fails.pending:
        done, total = failures_progress.value
        solara.ProgressLinear(value=100.0 * done / max(total, 1), color="primary")
        solara.Text(f"{done} of {total} design points", classes=["peersim-discover-progress"])
    found = failures.value
    if found is None:
        return
    ran, result = found
    if ran != draft:
        solara.Warning(
            "These boxes are for the draft as it was when they were found; press the button again."
        )
    if not result.boxes:
        solara.Info(
            "PRIM found no box of conditions where the target is missed often enough: "
            + " ".join(result.notes),
            classes=["peersim-boxes"],
        )
    else:
        solara.HTML(tag="div", unsafe_innerHTML=table_html(boxes_table(result)), classes=["peersim-boxes"])
    misses = int((~result.table["met"]).sum())
    solara.Text(
        f"{misses} of {len(result.table)} runs missed {result.inputs.target.text}; {result.seconds:.1f} s."
    )
    solara.FigureMatplotlib(
        discovery_figure(result, title=inputs.site_name), format="png", dependencies=[id(result)]
    )


@solara.component
def Page() -> None:
    """Lay out the explorer: sidebar, errors and the results tabs."""
    inputs = solara.use_memo(current_inputs, dependencies=[])
    defaults = solara.use_memo(lambda: form_defaults(inputs), dependencies=[])
    values = {**defaults, **form.value}
    fields = solara.use_memo(lambda: lever_fields(inputs), dependencies=[])

    def validate() -> tuple[Draft | None, dict[str, str]]:
        try:
            return read_form(inputs, values), {}
        except FormError as error:
            return None, error.messages

    draft, errors = solara.use_memo(validate, dependencies=[tuple(sorted(values.items()))])
    solara.Title(f"peersim explorer: {inputs.site_name}")
    solara.Style(CSS)
    with solara.Sidebar():
        Sidebar(inputs, fields, values, draft, errors)
    for message in errors.values():
        solara.Error(message, classes=["peersim-error"])
    with solara.lab.Tabs(lazy=True):
        with solara.lab.Tab("Compare"):
            Results(inputs, draft)
        with solara.lab.Tab("Where it fails"):
            WhereItFails(inputs, draft)
        with solara.lab.Tab("Model"):
            if draft is None:
                solara.Info("Fix the values marked in the sidebar to step the draft week by week.")
            else:
                solara.Markdown(
                    "One run of the draft at the scenario's point values of the mechanism strengths (no "
                    "posterior draw), stepped a week at a time: what the Mesa model does inside a replicate."
                )
                ModelTab(draft.scenario, draft.seed)
