"""What a plan starts from (:class:`PlanInputs`, checked) and what it found (:class:`PlanResult`).

:mod:`peersim.planning.workflow` makes both; :mod:`peersim.planning.report`
turns a result into its JSON document, its Markdown report and its files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from peersim.planning.analysis import (
    DEFAULT_RANK_METRIC,
    CostEffect,
    GroupRow,
    PlanStats,
    PredictionRow,
    Ranking,
    YearRow,
)
from peersim.planning.inputs import CONFIDENCE, DEFAULT_PROBABILITY, Costs, PlanningSite, Target
from peersim.planning.levers import LeverSpace, PlanSpec
from peersim.planning.search import SearchResult
from peersim.uncertainty import Posterior

ANSWERED = frozenset({"feasible", "best_within_budget", "no_recommendation"})
"""Search statuses that answer what was asked (``no_recommendation``: nothing was asked but the
prediction and the ranking); the others (``infeasible_budget``, ``infeasible_targets``,
``no_budget_plan``) say that no plan of the grid meets the targets within the budget."""


@dataclass(frozen=True)
class PlanInputs:
    """Everything a plan needs, checked.

    Attributes
    ----------
    site, costs, space
        The site as given, the costs file and the lever grid it opens.
    targets, budget, probability
        The chance-constrained problem (see :mod:`peersim.planning.inputs`):
        targets every replicate must meet, a yearly budget in the costs file's
        currency (``None``: none) and the probability, in (0, 1), with which a
        recommended plan meets every target.
    posterior
        Mechanism strengths drawn per replicate (by default the shipped
        posterior); ``None`` (``use_posterior=False``) runs the scenario's point
        values (the plan then carries only the model's own randomness).
    replicates, screen_replicates, seed
        Full and screening replicate counts (2 <= screen <= full), and the base seed.
    confidence
        One-sided confidence, in (0, 1), of the Wilson bounds judging the probability.
    """

    site: PlanningSite
    costs: Costs
    space: LeverSpace
    targets: tuple[Target, ...]
    budget: float | None
    posterior: Posterior | None
    replicates: int
    screen_replicates: int
    seed: int
    probability: float = DEFAULT_PROBABILITY
    confidence: float = CONFIDENCE

    @property
    def rank_metric(self) -> tuple[str, bool]:
        """Metric the levers are ranked by (the first target's, else engagement) and its direction."""
        if self.targets:
            return self.targets[0].metric, self.targets[0].higher_is_better
        return DEFAULT_RANK_METRIC, True


@dataclass
class PlanResult:
    """What :func:`~peersim.planning.workflow.plan` found (see :mod:`peersim.planning.report`)."""

    inputs: PlanInputs
    plans: list[PlanSpec]
    current: int
    prediction: list[PredictionRow]
    cost_effect: CostEffect
    ranking: Ranking
    search: SearchResult
    frontier: pd.DataFrame
    stats: dict[int, PlanStats]
    """Statistics of the plans the report names, from every replicate held."""
    frames: dict[int, pd.DataFrame]
    """Per-replicate tables of the plans the report names."""
    runs: int
    """Model runs the answer rests on (those resumed from a checkpoint included)."""
    seconds: float
    failures: dict[tuple[int, int], str] = field(default_factory=dict)
    resumed: int = 0
    """Model runs taken from the checkpoint of an earlier, interrupted plan (the same numbers)."""
    written: list[Path] = field(default_factory=list)
    """Files written into the output directory (empty without one)."""
    years: dict[int, list[YearRow]] = field(default_factory=dict)
    """Cost per readmission averted by service year and to date, of the plans the report names."""
    groups: dict[int, list[GroupRow]] = field(default_factory=dict)
    """Outcomes by diagnostic group of the plans the report names."""

    @property
    def current_over_budget(self) -> bool:
        """Whether the site as given costs more than the budget (expected yearly cost)."""
        budget = self.inputs.budget
        return budget is not None and self.stats[self.current].cost_mean > budget

    @property
    def answered(self) -> bool:
        """Whether a plan of the grid answers the question asked (see :data:`ANSWERED`)."""
        return self.search.status in ANSWERED

    @property
    def chosen(self) -> tuple[str, int]:
        """The plan the answer puts forward, with its role: recommended, else the nearest the grid offers.

        The recommended plan; without one the cheapest plan reaching the
        targets, the within-budget plan most likely to, the best overall, or
        the site as given, in that order.
        """
        s = self.search
        for role, index in (
            ("recommended", s.recommended),
            ("cheapest_reaching_targets", s.cheapest_reaching),
            ("best_within_budget", s.best_within_budget),
            ("best_overall", s.best_overall),
        ):
            if index is not None:
                return role, index
        return "current", self.current

    @property
    def named_plans(self) -> dict[str, int]:
        """Plans the report names, by role."""
        s = self.search
        roles = {
            "current": self.current,
            "recommended": s.recommended,
            "cheapest_reaching_targets": s.cheapest_reaching,
            "best_within_budget": s.best_within_budget,
            "best_overall": s.best_overall,
        }
        return {role: index for role, index in roles.items() if index is not None}
