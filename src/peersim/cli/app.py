"""The ``peersim`` command: one Typer app, with library errors turned into clean exits.

Each command lives in a module of its own, which imports the library only
inside the command's body, so ``peersim --help`` and ``peersim COMMAND --help``
answer without loading Mesa, pandas or SciPy.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import typer

from peersim.cli import (
    calibrate,
    compare,
    plan,
    plot,
    ppc,
    run,
    schema,
    sensitivity,
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
):
    app.command(name)(module.command)


def _show_warning(message: Any, *_args: Any, **_kwargs: Any) -> None:
    warn(str(message))


def main() -> None:
    """Entry point of the ``peersim`` console script."""
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
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
        typer.echo(f"\npeersim: {flags(str(error))}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        warnings.showwarning = previous
