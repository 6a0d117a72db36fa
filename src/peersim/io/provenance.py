"""What produced a number: the peersim version, its dependencies and the source of the model.

The package version alone cannot tell two development checkouts apart (both say
``0.1.0``), so run stores, calibration databases and Dask clusters also compare
:func:`model_source_digest`, which changes whenever the code that turns a
scenario and a seed into results does: every module of :mod:`peersim.core`
(what a run reads) and :mod:`peersim.model` (the model and its result tables).
"""

from __future__ import annotations

import hashlib
import platform
from functools import cache
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from importlib.resources.abc import Traversable

RUN_PACKAGES = ("core", "model")
"""Packages of peersim whose source shapes a run's numbers; hashed folder by folder."""

DEPENDENCIES = ("mesa", "numpy", "pandas", "pyarrow", "pydantic", "scipy", "dask", "distributed")
"""Packages whose versions a run store records beside peersim's."""


@cache
def package_version() -> str:
    """Return the installed peersim version (looked up once per process)."""
    return version("peersim")


def package_versions() -> dict[str, str]:
    """Versions of Python, peersim and the packages its numbers depend on."""
    versions = {"python": platform.python_version(), "peersim": package_version()}
    for name in DEPENDENCIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


@cache
def model_source_digest() -> str:
    """Return a 16-hex-digit digest of the source of every module in :data:`RUN_PACKAGES`."""
    digest = hashlib.sha256()
    package = resources.files("peersim")
    for folder in RUN_PACKAGES:
        for name, entry in _python_files(package / folder, folder):
            digest.update(name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:16]


def _python_files(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """Every ``.py`` file under ``folder``, sorted by its path relative to the package."""
    found: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        name = f"{prefix}/{entry.name}"
        if entry.is_dir():
            found += _python_files(entry, name)
        elif entry.name.endswith(".py"):
            found.append((name, entry))
    return sorted(found, key=lambda item: item[0])


def code_identity() -> tuple[str, str]:
    """Return ``(peersim version, model source digest)`` of the code running here."""
    return package_version(), model_source_digest()
