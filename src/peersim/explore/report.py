"""What the explorer hands back: the draft as a scenario file, and the exploration as one HTML report.

:func:`draft_toml` writes the draft as the site's own TOML text with the
changed lever values edited in place (comments and layout kept) and a header
saying what changed; the text is validated again and must give exactly the
draft's scenario. :func:`report_html` renders the exploration with peersim's
report templates (answer first, then the evidence, then the method and its
limits), figures inlined, one self-contained file.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from peersim.core.scenario_files import parse_scenario
from peersim.explore.figures import bands_figure
from peersim.explore.inputs import Draft, ExploreInputs, site_context
from peersim.explore.present import (
    DIFFERENCE_HEADERS,
    answer_lines,
    chance_text,
    differences_table,
    effect_text,
    groups_table,
    years_table,
)
from peersim.explore.view import ExploreView
from peersim.explore.workflow import Exploration
from peersim.io.html import data_uri, render_html
from peersim.io.templates import money
from peersim.planning.inputs import LeverValue
from peersim.planning.levers import LEVER_LABELS

_SITES_HEADER = re.compile(r"^\s*\[\[\s*sites\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[")


def _toml_value(value: LeverValue) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return repr(value)


def draft_toml(inputs: ExploreInputs, draft: Draft) -> str:
    """Return the draft as a scenario TOML file: the site's file with the changed levers edited in.

    Raises
    ------
    RuntimeError
        If the edited text does not validate to the draft's scenario (a site
        file laid out so that its site table cannot be edited line by line,
        e.g. an inline table); nothing is returned then.
    """
    site = inputs.site
    lines = site.text.splitlines()
    start = next((i for i, line in enumerate(lines) if _SITES_HEADER.match(line)), None)
    if start is None:
        raise RuntimeError(f"{site.source}: no [[sites]] table to edit")
    end = next((i for i in range(start + 1, len(lines)) if _TABLE_HEADER.match(lines[i])), len(lines))
    changed = {name: value for name, value in draft.levers.items() if value != site.current[name]}
    for name, value in changed.items():
        pattern = re.compile(rf"^(\s*{re.escape(name)}\s*=\s*)([^#]*?)(\s*#.*)?$")
        for i in range(start + 1, end):
            match = pattern.match(lines[i])
            if match:
                lines[i] = f"{match.group(1)}{_toml_value(value)}{match.group(3) or ''}"
                break
        else:
            lines.insert(end, f"{name} = {_toml_value(value)}")
            end += 1
    shown = ", ".join(f"{name} {site.current[name]} -> {value}" for name, value in changed.items()) or "none"
    header = [
        f"# Draft saved by peersim explore on {date.today().isoformat()} from {site.source}.",
        f"# Levers changed from the plan: {shown}.",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    if parse_scenario(text, source="<draft>").hash != draft.scenario.hash:
        raise RuntimeError(f"{site.source}: the draft could not be written as an edit of the site file")
    return text


def report_context(exploration: Exploration, view: ExploreView) -> dict[str, Any]:
    """Everything the exploration report says, as plain data (the answer, the evidence, the method)."""
    inputs, draft = exploration.inputs, exploration.draft
    currency = inputs.costs.currency
    posterior = inputs.posterior
    return {
        "title": f"peersim explorer: {inputs.site_name}, draft against the plan",
        "site": inputs.site_name,
        "source": inputs.site.source,
        "costs_source": inputs.costs.source,
        "context": site_context(inputs),
        "changes": [
            {"lever": LEVER_LABELS[name], "plan": inputs.site.current[name], "draft": value}
            for name, value in draft.levers.items()
            if value != inputs.site.current[name]
        ],
        "target": draft.target.text,
        "answer": answer_lines(view, draft.target, currency),
        "tiles": [
            {
                "label": f"chance the draft meets {draft.target.text}",
                "value": f"{view.chance['draft'].share:.0%}",
                "note": f"plan as given: {view.chance['plan'].share:.0%}",
            },
            {
                "label": "yearly cost of the draft",
                "value": money(view.cost["draft"], currency),
                "note": f"plan as given: {money(view.cost['plan'], currency)}",
            },
            {
                "label": "cost per readmission averted (draft)",
                "value": effect_text(view.cost_per_averted["draft"], currency, interval=False),
                "note": "plan as given: "
                + effect_text(view.cost_per_averted["plan"], currency, interval=False),
            },
        ],
        "chance": {arm: chance_text(chance) for arm, chance in view.chance.items()},
        "differences": differences_table(view, currency).to_dict(orient="records"),
        "difference_headers": list(DIFFERENCE_HEADERS),
        "years": years_table(view, currency).to_dict(orient="records"),
        "groups": groups_table(view).to_dict(orient="records"),
        "replicates": view.n,
        "seed": draft.seed,
        "seconds": exploration.seconds,
        "failed": view.failed,
        "posterior": None
        if posterior is None
        else {
            "source": posterior.source,
            "particles": posterior.n,
            "effective_sample_size": posterior.effective_sample_size,
        },
        "command": " ".join(
            ["peersim explore"]
            + ([inputs.site.source] if not inputs.site.source.startswith("<") else [])
            + ([f"--costs {inputs.costs.source}"] if not inputs.costs.source.startswith("<") else [])
        ),
    }


def report_html(exploration: Exploration, view: ExploreView) -> str:
    """Return the exploration as one self-contained HTML page (figures inlined as data URIs)."""
    context = report_context(exploration, view)
    figure = bands_figure(view, exploration.inputs.site_name)
    context["figures"] = {"bands": data_uri(figure)}
    return render_html("explore.html.j2", context)
