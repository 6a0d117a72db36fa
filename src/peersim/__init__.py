"""peersim: an agent-based model of how peer support for discharge is implemented.

The public API is small: build or load a :class:`Scenario`, then call
:func:`run` with a seed to get a :class:`RunResult` of tidy tables;
:func:`compare_scenarios` pairs what-ifs with a base on common random numbers,
and :class:`PeerSupportModel` is the Mesa model itself.

The names below are imported when first used, so that ``import peersim`` (and
``peersim --help``) does not wait for Mesa and pandas.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from peersim._compat import MovedModules

if TYPE_CHECKING:
    from peersim.core.results import METRICS as METRICS
    from peersim.core.results import RunResult as RunResult
    from peersim.core.scenario import Scenario as Scenario
    from peersim.core.scenario_files import default_scenario as default_scenario
    from peersim.core.scenario_files import load_scenario as load_scenario
    from peersim.core.scenario_files import parse_scenario as parse_scenario
    from peersim.ensemble.workflow import compare_scenarios as compare_scenarios
    from peersim.errors import PeersimInputError as PeersimInputError
    from peersim.errors import ScenarioError as ScenarioError
    from peersim.model import PeerSupportModel as PeerSupportModel
    from peersim.simulation import Runner as Runner
    from peersim.simulation import run as run
    from peersim.simulation import run_replicates as run_replicates

_PUBLIC: dict[str, str] = {
    "METRICS": "peersim.core.results",
    "PeerSupportModel": "peersim.model",
    "PeersimInputError": "peersim.errors",
    "RunResult": "peersim.core.results",
    "Runner": "peersim.simulation",
    "Scenario": "peersim.core.scenario",
    "ScenarioError": "peersim.errors",
    "compare_scenarios": "peersim.ensemble.workflow",
    "default_scenario": "peersim.core.scenario_files",
    "load_scenario": "peersim.core.scenario_files",
    "parse_scenario": "peersim.core.scenario_files",
    "run": "peersim.simulation",
    "run_replicates": "peersim.simulation",
}
"""Each public name and the module that defines it."""

__all__ = sorted(_PUBLIC)

if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(MovedModules())


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'peersim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
