"""The run store: a directory of Parquet tables, appended to as replicates finish.

Layout::

    DIR/manifest.json             scenario text and hash, base seed, versions, creation time
    DIR/metrics/part-000000.parquet   one file per finished batch of replicates, per table
    DIR/outcomes/...  DIR/staff/...  DIR/timeseries/...  DIR/patients/...
    DIR/failures/replicate-000007.json   a replicate that raised: seed and error text

Each table directory is a Parquet dataset readable by pandas, pyarrow, polars or
DuckDB. Every file is written to a hidden temporary name and then renamed, and
a batch's ``metrics`` file is written last: it is the batch's commit record.
Files of a batch without one (an interrupted write) are ignored by readers and
removed when the store is next opened for writing. So a store interrupted at
any moment (Ctrl-C, a crash, a full disk) is consistent, and running the same
command again runs only the replicates it lacks.

A part damaged afterwards (a truncated copy, a disk error) is named by every
reader; reopening with ``repair`` drops the batch it belongs to from every
table, so its replicates run again and the store stays consistent.

A store belongs to one scenario (by the hash of its validated content), one
base seed and one peersim version; anything else is refused rather than mixed
in, and only ``force`` replaces it.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.overrides import ScenarioSource
from peersim.core.results import TABLES
from peersim.ensemble.batches import BatchOutput
from peersim.errors import PeersimInputError, StoreNotWritten
from peersim.io.files import atomic_write, check_writable, foreign_files
from peersim.io.provenance import model_source_digest, package_versions

PACKAGE = str(Path(__file__).resolve().parents[1])
"""peersim's own folder: warnings name the caller's line outside it."""
MANIFEST = "manifest.json"
FAILURES = "failures"
FORMAT = "peersim-run-store"
FORMAT_VERSION = 1
DERIVED_FILES = (
    "summary.csv",
    "summary.json",
    "summary.png",
    "trajectories.png",
    "outcomes.png",
    "years.png",
)
"""Files peersim derives from a store and may rewrite inside it."""


PARQUET_MAGIC = b"PAR1"
"""The four bytes a whole Parquet file ends with (a truncated one almost never does)."""
SHOWN = 3
"""Damaged parts named in a message; the rest are counted."""


class RunStoreError(PeersimInputError):
    """A run store that cannot be used as asked (another scenario or seed, damaged)."""


class DamagedStoreError(RunStoreError):
    """A run store with part files that cannot be read (truncated, overwritten).

    Attributes
    ----------
    parts
        The damaged files, relative to the store (``timeseries/part-000010.parquet``).
    """

    def __init__(self, message: str, parts: Sequence[str]) -> None:
        self.parts = list(parts)
        super().__init__(message)


def part_name(first: int) -> str:
    """File name of the batch whose lowest replicate is ``first``."""
    return f"part-{first:06d}.parquet"


class RunStore:
    """A run store directory (see the module docstring).

    Open one with :meth:`open_for_writing` (creates, resumes or refuses) or
    :meth:`open` (read only). It is a :class:`~peersim.ensemble.batches.ResultSink`.
    """

    def __init__(self, path: Path, manifest: dict[str, Any], writing: bool = False) -> None:
        self.path = path
        self.manifest = manifest
        self._writing = writing  # opened to run into: advice names `out` and `repair=True`
        self._completed: set[int] | None = None  # read from the files once, then kept up to date

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        """Open an existing store for reading.

        Raises
        ------
        RunStoreError
            If ``path`` holds no readable run store manifest.
        """
        path = Path(path)
        return cls(path, _read_manifest(path))

    @classmethod
    def open_for_writing(
        cls,
        path: str | Path,
        source: ScenarioSource,
        seed: int,
        tables: Sequence[str] = TABLES,
        force: bool = False,
        posterior: str | None = None,
        repair: bool = False,
    ) -> RunStore:
        """Create a store, or reopen one written for the same scenario and seed.

        Parameters
        ----------
        path
            The store directory; created if missing.
        source
            The scenario with its file text and overrides (kept in the manifest).
        seed
            Base seed of the ensemble.
        tables
            Tables to keep (all by default).
        force
            Replace a store written for another scenario, seed or peersim
            version, and peersim's own files in a directory that is not a store;
            write a new store into a directory that holds other files.
        posterior
            Fingerprint of the posterior mechanism strengths are drawn from, or
            ``None`` for point values; a store never mixes the two.
        repair
            Drop the batches of damaged part files (from every table, with a
            warning naming them), so that their replicates run again.

        Raises
        ------
        PeersimInputError
            If ``path`` cannot be created or written (under a regular file, a
            read-only file system, ``/proc``).
        RunStoreError
            If ``path`` is a store for something else, holds peersim output
            files without being a store, or holds unrelated files, and
            ``force`` is not set.
        DamagedStoreError
            If a part file of the store cannot be read and ``repair`` is not set.
        """
        path = Path(path)
        check_writable(path)  # a file, read-only or /proc: refused before any simulation
        wanted = _new_manifest(source, seed, tables, posterior)
        if (path / MANIFEST).exists():
            try:
                manifest = _read_manifest(path)
            except RunStoreError as error:
                problem: str | None = str(error)
            else:
                problem = _mismatch(manifest, wanted, path)
                if problem is None:
                    store = cls(path, manifest, writing=True)
                    store._tidy()
                    store._check_parts(repair)
                    return store
            if not force:
                raise RunStoreError(
                    f"{problem}; use another directory for `out`, or `force=True` to replace the store"
                )
        elif not force:
            clashes = [name for name in _owned_names() if (path / name).exists()]
            if clashes:
                raise RunStoreError(
                    f"`out` {path}: already holds {_listed(clashes)} but is not a run store; "
                    "use `force=True` to replace them, or another directory"
                )
            others = foreign_files(path, _owned_names())
            if others:
                raise RunStoreError(
                    f"`out` {path}: holds files that are not a run store ({_listed(others)}); "
                    "choose a new or empty directory, or use `force=True` to write the store among them"
                )
        _remove_owned(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write(path / MANIFEST, (json.dumps(wanted, indent=2) + "\n").encode())
        return cls(path, wanted, writing=True)

    # -- the ResultSink protocol -------------------------------------------------------------

    @property
    def tables(self) -> tuple[str, ...]:
        """Tables this store keeps."""
        return tuple(self.manifest["tables"])

    @property
    def seed(self) -> int:
        """Base seed of the ensemble."""
        return int(self.manifest["seed"])

    def completed(self) -> set[int]:
        """Replicates whose batch is committed (a set as large as what the store holds).

        Raises
        ------
        DamagedStoreError
            If a ``metrics`` part cannot be read.
        """
        if self._completed is None:
            held: set[int] = set()
            for file in self._files("metrics"):
                held.update(self._read_part(file, ["replicate"]).column(0).to_pylist())
            self._completed = held
        return set(self._completed)

    def add(self, output: BatchOutput) -> None:
        """Write a finished batch: each table atomically, ``metrics`` last; then its failures.

        Raises
        ------
        StoreNotWritten
            If the disk refuses a write (full, read-only): the batch's files
            written so far are removed again, and the message says how many
            replicates the store keeps and that running again resumes.
        """
        name = part_name(output.first)
        try:
            if output.tables:
                for table in sorted(output.tables, key=lambda t: t == "metrics"):
                    directory = self.path / table
                    directory.mkdir(exist_ok=True)
                    atomic_write(directory / name, output.tables[table])
                if self._completed is not None:
                    self._completed.update(output.replicates)
            failures = self.path / FAILURES
            for replicate in output.replicates:
                (failures / _failure_name(replicate)).unlink(missing_ok=True)
            if output.failures:
                failures.mkdir(exist_ok=True)
                for failure in output.failures:
                    data = {**failure.record(), "time": datetime.now(UTC).isoformat(timespec="seconds")}
                    text = json.dumps(data, indent=2) + "\n"
                    atomic_write(failures / _failure_name(failure.replicate), text.encode())
        except OSError as problem:
            if not (self.path / "metrics" / name).exists():  # not committed: free the space its tables took
                for table in self.tables:
                    (self.path / table / name).unlink(missing_ok=True)
            raise StoreNotWritten(self.path, problem, len(self.completed())) from None

    # -- reading ---------------------------------------------------------------------------

    def failures(self) -> list[dict[str, Any]]:
        """Failure records of replicates that raised and have not finished since.

        A record that cannot be read (a damaged file) is left out: it only
        describes a replicate the store does not hold, which runs again anyway.
        """
        directory = self.path / FAILURES
        if not directory.is_dir():
            return []
        records = []
        for file in sorted(directory.glob("replicate-*.json")):
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and isinstance(record.get("replicate"), int):
                records.append(record)
        return records

    def read(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        replicates: int | None = None,
        where: dict[str, Iterable[Any]] | None = None,
        categorical: bool = False,
    ) -> pd.DataFrame:
        """Read rows of one table from every committed batch.

        Parameters
        ----------
        table
            One of the store's tables.
        columns
            Columns to read (all by default).
        replicates
            Keep replicates ``0 .. replicates - 1`` only.
        where
            Keep rows whose column value is one of the given values, e.g.
            ``{"metric": ["ward_acceptance"]}``; filtered while reading, so only
            the matching rows are ever in memory.
        categorical
            Return text columns (site, metric, arm, ...) as categoricals: a
            fraction of the memory for the millions of rows of a large store.

        Returns
        -------
        pandas.DataFrame
            The rows, in replicate order when ``replicate`` is among the columns
            (so that sums over replicates do not depend on which worker
            finished first).

        Raises
        ------
        RunStoreError
            If the store does not keep ``table`` or holds no finished replicate.
        DamagedStoreError
            If a part file cannot be read, naming it (and any other damaged part).

        Notes
        -----
        Files are read one at a time into numpy arrays (text as integer codes
        of one dictionary per column), joined once at the end (seen: a peak
        of 96 MB above the start for 760,000 ``metrics`` rows, against 159 MB
        when pyarrow joined the files). Summaries that need less than every
        row stream :meth:`parts` instead.
        """
        return _read_compact(self.parts(table, columns, replicates, where), categorical)

    def parts(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        replicates: int | None = None,
        where: dict[str, Iterable[Any]] | None = None,
    ) -> Iterator[Any]:
        """Yield the rows of one table a committed batch at a time, as pyarrow Tables (see :meth:`read`).

        For summaries that stream: memory holds one batch, whatever the store holds.

        Raises
        ------
        RunStoreError
            If the store does not keep ``table`` or holds no finished replicate.
        DamagedStoreError
            If a part file cannot be read.
        """
        if table not in self.tables:
            raise RunStoreError(
                f"{self.path}: the store holds no {table!r} table (it has {', '.join(self.tables)})"
            )
        files = self._files(table)
        if not files:
            raise RunStoreError(f"{self.path}: the store holds no finished replicate yet")
        import pyarrow.compute as pc

        condition = None
        for column, values in (where or {}).items():
            term = pc.field(column).isin(list(values))
            condition = term if condition is None else condition & term
        if replicates is not None:
            term = pc.field("replicate") < replicates
            condition = term if condition is None else condition & term
        for file in files:
            yield self._read_part(file, columns, condition)

    def _files(self, table: str) -> list[Path]:
        """Return the committed files of ``table``: those whose batch has a ``metrics`` file."""
        committed = {p.name for p in (self.path / "metrics").glob("part-*.parquet")}
        return sorted(p for p in (self.path / table).glob("part-*.parquet") if p.name in committed)

    def _read_part(self, file: Path, columns: Sequence[str] | None = None, condition: Any = None) -> Any:
        """Read one part file as a pyarrow Table; a damaged one raises :class:`DamagedStoreError`."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(file, columns=list(columns) if columns else None, filters=condition)
        except (pa.ArrowException, OSError) as error:
            first = file.relative_to(self.path).as_posix()
            found = [first, *(part for part in self.damaged() if part != first)]
            raise self._damage_error(found, _reason(error)) from None

    def damaged(self, thorough: bool = False) -> list[str]:
        """Return the committed part files that cannot be read, relative to the store, in table order.

        Parameters
        ----------
        thorough
            Read every part whole (what ``repair`` does); by default only check
            that each ends as a Parquet file does, which finds a truncated file
            in about 0.1 ms.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        found = []
        for table in self.tables:
            for file in self._files(table):
                try:
                    if thorough:
                        pq.read_table(file)
                    elif not _ends_as_parquet(file):
                        raise ValueError("no Parquet footer")
                except (pa.ArrowException, OSError, ValueError):
                    found.append(file.relative_to(self.path).as_posix())
        return found

    def _damage_error(self, parts: Sequence[str], reason: str = "") -> DamagedStoreError:
        listed = _listed(parts, SHOWN)
        what = f"part {listed} is" if len(parts) == 1 else f"{len(parts)} parts ({listed}) are"
        why = f" ({reason})" if reason else " (truncated or overwritten?)"
        if self._writing:
            where = f"`out` {self.path}"
            advice = "run again with `repair=True` to drop the damaged batch(es) from every table and run"
        else:
            where = str(self.path)
            advice = (
                "repair it by running the command that wrote it again with `repair=True`, which drops "
                "the damaged batch(es) from every table and runs"
            )
        return DamagedStoreError(f"{where}: {what} unreadable{why}; {advice} their replicates again", parts)

    def _check_parts(self, repair: bool) -> None:
        """Refuse a store with damaged parts, or with ``repair`` drop their batches from every table."""
        found = self.damaged(thorough=repair)
        if found and not repair:
            raise self._damage_error(found)
        if not found:
            return
        names = sorted({Path(part).name for part in found})
        for name in names:
            # metrics first: without its commit record the rest of the batch is invisible at once
            for table in sorted(self.tables, key=lambda t: t != "metrics"):
                (self.path / table / name).unlink(missing_ok=True)
        self._completed = None
        shown = _listed(found, SHOWN)
        warnings.warn(
            f"`out` {self.path}: dropped {len(names)} damaged batch(es) ({shown} unreadable); "
            "their replicates run again",
            UserWarning,
            skip_file_prefixes=(PACKAGE,),
        )

    def _tidy(self) -> None:
        """Remove temporary files and files of uncommitted batches (interrupted writes)."""
        committed = {p.name for p in (self.path / "metrics").glob("part-*.parquet")}
        for table in self.tables:
            directory = self.path / table
            for leftover in directory.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)
            for part in directory.glob("part-*.parquet"):
                if part.name not in committed:
                    part.unlink(missing_ok=True)
        for leftover in (self.path / FAILURES).glob(".*.tmp"):
            leftover.unlink(missing_ok=True)

    # -- description -----------------------------------------------------------------------

    @property
    def scenario_name(self) -> str:
        """Name of the store's scenario."""
        return str(self.manifest["scenario"]["name"])

    @property
    def site_names(self) -> list[str]:
        """Site names of the store's scenario, in scenario order."""
        return [site["name"] for site in self.manifest["scenario"]["validated"]["sites"]]


