"""The ``peersim`` command: one Typer app, with library errors turned into clean exits.

Each command lives in a module of its own, which imports the library only
inside the command's body, so ``peersim --help`` and ``peersim COMMAND --help``
answer without loading Mesa, pandas or SciPy.
"""

from __future__ import annotations

import signal
import sys
import warnings
from typing import Annotated, Any

import typer

from peersim.cli import (
    calibrate,
    compare,
    discover,
    explore,
    plan,
    plot,
    ppc,
    run,
    schema,
    sensitivity,
    trials,
    validate,
)
from peersim.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NOT_WRITTEN,
    EXIT_RUNS_FAILED,
    flags,
    warn,
)
from peersim.errors import Interrupted, OutputsNotWritten, PeersimInputError, RunsFailedError

app = typer.Typer(
    name="peersim",
    help="Simulate how peer support for discharge is implemented across mental health services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(show: bool) -> None:
    if show:
        from peersim.io.provenance import package_versions

        versions = package_versions()
        others = ", ".join(f"{name} {number}" for name, number in versions.items() if name != "peersim")
        typer.echo(f"peersim {versions['peersim']} ({others})")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the versions and exit."
        ),
    ] = False,
) -> None:
    """Simulate how peer support for discharge is implemented across mental health services."""


for name, module in (
    ("run", run),
    ("compare", compare),
    ("plot", plot),
    ("validate", validate),
    ("schema", schema),
    ("sensitivity", sensitivity),
    ("calibrate", calibrate),
    ("ppc", ppc),
    ("plan", plan),
    ("discover", discover),
    ("trials", trials),
    ("explore", explore),
):
    app.command(name)(module.command)


def _show_warning(message: Any, *_args: Any, **_kwargs: Any) -> None:
    warn(str(message))


def _stop_once(_signum: int, _frame: Any) -> None:
    """Stop at the first Ctrl-C, and ignore any more while stopping (which takes a second or so)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    """Entry point of the ``peersim`` console script."""
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    handler = signal.getsignal(signal.SIGINT)
    if handler is signal.default_int_handler:  # not if ignored (a background job) or someone else's
        signal.signal(signal.SIGINT, _stop_once)
    try:
        app()
    except PeersimInputError as error:
        typer.echo(f"peersim: error: {flags(str(error))}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except RunsFailedError as error:
        typer.echo(f"peersim: {flags(str(error))}", err=True)
        sys.exit(EXIT_RUNS_FAILED)
    except OutputsNotWritten as error:
        typer.echo(f"peersim: error: {flags(str(error))}", err=True)
        sys.exit(EXIT_NOT_WRITTEN)
    except Interrupted as error:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the message or the exit
        typer.echo(f"\npeersim: {flags(str(error))}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        warnings.showwarning = previous
        if signal.getsignal(signal.SIGINT) is _stop_once:  # no Ctrl-C came: as it was (for callers in Python)
            signal.signal(signal.SIGINT, handler)
