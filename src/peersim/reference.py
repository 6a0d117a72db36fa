"""Scenario file reference in Markdown, generated from the declared parameters.

The README's scenario reference is this function's output; a test keeps the two
identical, so the documentation cannot drift from the code. Refresh it with
``python -m peersim.reference README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from peersim.parameters import (
    HORIZON_PARAMS,
    MECHANISM_PARAMS,
    MECHANISMS,
    PROTOCOL_PARAMS,
    SITE_PARAMS,
    ParamSpec,
)
from peersim.scenario import DEFAULT_TRAVEL_MINUTES

START = "<!-- scenario-reference:start -->"
END = "<!-- scenario-reference:end -->"


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
        "digits, `_` or `-`). Also required: `host` (`nhs` or `not_for_profit`) and `geography`",
        f"(`urban` or `rural`; sets the default travel minutes: {travel}).",
        "",
        *_table(
            SITE_PARAMS,
            frozenset({"n_peer_workers", "supervisor_hours_per_week", "eligible_admissions_per_week"}),
        ),
        "",
        "A site with peer workers must have supervisor hours.",
        "",
        "**`[mechanisms]`** (uncertain strengths; every key optional; a `rel_*` key set to 0 switches",
        "its mechanism off)",
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


def update_file(path: Path) -> bool:
    """Replace the text between the reference markers in ``path``; return whether it changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{scenario_reference_markdown()}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {'updated' if update_file(Path(name)) else 'already current'}")
