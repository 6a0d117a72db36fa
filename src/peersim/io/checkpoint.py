"""Finished work kept on disk as it finishes, so that an interrupted experiment resumes where it stopped.

An experiment given an output directory keeps every finished unit of work (a
sample point, some replicates of a plan) in ``DIR/checkpoint/``::

    DIR/checkpoint/manifest.json          the key: what the kept numbers depend on
    DIR/checkpoint/part-000000.parquet    rows finished since the part before

Rows are buffered and written as a new part at most every
:data:`FLUSH_SECONDS`, and always when the work ends or stops (Ctrl-C), so an
interruption loses nothing and a crash only the last seconds. Each part is
written to a hidden name and renamed (:func:`peersim.io.files.write_parquet`),
so a reader never sees half a part. A reader concatenates the parts; a row kept
twice (written again around an interruption) is the same row, and only one is
used. Past :data:`MAX_PARTS` parts they are merged into one.

The manifest holds the experiment's key: everything its numbers depend on
(scenario hash, factors or lever grid, seed, design, posterior, peersim
version and model source), as the experiment chooses. A checkpoint kept under
another key is refused, naming the first difference, unless ``force``, which
discards it. Nothing is written until the first rows are kept.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.errors import PeersimInputError
from peersim.io.files import atomic_write, write_parquet

CHECKPOINT = "checkpoint"
"""Name of the checkpoint folder inside an output directory (declared as owned by its experiment)."""
MANIFEST = "manifest.json"
"""The checkpoint's manifest: its format and key."""
FORMAT = "peersim-checkpoint"
FORMAT_VERSION = 1
FLUSH_SECONDS = 2.0
"""Longest time (seconds) finished rows wait in memory before they are written as a part."""
MAX_PARTS = 64
"""Parts beyond which :meth:`Checkpoint.flush` merges them all into one."""


