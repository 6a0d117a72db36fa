"""Markdown generated from the declared parameters: scenario reference and ODD tables.

The README's scenario reference and the parameter tables of ``docs/odd.md`` are
this module's output; tests keep them identical, so the documentation cannot
drift from the code. Refresh both with
``python -m peersim.core.reference README.md docs/odd.md``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from peersim.core.parameters import (
    HORIZON_PARAMS,
    MECHANISM_PARAMS,
    MECHANISMS,
    PROTOCOL_PARAMS,
    SITE_PARAMS,
    ParamSpec,
)
from peersim.core.scenario import DEFAULT_TRAVEL_MINUTES, Switches

START = "<!-- scenario-reference:start -->"
END = "<!-- scenario-reference:end -->"
ODD_START = "<!-- odd-parameters:start -->"
ODD_END = "<!-- odd-parameters:end -->"


def _row(spec: ParamSpec, required: bool = False) -> str:
    default = "required" if required else f"{spec.default:g}"
    return f"| `{spec.name}` | {default} | {spec.low:g} to {spec.high:g} | {spec.unit} | {spec.description} |"


def _table(specs: dict[str, ParamSpec], required: frozenset[str] = frozenset()) -> list[str]:
    lines = ["| key | default | range | unit | meaning |", "|---|---|---|---|---|"]
    lines += [_row(spec, spec.name in required) for spec in specs.values()]
    return lines


def scenario_reference_markdown() -> str:
    """Return the scenario file reference as Markdown (without the markers)."""
    travel = ", ".join(f"{k} {v:g}" for k, v in DEFAULT_TRAVEL_MINUTES.items())
    lines = [
        "Top level: `name` (required), `description`, `mode` (`trial`: 1:1 randomised as in ENRICH;",
        "`service`: everyone offered, usual care evaluated as a counterfactual on the same random",
        "numbers; default `trial`), and the tables below. Unknown keys are rejected with the list of",
        "valid ones; every message names the file and the key path.",
        "",
        "**`[horizon]`**",
        "",
        *_table(HORIZON_PARAMS),
        "",
        "**`[protocol]`** (the intervention as delivered)",
        "",
        *_table(PROTOCOL_PARAMS),
        "",
        "**`[[sites]]`** (one table per site, at least one; names unique, a letter then letters,",
        "digits, `_` or `-`, and not `overall`, which labels values pooled over sites). Also",
        "required: `host` (`nhs` or `not_for_profit`) and `geography`",
        f"(`urban` or `rural`; sets the default travel minutes: {travel}).",
        "",
        *_table(
            SITE_PARAMS,
            frozenset({"n_peer_workers", "supervisor_hours_per_week", "eligible_admissions_per_week"}),
        ),
        "",
        "A site with peer workers must have supervisor hours, and the three diagnostic group",
        "shares (`share_psychosis`, `share_personality_disorder`, `share_other`) must sum to 1.",
        "",
        "**`[switches]`** (structural switches for the two mechanisms with no single strength)",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
        *(
            f"| `{name}` | {str(field.default).lower()} | {field.description} |"
            for name, field in Switches.model_fields.items()
        ),
        "",
        "**`[mechanisms]`** (uncertain strengths; every key optional; a key set to its `off` value",
        "switches its part of the mechanism off)",
        "",
        "| key | mechanism | default | range | off | meaning | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in MECHANISM_PARAMS.values():
        mechanism = f"{spec.mechanism}. {MECHANISMS[spec.mechanism]}" if spec.mechanism else ""
        off = "-" if spec.off is None else f"{spec.off:g}"
        lines.append(
            f"| `{spec.name}` | {mechanism} | {spec.default:g} | {spec.low:g} to {spec.high:g} | {off} | "
            f"{spec.description} | {spec.source} |"
        )
    return "\n".join(lines) + "\n"


def structural_constants() -> list[tuple[str, str, str]]:
    """Return ``(name, value, docstring)`` of each constant in :mod:`peersim.model.constants`.

    The module is read as text, not imported, so that this module (part of what a
    run reads) does not depend on the model.
    """
    path = Path(__file__).parents[1] / "model" / "constants.py"
    body = ast.parse(path.read_text(encoding="utf-8")).body
    out = []
    for node, after in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if not isinstance(target, ast.Name) or node.value is None:
                continue
            doc = ""
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                doc = " ".join(str(after.value.value).split())
            out.append((target.id, ast.unparse(node.value), doc))
    return out


def odd_parameter_markdown() -> str:
    """Return the ODD parameter tables: every declared parameter and structural constant."""
    groups = (
        ("Mechanism strengths (uncertain; calibrated)", MECHANISM_PARAMS, "`[mechanisms]`"),
        ("Site levers and context", SITE_PARAMS, "`[[sites]]`"),
        ("Horizon", HORIZON_PARAMS, "`[horizon]`"),
        ("Protocol", PROTOCOL_PARAMS, "`[protocol]`"),
    )
    lines: list[str] = []
    for title, specs, table in groups:
        lines += [
            f"**{title}** (scenario table {table}; declared in `src/peersim/core/parameters.py`)",
            "",
            "| parameter | kind | mechanism | default | bounds | unit | source |",
            "|---|---|---|---|---|---|---|",
        ]
        for spec in specs.values():
            mechanism = str(spec.mechanism) if spec.mechanism else "-"
            lines.append(
                f"| `{spec.name}` | {spec.kind} | {mechanism} | {spec.default:g} | "
                f"{spec.low:g} to {spec.high:g} | {spec.unit} | {spec.source} |"
            )
        lines.append("")
    lines += [
        "**Structural constants** (fixed rule shapes, all assumptions; `src/peersim/model/constants.py`)",
        "",
        "| constant | value | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {value} | {doc} |" for name, value, doc in structural_constants()]
    return "\n".join(lines) + "\n"


def update_file(path: Path) -> bool:
    """Regenerate every marked block in ``path``; return whether it changed."""
    text = path.read_text(encoding="utf-8")
    new = text
    for start, end, render in (
        (START, END, scenario_reference_markdown),
        (ODD_START, ODD_END, odd_parameter_markdown),
    ):
        if start in new:
            head, _, rest = new.partition(start)
            _, _, tail = rest.partition(end)
            new = f"{head}{start}\n{render()}{end}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {'updated' if update_file(Path(name)) else 'already current'}")
