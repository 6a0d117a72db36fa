"""Inputs shared by the planning tests: a tiny service-mode site and small costs files.

The tiny site (16 weeks of admissions, 26 weeks' follow-up, 2 peer workers)
runs in a few tens of milliseconds, so a plan over a 4-plan grid with 12
replicates takes a few seconds in one process.
"""

from __future__ import annotations

from pathlib import Path

from peersim.executor import Executor
from peersim.planning.analysis import PlanStats, plan_frame, plan_stats
from peersim.planning.evaluate import OutcomeStore, Request, evaluate
from peersim.planning.inputs import default_costs_text
from peersim.planning.levers import PlanSpec
from peersim.planning.workflow import PlanInputs

TINY_SITE = """\
name = "tiny_plan"
description = "A tiny rural, not-for-profit site for fast planning tests"
mode = "service"

[horizon]
recruitment_weeks = 16
follow_up_weeks = 26

[[sites]]
name = "tinysite"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 2
peer_worker_hours_per_week = 22.5
supervisor_hours_per_week = 1.5
team_prep_sessions = 0
team_joint_work_hours_per_month = 0
eligible_admissions_per_week = 2.0
caseload_cap = 8
"""
"""A one-site service-mode scenario that runs in a few tens of milliseconds."""


def tiny_costs(levers: str) -> str:
    """The default unit costs with the ``[levers]`` table replaced by ``levers``."""
    text = default_costs_text()
    head = text[: text.index("[levers]")]
    return head + "[levers]\n" + levers


SMALL_LEVERS = """\
supervisor_hours_per_week = { values = [1.5, 4] }
team_prep_sessions = { values = [0, 3] }
"""
"""A 2 x 2 grid: supervision and team preparation, each at the site's value or one step up."""


def write_inputs(directory: Path, levers: str = SMALL_LEVERS) -> tuple[Path, Path]:
    """Write the tiny site and a costs file with ``levers``; return their paths."""
    site = directory / "site.toml"
    costs = directory / "costs.toml"
    site.write_text(TINY_SITE, encoding="utf-8")
    costs.write_text(tiny_costs(levers), encoding="utf-8")
    return site, costs


def rerun(inputs: PlanInputs, spec: PlanSpec, seed: int, replicates: int, executor: Executor) -> PlanStats:
    """Run one plan afresh on another base seed and judge it again, as a reader of the plan would."""
    store = OutcomeStore()
    evaluate([Request(spec.index, spec.scenario, replicates)], store, seed, executor, inputs.posterior)
    frame = plan_frame(store, spec, replicates, inputs.site, inputs.costs)
    return plan_stats(frame, spec, inputs.targets, inputs.confidence)
