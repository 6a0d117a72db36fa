"""The ``peersim`` command: one Typer app, with input errors turned into clean exits."""

from __future__ import annotations

import sys

import typer

from peersim.errors import PeersimInputError

app = typer.Typer(
    name="peersim",
    help="Simulate how peer support for discharge is implemented across mental health services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_BAD_INPUT = 2
"""Exit status for bad user input (the same as for a bad command-line option)."""


def fail(message: str) -> typer.Exit:
    """Print ``message`` to stderr as a peersim error and return the exit to raise."""
    typer.echo(f"peersim: error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _register() -> None:
    from peersim.cli import compare_command, plot_command, run_command, scenario_commands

    app.command("run")(run_command.run_cmd)
    app.command("validate")(scenario_commands.validate_cmd)
    app.command("schema")(scenario_commands.schema_cmd)
    app.command("compare")(compare_command.compare_cmd)
    app.command("plot")(plot_command.plot_cmd)
    from peersim.cli.sensitivity_command import sensitivity_cmd

    app.command("sensitivity")(sensitivity_cmd)
    from peersim.cli.calibrate_command import calibrate_cmd, ppc_cmd

    app.command("calibrate")(calibrate_cmd)
    app.command("ppc")(ppc_cmd)
    from peersim.cli.plan_command import plan_cmd

    app.command("plan")(plan_cmd)


def main() -> None:
    """Entry point of the ``peersim`` console script."""
    _register()
    try:
        app()
    except PeersimInputError as error:
        typer.echo(f"peersim: error: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
