"""The ``simcache`` command line: one module per subcommand.

Each module in :data:`COMMANDS` defines ``register(subparsers)``, which adds
its parser and sets ``func`` (taking the parsed arguments, returning an exit
status).  Errors users can cause are :class:`simcache.errors.SimcacheError`
and end as one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from simcache import __version__
from simcache.errors import SimcacheError, one_line

#: subcommand modules, in the order ``--help`` lists them
COMMANDS = ["replay", "mrc", "theory", "policies", "models", "run", "sweep", "plot", "tour", "scenario", "keyslot",
            "shard", "trace"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simcache",
        description="Discrete-event simulator of cache systems: replay traces through eviction policies, "
        "draw miss-ratio curves, compare with theory, and simulate whole cache systems.",
    )
    parser.add_argument("--version", action="version", version=f"simcache {__version__}")

    def one_line_error(message: str) -> NoReturn:
        # the usage block would bury the message; one line, exit status 2, like every other error
        print(f"simcache: error: {one_line(message)} (see simcache --help)", file=sys.stderr)
        sys.exit(2)

    parser.error = one_line_error  # type: ignore[method-assign]
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"simcache.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"simcache.cli.{name}":
                raise
            continue  # a subcommand not installed in this build
        module.register(sub)
    from simcache.cli._common import one_line_errors

    for subparser in dict.fromkeys(sub.choices.values()):
        if not getattr(subparser, "one_line_errors", False):
            one_line_errors(subparser)  # argparse's usage block would bury the message: one line, as above
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simcache`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SimcacheError as err:
        print(f"simcache {args.command}: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"simcache {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
