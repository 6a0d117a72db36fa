"""Command-line interface: parses arguments and calls the public API, nothing more."""

from peersim.cli.app import app, main

__all__ = ["app", "main"]
