"""Errors that users meet: each carries one line saying what was wrong and where."""

from __future__ import annotations

import os


class SimcacheError(Exception):
    """Base of every user-facing error: ``str(err)`` is the one line the CLI prints."""


class UsageError(SimcacheError):
    """A bad command-line argument, parameter or config value (exit status 2)."""


class KernelLimit(UsageError):
    """A compiled kernel cannot replay a trace exactly: its int64 state would overflow where the reference's
    Python integers do not.  ``engine="auto"`` then replays that policy with the reference classes."""


class TraceError(SimcacheError):
    """A trace file that cannot be read: names the file and the record/line/offset."""


def show_path(path: str | os.PathLike[str]) -> str:
    """A path as error messages print it: as is, or quoted like ``repr`` when it holds a newline or another
    control character (so the message stays one line and the name can be told apart from the text)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    if any(ord(c) < 32 or ord(c) == 127 for c in text) or text != text.strip():
        return repr(text)
    return text


def one_line(message: str) -> str:
    """``message`` with every line break and control character escaped: what the CLI prints stays one line."""
    if not any(ord(c) < 32 or ord(c) == 127 for c in message):
        return message
    return "".join(c if c == "\t" or not (ord(c) < 32 or ord(c) == 127) else repr(c)[1:-1] for c in message)