def digest(*parts: bytes) -> str:
    """Return a 16-hex-digit SHA-256 digest of ``parts``."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part)
    return hashed.hexdigest()[:16]


class Checkpoint:
    """The finished rows of one experiment in ``out/checkpoint`` (see the module docstring).

    Open one with :meth:`open`; read what an earlier run kept with
    :meth:`read`; keep rows with :meth:`add` and write those waiting with :meth:`flush`.

    Parameters
    ----------
    out
        The experiment's output directory.
    key
        What the kept numbers depend on (JSON-ready values), compared field by field.
    index
        Columns naming a row (``point``, ``replicate``...): a row kept twice counts once.
    """

    def __init__(self, out: Path, key: Mapping[str, Any], index: Sequence[str]) -> None:
        self.path = out / CHECKPOINT
        self.key = dict(key)
        self.index = tuple(index)
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_units = 0
        self._units_written = 0
        self._last_flush = -float("inf")
        self._broken: str | None = None

    @classmethod
    def open(
        cls,
        out: Path,
        key: Mapping[str, Any],
        index: Sequence[str],
        labels: Mapping[str, str],
        unit: str,
        force: bool = False,
    ) -> Checkpoint:
        """Open the checkpoint of ``out`` for ``key``; refuse one kept under another key unless ``force``.

        Parameters
        ----------
        out, key, index
            As for the class.
        labels
            How a message names each field of ``key`` (an API term in backticks, or words).
        unit
            What a row of work is called in messages (``"sample points"``, ``"plan runs"``).
        force
            Discard a checkpoint kept under another key (or unreadable) instead of refusing it.

        Raises
        ------
        PeersimInputError
            If ``out`` keeps a checkpoint of other work and ``force`` is not set:
            naming the first field that differs, its value there and now.
        """
        checkpoint = cls(out, key, index)
        problem = checkpoint._mismatch(labels, unit)
        if problem is not None:
            if not force:
                raise PeersimInputError(
                    f"{problem}; use another directory for `out`, "
                    "or `force=True` to discard them and start again"
                )
            checkpoint.discard()
        return checkpoint

    def discard(self) -> None:
        """Remove the checkpoint from disk (a folder, or whatever else holds its name)."""
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        else:
            self.path.unlink(missing_ok=True)

    def _mismatch(self, labels: Mapping[str, str], unit: str) -> str | None:
        """Say why the checkpoint on disk cannot be resumed under this key (``None``: it can, or none)."""
        file = self.path / MANIFEST
        if not self.path.exists():
            return None
        where = f"`out` {self.path.parent}: {CHECKPOINT}/"
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            return f"{where} is not a readable peersim checkpoint ({error})"
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            return f"{where} is not a peersim checkpoint"
        if manifest.get("format_version") != FORMAT_VERSION:
            found = manifest.get("format_version")
            return f"{where} was kept in checkpoint format {found}, not {FORMAT_VERSION}"
        kept = manifest.get("key", {})
        for name, value in self.key.items():
            if kept.get(name) != _jsonable(value):
                label = labels.get(name, name)
                return (
                    f"{where} keeps the finished {unit} of other work: {label} "
                    f"{_shown(kept.get(name))} there, {_shown(value)} now"
                )
        return None

    # -- reading ---------------------------------------------------------------------------

    def parts(self) -> list[Path]:
        """Return the part files, in the order they were written."""
        if not self.path.is_dir():
            return []
        return sorted(self.path.glob("part-*.parquet"))

    def read(self) -> pd.DataFrame | None:
        """Every row kept so far (each once), or ``None`` if none.

        A part that cannot be read (damaged on disk) is warned about and removed;
        its rows are computed again.
        """
        frames = []
        for part in self.parts():
            try:
                frames.append(pd.read_parquet(part))
            except Exception as error:  # pyarrow raises its own types for a damaged file
                warnings.warn(
                    f"{part}: an unreadable checkpoint part ({type(error).__name__}) was removed; "
                    "its work is done again",
                    stacklevel=2,
                )
                part.unlink(missing_ok=True)
        if not frames:
            return None
        rows = pd.concat(frames, ignore_index=True)
        return rows.drop_duplicates(subset=list(self.index), keep="last", ignore_index=True)

    # -- writing ---------------------------------------------------------------------------

    @property
    def units_written(self) -> int:
        """Units of work (as counted by :meth:`add`) this process has written to disk."""
        return self._units_written

    def add(self, columns: Mapping[str, np.ndarray], units: int = 1) -> None:
        """Keep rows given as equal-length columns, ``units`` units of work in all.

        They are written now, with those waiting, if :data:`FLUSH_SECONDS` have
        passed since the last write.
        """
        self._pending.append({name: np.asarray(values) for name, values in columns.items()})
        self._pending_units += units
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write every row waiting as one new part (then merge the parts if there are too many).

        If the disk refuses, a warning says so once and nothing more is kept
        on disk: the work carries on, and its final outputs are written (or
        kept elsewhere) as usual.
        """
        self._last_flush = time.monotonic()
        if not self._pending or self._broken is not None:
            return
        names = list(self._pending[0])
        rows = pd.DataFrame({name: np.concatenate([part[name] for part in self._pending]) for name in names})
        try:
            self._write_part(rows)
            self._pending = []
            self._units_written += self._pending_units
            self._pending_units = 0
            if len(self.parts()) > MAX_PARTS:
                self._merge()
        except OSError as error:
            self._broken = error.strerror or str(error)
            warnings.warn(
                f"{self.path}: finished work can no longer be kept here ({self._broken}); "
                "carrying on without it, so an interruption now would lose it",
                stacklevel=2,
            )

    def _write_part(self, rows: pd.DataFrame) -> None:
        if not (self.path / MANIFEST).exists():
            self.path.mkdir(parents=True, exist_ok=True)
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "key": _jsonable(self.key),
            }
            atomic_write(self.path / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        parts = self.parts()
        number = int(parts[-1].stem.removeprefix("part-")) + 1 if parts else 0
        write_parquet(self.path / f"part-{number:06d}.parquet", rows)

    def _merge(self) -> None:
        """Write every part's rows as one new part, then remove the old ones (a crash between keeps both)."""
        old = self.parts()
        rows = self.read()
        if rows is None:
            return
        self._write_part(rows)
        for part in old:
            part.unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists), so kept and new keys compare equal."""
    return json.loads(json.dumps(value))


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)
