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
any moment (Ctrl-C, a crash) is consistent, and running the same command again
runs only the replicates it lacks.

A store belongs to one scenario (by the hash of its validated content), one
base seed and one peersim version; anything else is refused rather than mixed
in, and only ``force`` replaces it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.overrides import ScenarioSource
from peersim.core.results import TABLES
from peersim.ensemble.batches import BatchOutput
from peersim.errors import PeersimInputError
from peersim.io.files import atomic_write
from peersim.io.provenance import model_source_digest, package_versions

MANIFEST = "manifest.json"
FAILURES = "failures"
FORMAT = "peersim-run-store"
FORMAT_VERSION = 1
DERIVED_FILES = ("summary.csv", "summary.json", "summary.png", "trajectories.png", "outcomes.png")
"""Files peersim derives from a store and may rewrite inside it."""


class RunStoreError(PeersimInputError):
    """A run store that cannot be used as asked (another scenario or seed, damaged)."""


def part_name(first: int) -> str:
    """File name of the batch whose lowest replicate is ``first``."""
    return f"part-{first:06d}.parquet"


class RunStore:
    """A run store directory (see the module docstring).

    Open one with :meth:`open_for_writing` (creates, resumes or refuses) or
    :meth:`open` (read only). It is a :class:`~peersim.ensemble.batches.ResultSink`.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
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
            version, and peersim's own files in a directory that is not a store.
        posterior
            Fingerprint of the posterior mechanism strengths are drawn from, or
            ``None`` for point values; a store never mixes the two.

        Raises
        ------
        RunStoreError
            If ``path`` is a file, is a store for something else, or holds
            peersim output files without being a store, and ``force`` is not set.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunStoreError(f"`out` {path}: exists and is not a directory")
        wanted = _new_manifest(source, seed, tables, posterior)
        if (path / MANIFEST).exists():
            try:
                manifest = _read_manifest(path)
            except RunStoreError as error:
                problem: str | None = str(error)
            else:
                problem = _mismatch(manifest, wanted, path)
                if problem is None:
                    store = cls(path, manifest)
                    store._tidy()
                    return store
            if not force:
                raise RunStoreError(
                    f"{problem}; use another directory for `out`, or `force=True` to replace the store"
                )
        else:
            clashes = [name for name in _owned_names() if (path / name).exists()]
            if clashes and not force:
                shown = ", ".join(clashes[:3]) + (" ..." if len(clashes) > 3 else "")
                raise RunStoreError(
                    f"`out` {path}: already holds {shown} but is not a run store; "
                    "use `force=True` to replace them, or another directory"
                )
        _remove_owned(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write(path / MANIFEST, (json.dumps(wanted, indent=2) + "\n").encode())
        return cls(path, wanted)

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
        """Replicates whose batch is committed."""
        if self._completed is None:
            import pyarrow.parquet as pq

            self._completed = {
                int(r)
                for f in self._files("metrics")
                for r in pq.read_table(f, columns=["replicate"]).column(0).to_pylist()
            }
        return set(self._completed)

    def add(self, output: BatchOutput) -> None:
        """Write a finished batch: each table atomically, ``metrics`` last; then its failures."""
        if output.tables:
            name = part_name(output.first)
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
                atomic_write(
                    failures / _failure_name(failure.replicate), (json.dumps(data, indent=2) + "\n").encode()
                )

    # -- reading ---------------------------------------------------------------------------

    def failures(self) -> list[dict[str, Any]]:
        """Failure records of replicates that raised and have not finished since."""
        directory = self.path / FAILURES
        if not directory.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(directory.glob("replicate-*.json"))]

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

        Notes
        -----
        Files are read one at a time into compact arrays (text as integer
        codes), so reading millions of rows costs little more than the rows.
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
        return _read_compact(files, columns, condition, categorical)

    def _files(self, table: str) -> list[Path]:
        """Return the committed files of ``table``: those whose batch has a ``metrics`` file."""
        committed = {p.name for p in (self.path / "metrics").glob("part-*.parquet")}
        return sorted(p for p in (self.path / table).glob("part-*.parquet") if p.name in committed)

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


def _read_compact(
    files: Sequence[Path], columns: Sequence[str] | None, condition: Any, categorical: bool
) -> pd.DataFrame:
    """Read Parquet files one by one, text as dictionary arrays that pyarrow unifies across files."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = []
    for file in files:
        part = pq.read_table(file, columns=list(columns) if columns else None, filters=condition)
        encoded = {
            name: pc.dictionary_encode(column) if _is_text(column.type) else column
            for name, column in zip(part.column_names, part.columns, strict=True)
        }
        parts.append(pa.table(encoded))
    frame = pa.concat_tables(parts).unify_dictionaries().combine_chunks().to_pandas()
    if not categorical:
        for name in frame.columns:
            if isinstance(frame[name].dtype, pd.CategoricalDtype):
                frame[name] = frame[name].astype("str")
    if "replicate" in frame.columns:
        order = np.argsort(frame["replicate"].to_numpy(), kind="stable")
        frame = frame.take(order).reset_index(drop=True)
    return frame


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
