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

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from peersim.errors import OutputsNotWritten, PeersimInputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

T = TypeVar("T")


def existing_file(path: str | Path, error: type[PeersimInputError] = PeersimInputError) -> Path:
    """Return ``path`` if it is a file; raise ``error`` naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if not path.is_file():
        raise error(f"{path}: not a file")
    return path


BOM = "\ufeff"
"""The UTF-8 byte-order mark some Windows editors put at the start of a file."""


def read_text_file(path: str | Path, error: type[PeersimInputError] = PeersimInputError) -> str:
    """Return the UTF-8 text of an existing file, without a byte-order mark.

    Raises
    ------
    PeersimInputError
        As ``error``, naming the file: missing, not a file, unreadable, or not
        UTF-8 text (naming the first byte that is not).
    """
    path = existing_file(path, error)
    try:
        return path.read_text(encoding="utf-8").removeprefix(BOM)
    except UnicodeDecodeError as problem:
        byte = problem.object[problem.start : problem.start + 1].hex()
        raise error(
            f"{path}: cannot be read as UTF-8 text (byte 0x{byte} is not UTF-8); save it as UTF-8"
        ) from None
    except OSError as problem:
        raise error(f"{path}: cannot be read ({problem.strerror or problem})") from None


def parse_toml(text: str, source: str, error: type[PeersimInputError] = PeersimInputError) -> dict[str, Any]:
    """Parse TOML text, ignoring a leading byte-order mark.

    Raises
    ------
    PeersimInputError
        As ``error``, naming ``source`` and the line and column, if the text is
        not valid TOML.
    """
    try:
        return tomllib.loads(text.removeprefix(BOM))
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


def check_writable(path: Path, term: str = "`out`") -> None:
    """Refuse an output directory that cannot be created and written.

    The nearest existing ancestor must be a directory, and creating ``path`` and
    a file in it must succeed: that catches a path under a regular file, a
    read-only file system, ``/proc`` and missing permissions. Whatever the probe
    creates is removed again, so checking leaves no trace.

    Raises
    ------
    PeersimInputError
        Naming ``term``, the path and the reason.
    """
    missing: list[Path] = []
    existing = path
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise PeersimInputError(f"{term} {path}: {where}, not a directory")
    created: list[Path] = []
    try:
        for directory in reversed(missing):
            directory.mkdir()
            created.append(directory)
        probe = path / f".peersim-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as problem:
        reason = problem.strerror or str(problem)
        raise PeersimInputError(f"{term} {path}: cannot be created or written here ({reason})") from None
    finally:
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()


def foreign_files(path: Path, names: Sequence[str], owned: Sequence[str] = ()) -> list[str]:
    """Names of the visible entries in directory ``path`` that are neither ``names`` nor ``owned``."""
    if not path.is_dir():
        return []
    known = {*names, *owned}
    return sorted(
        entry.name for entry in path.iterdir() if entry.name not in known and not entry.name.startswith(".")
    )


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")


@dataclass(frozen=True)
class OutputDirectory:
    """A directory peersim may write figures or tables into.

    Parameters
    ----------
    path
        The directory; created when the first file is written.
    force
        Allow replacing files peersim would write that already exist, and writing
        into a directory that holds other files.
    """

    path: Path
    force: bool = False

    @classmethod
    def checked(
        cls, out: Path | str | None, names: Sequence[str], force: bool = False, owned: Sequence[str] = ()
    ) -> OutputDirectory | None:
        """Return ``out`` checked for writing ``names`` (see :meth:`check`); ``None`` without one."""
        if out is None:
            return None
        directory = cls(Path(out), force=force)
        directory.check(names, owned=owned)
        return directory

    def check(self, names: Sequence[str], owned: Sequence[str] = (), foreign_ok: bool = False) -> None:
        """Refuse writing ``names`` here unless the directory is usable and nothing is lost.

        Parameters
        ----------
        names
            Files (or folders) the command will write.
        owned
            Other entries that belong to the command's outputs (an earlier
            run's partial results, for example) and are not a reason to refuse.
        foreign_ok
            Allow other files in the directory (a run store receiving its figures).

        Raises
        ------
        PeersimInputError
            If the path cannot be created or written (under a file, read-only,
            ``/proc``), if it holds ``names`` without ``force``, or if it holds
            other files without ``force`` or ``foreign_ok``: with a message naming
            the directory and the files.
        """
        check_writable(self.path)
        clashes = [name for name in names if (self.path / name).exists()]
        if clashes and not self.force:
            raise PeersimInputError(
                f"`out` {self.path}: already holds {_listed(clashes)}; use `force=True` to replace them"
            )
        others = [] if foreign_ok or self.force else foreign_files(self.path, names, owned)
        if others:
            raise PeersimInputError(
                f"`out` {self.path}: holds files that are not peersim's outputs ({_listed(others)}); "
                "choose a new or empty directory, or use `force=True` to write among them"
            )

    def file(self, name: str) -> Path:
        """Create the directory if needed and return the path of ``name`` in it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name

    def write_all(self, write: Callable[[OutputDirectory], T]) -> T:
        """Run ``write(self)``; if the disk refuses, write everything to a new temporary directory.

        Raises
        ------
        OutputsNotWritten
            When writing here failed, naming where the outputs were kept instead.
        """
        try:
            return write(self)
        except OSError as problem:
            try:
                kept: Path | None = Path(tempfile.mkdtemp(prefix="peersim-kept-"))
                assert kept is not None
                write(OutputDirectory(kept, force=True))
            except OSError:
                kept = None
            raise OutputsNotWritten(self.path, problem, kept) from None
