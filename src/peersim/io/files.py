"""Reading input files and writing output files, each in one place.

Every input file (scenario, targets, factors, costs, posterior) is read through
:func:`read_text_file` and :func:`parse_toml`, so each kind of failure gets the
same clear message naming the file, raised as the caller's own
:class:`~peersim.errors.PeersimInputError` subclass. Every output file is
written through :func:`atomic_write` (or :func:`save_figure`): to a hidden
temporary name, then renamed, so a reader never sees half a file and an
interrupted write leaves the old file as it was. :class:`OutputDirectory`
refuses to replace files that exist unless told to.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peersim.errors import PeersimInputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


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


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a hidden temporary file and a rename; return ``path``."""
    return _replace_with(path, lambda temporary: temporary.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, text.encode("utf-8"))


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as a Parquet file (no index) atomically."""
    return _replace_with(path, lambda temporary: frame.to_parquet(temporary, index=False))


def save_figure(figure: Figure, path: Path, dpi: int = 120) -> Path:
    """Save ``figure`` as PNG atomically; return ``path``."""
    return _replace_with(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"))


def _replace_with(path: Path, write: Callable[[Path], object]) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class OutputDirectory:
    """A directory peersim may write figures or tables into.

    Parameters
    ----------
    path
        The directory; created when the first file is written.
    force
        Allow replacing files peersim would write that already exist.
    """

    path: Path
    force: bool = False

    def check(self, names: Sequence[str]) -> None:
        """Refuse writing ``names`` here if the path is a file or they exist without ``force``.

        Raises
        ------
        PeersimInputError
            With a message naming the directory and the clashing files.
        """
        if self.path.exists() and not self.path.is_dir():
            raise PeersimInputError(f"`out` {self.path}: exists and is not a directory")
        clashes = [name for name in names if (self.path / name).exists()]
        if clashes and not self.force:
            shown = ", ".join(clashes[:3]) + (" ..." if len(clashes) > 3 else "")
            raise PeersimInputError(
                f"`out` {self.path}: already holds {shown}; use `force=True` to replace them"
            )

    def file(self, name: str) -> Path:
        """Create the directory if needed and return the path of ``name`` in it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name
