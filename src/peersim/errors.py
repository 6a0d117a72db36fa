"""Exceptions that carry a message meant for the person who wrote the input.

Messages speak in the terms of the Python API: an argument is named in
backticks, with its value where that is the advice (`` `out` ``,
`` `force=True` ``, `` `executor="dask"` ``). The command line translates these
into its options (``--out``, ``--force``, ``--executor dask``), so each
interface gives advice about what its user actually typed.
"""

from __future__ import annotations

from pathlib import Path


class PeersimInputError(ValueError):
    """Bad user input: a missing file, malformed TOML, an unknown key or a bad value.

    The message names the file and the key path, and is complete on its own; the
    CLI prints it without a traceback and exits non-zero.
    """


class ScenarioError(PeersimInputError):
    """A scenario file or scenario data that cannot be used."""


class RunsFailedError(RuntimeError):
    """Some simulations raised (a model error, not bad input); the message gives the first."""


class Interrupted(Exception):
    """Work stopped by Ctrl-C after what had finished was kept.

    Attributes
    ----------
    kept
        Units of work kept (replicates, sample points, ...).
    total
        Units asked for.
    resume
        How to carry on, in API terms (``None`` when nothing can be resumed).
    """

    def __init__(self, kept: int, total: int, unit: str = "replicate(s)", resume: str | None = None) -> None:
        self.kept = kept
        self.total = total
        self.unit = unit
        self.resume = resume
        super().__init__(f"interrupted; {kept} of {total} {unit} kept" + (f". {resume}" if resume else ""))


class OutputsNotWritten(Exception):
    """The work finished but its outputs could not be written where asked.

    Attributes
    ----------
    path
        The output directory asked for.
    kept
        Where the outputs were written instead, or ``None`` if they could not be.
    """

    def __init__(self, path: Path, problem: OSError, kept: Path | None) -> None:
        self.path = path
        self.kept = kept
        reason = problem.strerror or str(problem)
        where = f"{problem.filename}: " if problem.filename else ""
        text = f"`out` {path}: the outputs could not be written ({where}{reason}); "
        text += f"they were kept in {kept} instead" if kept else "they could not be kept elsewhere either"
        super().__init__(text)


class StoreNotWritten(OutputsNotWritten):
    """A run store could not take what finished (disk full, file system gone read-only).

    What was committed before stays in the store, which is consistent: running
    the same command again resumes it (the CLI exits 4, as for other outputs
    not written).

    Attributes
    ----------
    path
        The run store.
    kept
        The run store, which keeps ``replicates`` finished replicates.
    replicates
        Replicates the store keeps.
    """

    def __init__(self, path: Path, problem: OSError, replicates: int, what: str = "new replicates") -> None:
        self.path = path
        self.kept = path
        self.replicates = replicates
        reason = problem.strerror or str(problem)
        where = f"{problem.filename}: " if problem.filename else ""
        Exception.__init__(
            self,
            f"`out` {path}: {what} could not be written ({where}{reason}); the store keeps "
            f"{replicates} replicate(s) and is consistent. Make room and run the same command "
            "again to resume",
        )