def _read_compact(tables: Iterable[Any], categorical: bool) -> pd.DataFrame:
    """Join pyarrow Tables read one by one into one DataFrame, text as codes of one dictionary per column.

    Each table is turned into numpy arrays at once (text columns into integer
    codes, with their values in order of first appearance, as
    ``unify_dictionaries`` orders them), so only the arrays are held until
    they are joined.
    """
    import pyarrow.compute as pc

    names: list[str] | None = None
    arrays: dict[str, list[np.ndarray]] = {}
    dictionaries: dict[str, dict[Any, int]] = {}
    for part in tables:
        names = list(part.column_names) if names is None else names
        for name, column in zip(part.column_names, part.columns, strict=True):
            if _is_text(column.type):
                encoded = pc.dictionary_encode(column.combine_chunks())
                known = dictionaries.setdefault(name, {})
                local = [known.setdefault(value, len(known)) for value in encoded.dictionary.to_pylist()]
                lookup = np.array([*local, -1], dtype=np.int32)  # the last entry stands for a missing value
                indices = encoded.indices.fill_null(len(local)).to_numpy()
                arrays.setdefault(name, []).append(lookup[indices])
            else:
                arrays.setdefault(name, []).append(column.to_numpy())
    if names is None:
        return pd.DataFrame()
    columns: dict[str, Any] = {}
    for name in names:
        joined = np.concatenate(arrays.pop(name))
        if name in dictionaries:
            categories = pd.Index(list(dictionaries.pop(name)))
            values = pd.Categorical.from_codes(joined, categories=categories)
            columns[name] = values if categorical else pd.Series(values).astype("str").to_numpy()
        else:
            columns[name] = joined
    frame = pd.DataFrame(columns)
    if "replicate" in frame.columns:
        order = np.argsort(frame["replicate"].to_numpy(), kind="stable")
        frame = frame.take(order).reset_index(drop=True)
    return frame


