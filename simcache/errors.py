"""Errors that users meet: each carries one line saying what was wrong and where."""

from __future__ import annotations


class SimcacheError(Exception):
    """Base of every user-facing error: ``str(err)`` is the one line the CLI prints."""


class UsageError(SimcacheError):
    """A bad command-line argument, parameter or config value (exit status 2)."""


class TraceError(SimcacheError):
    """A trace file that cannot be read: names the file and the record/line/offset."""
