"""Old module paths of peersim 0.1, kept working for now: each warns once and forwards to its new home.

In 0.1 the package was flat (``peersim.scenario_io``, ``peersim.summary``, ...).
Importing one of those paths gives a small module that warns with a
:class:`DeprecationWarning` naming the new home, then hands on every name from
it. The table :data:`MOVED` lists them; the old paths go in peersim 0.3.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

MOVED: dict[str, tuple[str, ...]] = {
    "peersim.api": ("peersim.simulation",),
    "peersim.scenario": ("peersim.core.scenario",),
    "peersim.scenario_io": ("peersim.core.scenario_files", "peersim.io.inputs"),
    "peersim.parameters": ("peersim.core.parameters",),
    "peersim.streams": ("peersim.core.streams",),
    "peersim.overrides": ("peersim.core.overrides",),
    "peersim.reference": ("peersim.core.reference",),
    "peersim.results": ("peersim.core.results", "peersim.model.results", "peersim.io.provenance"),
    "peersim.summary": ("peersim.ensemble.summary", "peersim.stats"),
    "peersim.compare": ("peersim.ensemble.compare", "peersim.ensemble.workflow", "peersim.stats"),
    "peersim.runstore": ("peersim.ensemble.runstore", "peersim.io.files", "peersim.io.provenance"),
    "peersim.output": ("peersim.ensemble.summary", "peersim.ensemble.report", "peersim.io.files"),
    "peersim.plots": ("peersim.ensemble.figures",),
    "peersim.ensemble_plots": ("peersim.ensemble.figures",),
    "peersim.toml_io": ("peersim.io.files",),
    "peersim.provenance": ("peersim.io.provenance",),
    "peersim.calibration.posterior": ("peersim.uncertainty", "peersim.stats"),
    "peersim.calibration.targets": ("peersim.calibration.inputs",),
    "peersim.calibration.priors": ("peersim.calibration.inputs",),
    "peersim.calibration.model": ("peersim.calibration.evaluate",),
    "peersim.planning.costs": ("peersim.planning.inputs",),
    "peersim.planning.targets": ("peersim.planning.inputs", "peersim.stats"),
}
"""Each old module path and the modules its names now live in, searched in order."""

_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class MovedModules:
    """A meta path finder of the old module paths of :data:`MOVED` (consulted after the ordinary ones).

    It follows the finder and loader protocols without subclassing
    ``importlib.abc``, whose import costs ``peersim --help`` about 40 ms.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Return a spec for an old path of :data:`MOVED`, or ``None`` for any other module."""
        homes = MOVED.get(fullname)
        if homes is None:
            return None
        return ModuleSpec(fullname, cast("Loader", _Forwarder(homes)))


class _Forwarder:
    def __init__(self, homes: tuple[str, ...]) -> None:
        self.homes = homes

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} has moved to {' and '.join(self.homes)}; import from there "
            "(the old path will be removed in peersim 0.3)",
            DeprecationWarning,
            skip_file_prefixes=(_HERE, "<frozen importlib"),
        )
        homes = [importlib.import_module(name) for name in self.homes]

        def forward(name: str) -> Any:
            for home in homes:
                if hasattr(home, name):
                    return getattr(home, name)
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

        module.__getattr__ = forward  # type: ignore[method-assign]