def _ends_as_parquet(file: Path) -> bool:
    """Whether ``file`` is long enough for a Parquet file and ends with its magic bytes."""
    with file.open("rb") as handle:
        size = handle.seek(0, 2)
        if size < 12:  # leading magic, footer length, trailing magic
            return False
        handle.seek(size - len(PARQUET_MAGIC))
        return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC


def _reason(error: BaseException) -> str:
    """Return the first sentence of a pyarrow or OS error, without the file name pyarrow repeats."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).split(". ")[0]
    return text.split(": ", 1)[1] if text.startswith("Could not open Parquet input source") else text


def _listed(names: Sequence[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _owned_names() -> list[str]:
    return [MANIFEST, FAILURES, *TABLES, *DERIVED_FILES]


def _remove_owned(path: Path) -> None:
    """Remove what peersim writes in a store directory, and nothing else."""
    for name in _owned_names():
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def _failure_name(replicate: int) -> str:
    return f"replicate-{replicate:06d}.json"


def _new_manifest(
    source: ScenarioSource, seed: int, tables: Sequence[str], posterior: str | None = None
) -> dict[str, Any]:
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise ValueError(f"unknown tables {unknown}; choose from {TABLES}")
    scenario = source.scenario
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "posterior": posterior,
        "tables": [t for t in TABLES if t in tables],
        "scenario": {
            "name": scenario.name,
            "hash": scenario.hash,
            "source": source.source,
            "overrides": list(source.overrides),
            "text": source.text,
            "validated": scenario.to_toml_dict(),
        },
        "versions": package_versions(),
        "model_source": model_source_digest(),
    }


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if path.is_file():
        raise RunStoreError(
            f"{path}: is a file, not a run store; a run store is the directory that `peersim run "
            "--out DIR` writes"
        )
    if not file.is_file():
        raise RunStoreError(
            f"{path}: not a run store (no {MANIFEST}); create one by running an ensemble with `out` {path}"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunStoreError(f"{file}: unreadable run store manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunStoreError(f"{file}: not a peersim run store manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RunStoreError(
            f"{file}: run store format {manifest.get('format_version')!r}; "
            f"this peersim reads format {FORMAT_VERSION}"
        )
    return manifest


def _mismatch(have: dict[str, Any], want: dict[str, Any], path: Path) -> str | None:
    """Say why a store written as ``have`` cannot take the runs described by ``want``."""
    old, new = have["scenario"], want["scenario"]
    if old["hash"] != new["hash"]:
        return (
            f"`out` {path}: this run store was written for scenario {old['name']!r} "
            f"(hash {old['hash']}, from {_described(old)}), not {new['name']!r} "
            f"(hash {new['hash']}, from {_described(new)})"
        )
    if have["seed"] != want["seed"]:
        return (
            f"`out` {path}: this run store was written with `seed` {have['seed']}, not `seed` {want['seed']}"
        )
    if have.get("posterior") != want.get("posterior"):
        return (
            f"`out` {path}: this run store was written with posterior {have.get('posterior') or 'none'}, "
            f"not {want.get('posterior') or 'none'} (`posterior` / `use_posterior=False`)"
        )
    old_version, new_version = have["versions"].get("peersim"), want["versions"]["peersim"]
    if old_version != new_version:
        return (
            f"`out` {path}: this run store was written by peersim {old_version}; "
            f"mixing in runs of peersim {new_version} could mix two versions of the model"
        )
    old_source, new_source = have.get("model_source"), want["model_source"]
    if old_source is not None and old_source != new_source:
        return (
            f"`out` {path}: this run store was written by other model code (source digest {old_source}, "
            f"now {new_source}); mixing in new runs would mix two versions of the model"
        )
    missing = [t for t in want["tables"] if t not in have["tables"]]
    if missing:
        return f"`out` {path}: this run store does not keep the {', '.join(missing)} table(s)"
    return None


def _described(scenario: dict[str, Any]) -> str:
    overrides = scenario.get("overrides") or []
    return scenario["source"] + (f" with `sets` {' '.join(overrides)}" if overrides else "")
