"""Reading input files: one place for the missing-file and malformed-TOML messages.

Every input file (scenario, targets, factors, costs, posterior) is read through
these helpers, so each kind of failure gets the same clear message naming the
file, raised as the caller's own :class:`~peersim.errors.PeersimInputError`
subclass.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from peersim.errors import PeersimInputError


def existing_file(path: str | Path, error: type[PeersimInputError] = PeersimInputError) -> Path:
    """Return ``path`` if it is a file; raise ``error`` naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if not path.is_file():
        raise error(f"{path}: not a file")
    return path


def read_text_file(path: str | Path, error: type[PeersimInputError] = PeersimInputError) -> str:
    """Return the UTF-8 text of an existing file; raise ``error`` naming it otherwise."""
    path = existing_file(path, error)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot be read ({problem})") from None


def parse_toml(text: str, source: str, error: type[PeersimInputError] = PeersimInputError) -> dict[str, Any]:
    """Parse TOML text; raise ``error`` naming ``source`` and the position if it is malformed."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{source}: malformed TOML: {problem}") from None
