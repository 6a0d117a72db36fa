"""What a simulated number depends on: the source of the model code that produced it.

The package version alone cannot tell two development checkouts apart (both say
``0.1.0``), so run stores, calibration databases and Dask clusters also compare
:func:`model_source_digest`, which changes whenever the code that turns a
scenario and a seed into results does.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from importlib.metadata import version

MODEL_MODULES = ("api.py", "parameters.py", "results.py", "scenario.py", "streams.py")
"""Modules outside :mod:`peersim.model` whose code shapes a run's numbers."""


@cache
def model_source_digest() -> str:
    """Return a 16-hex-digit digest of the source of :mod:`peersim.model` and :data:`MODEL_MODULES`."""
    digest = hashlib.sha256()
    model = resources.files("peersim.model")
    package = resources.files("peersim")
    files = [
        (f"model/{entry.name}", entry)
        for entry in sorted(model.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".py")
    ]
    files += [(name, package / name) for name in MODEL_MODULES]
    for name, entry in files:
        digest.update(name.encode())
        digest.update(entry.read_bytes())
    return digest.hexdigest()[:16]


def code_identity() -> tuple[str, str]:
    """Return ``(peersim version, model source digest)`` of the code running here."""
    return version("peersim"), model_source_digest()
