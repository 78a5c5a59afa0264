"""The ``mentor`` command: :mod:`~mentor.cli.main` mounts the subcommands of the sibling modules."""

from mentor.cli.main import app, main

__all__ = ["app", "main"]
