"""Exceptions that carry a message meant for the person who wrote the input."""

from __future__ import annotations


class PeersimInputError(ValueError):
    """Bad user input: a missing file, malformed TOML, an unknown key or a bad value.

    The message names the file and the key path, and is complete on its own; the
    CLI prints it without a traceback and exits non-zero.
    """


class ScenarioError(PeersimInputError):
    """A scenario file or scenario data that cannot be used."""
