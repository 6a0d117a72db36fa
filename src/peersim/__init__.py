"""peersim: an agent-based model of how peer support for discharge is implemented.

The public API is small: build or load a :class:`Scenario`, then call
:func:`run` with a seed to get a :class:`RunResult` of tidy tables.
"""

from peersim.api import run, run_replicates
from peersim.compare import compare_scenarios
from peersim.errors import PeersimInputError, ScenarioError
from peersim.model import PeerSupportModel
from peersim.results import METRICS, RunResult
from peersim.scenario import Scenario
from peersim.scenario_io import default_scenario, load_scenario, parse_scenario

__all__ = [
    "METRICS",
    "PeerSupportModel",
    "PeersimInputError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "compare_scenarios",
    "default_scenario",
    "load_scenario",
    "parse_scenario",
    "run",
    "run_replicates",
]
