"""Argument helpers shared by the subcommands: trace sources, lists, ``k=v`` params, tables, one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from simcache.errors import UsageError, one_line, show_path
from simcache.policies.base import coerce_param, policy_class, policy_params
from simcache.traces.base import TraceSource

#: largest cache size (entries or bytes) the commands accept
MAX_SIZE = 1 << 50
MAX_INT = (1 << 63) - 1


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make a subcommand parser report argument errors as one line (``simcache CMD: error: ...``), exit 2.

    argparse prints the whole usage block first; users of the other errors get
    one line, so these match. Unknown arguments are reported by the subcommand
    too, rather than by the top-level parser.
    """

    def error(message: str) -> NoReturn:
        print(f"{parser.prog}: error: {one_line(message)} (see {parser.prog} --help)", file=sys.stderr)
        sys.exit(2)

    original = parser.parse_known_args

    def parse_known_args(args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = original(args, namespace)
        if extras:
            error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras

    parser.error = error  # type: ignore[method-assign]
    parser.parse_known_args = parse_known_args  # type: ignore[method-assign,assignment]
    parser.one_line_errors = True  # type: ignore[attr-defined]
    return parser


def add_source_args(p: argparse.ArgumentParser) -> None:
    """Add ``--trace PATH [--format F]`` or ``--synthetic KIND --alpha --objects --requests --seed``."""
    g = p.add_argument_group("trace (one of --trace or --synthetic)")
    g.add_argument("--trace", metavar="PATH", help="trace file to replay (oracleGeneral, LIRS text, cache2k, csv...; "
                   ".gz/.xz/.zst are decompressed on the fly)")
    g.add_argument("--format", metavar="F", help="trace format; detected from the file name and contents when omitted")
    g.add_argument("--trace-option", action="append", default=[], metavar="K=V", dest="trace_options",
                   help="reader option, repeatable; csv: id=COL size=COL time=COL op=COL (names or 0-based "
                   "indexes), header=true|false, delimiter=';' (or \\t), numeric=true; any format: chunk_size=N")
    g.add_argument("--synthetic", metavar="KIND", help="generate requests instead: zipf, uniform or hotspot")
    g.add_argument("--alpha", type=finite_number, metavar="A", help="Zipf exponent (for --synthetic zipf)")
    g.add_argument("--objects", type=integer, metavar="N", help="distinct objects of the synthetic workload")
    g.add_argument("--requests", type=integer, metavar="M", help="requests of the synthetic workload")
    g.add_argument("--rate", type=positive_number, metavar="R",
                   help="Poisson arrivals at R requests/s give synthetic requests timestamps (the Redis policies' "
                   "LRU clock and LFU decay read them; without, every request is at time 0)")
    g.add_argument("--seed", type=seed_number, default=0, metavar="S", help="seed of the synthetic workload and of "
                   "randomised policies (default 0)")


def source_from_namespace(args: argparse.Namespace) -> TraceSource:
    """The trace source the ``add_source_args`` flags describe."""
    from simcache.replay import source_from_args

    if args.trace is not None and args.synthetic is not None:
        raise UsageError("give either --trace or --synthetic, not both")
    if args.trace is not None:
        stray = [f for f, v in (("--alpha", args.alpha), ("--objects", args.objects), ("--requests", args.requests),
                                ("--rate", getattr(args, "rate", None))) if v is not None]
        if stray:
            raise UsageError(f"{', '.join(stray)} only appl{'ies' if len(stray) == 1 else 'y'} to --synthetic")
    elif args.format is not None:
        raise UsageError("--format applies to --trace only")
    elif getattr(args, "trace_options", None):
        raise UsageError("--trace-option applies to --trace only")
    return source_from_args(trace=args.trace, format=args.format, synthetic=args.synthetic, alpha=args.alpha,
                            objects=args.objects, requests=args.requests, seed=args.seed,
                            rate=getattr(args, "rate", None),
                            trace_options=parse_trace_options(getattr(args, "trace_options", None) or []))


def untimed(source: TraceSource) -> bool:
    """Whether every request of ``source`` is at time 0 (a synthetic trace without a rate, a format without times)."""
    spec = getattr(source, "spec", None)
    if spec is not None and hasattr(spec, "rate"):
        return spec.rate is None
    fmt = getattr(source, "format", None)
    if fmt in ("lirs", "txt", "cache2k"):
        return True
    if fmt == "csv":
        return getattr(source, "columns", {}).get("time") is None
    return False


def warn_untimed(policies: Sequence[str], source: TraceSource) -> None:
    """One warning line on stderr when a time-aware policy (the Redis family's LRU clock and LFU decay) runs on
    a trace without timestamps, where every request is at time 0 and every key ties."""
    timed = [p for p in policies if getattr(policy_class(p), "uses_time", False)]
    if timed and untimed(source):
        print(f"simcache: warning: {', '.join(timed)} read{'s' if len(timed) == 1 else ''} request times, but "
              f"{getattr(source, 'name', 'the trace')} has none (every request at time 0, so every key ties); "
              f"give --rate R for synthetic requests, or a trace with times", file=sys.stderr)


def parse_trace_options(items: list[str]) -> dict[str, Any]:
    """``K=V`` reader options: booleans for header/numeric, integers for chunk_size and numeric columns."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--trace-option expects KEY=VALUE, got {item!r}")
        if key in ("header", "numeric"):
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise UsageError(f"--trace-option {key} expects true or false, got {value!r}")
            out[key] = low in ("true", "1", "yes")
        elif key == "chunk_size":
            try:
                out[key] = int(value)
            except ValueError:
                raise UsageError(f"--trace-option chunk_size expects an integer, got {value!r}") from None
        elif key == "delimiter":
            out[key] = "\t" if value == "\\t" else value
        else:
            out[key] = int(value) if value.isdigit() else value
    return out


def integer(text: str) -> int:
    """argparse type: an integer (``1e6`` too, when whole), without the overflow a float would hide."""
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not math.isfinite(f) or not f.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(f)


def seed_number(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2**63-1]."""
    value = integer(text)
    if not 0 <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63-1], got {text!r}")
    return value


def finite_number(text: str) -> float:
    """argparse type: a finite number (not nan or inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def parse_sizes(text: str, what: str = "size") -> list[str]:
    """A comma-separated list of cache sizes, each checked now (a bad one fails before any work).

    A size is at most :data:`MAX_SIZE` (2**50, a PiB): capacities are held as 64-bit integers, and a
    cache that large already holds any trace whole.
    """
    from simcache.replay import parse_size

    sizes = split_list(text, what)
    for size in sizes:
        value = parse_size(size)
        if not isinstance(value, float) and value > MAX_SIZE:
            raise UsageError(f"bad cache size {size!r}: at most 2**50 ({MAX_SIZE}), which holds any trace whole")
    return sizes


def check_output_file(flag: str, path: str | os.PathLike[str]) -> Path:
    """Check, before any work, that ``path`` can be written as a file: its folder exists or can be made.

    The write itself can still fail (a full disk, /proc): :func:`writing` turns that into one line too.
    """
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {show_path(p)}: is a folder, expected a file name")
    _check_creatable(flag, p.parent)
    return p


def check_output_dir(flag: str, path: str | os.PathLike[str]) -> Path:
    """Check, before any work, that ``path`` is a folder or can be made one."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {show_path(p)}: exists and is not a folder")
    _check_creatable(flag, p)
    return p


def _check_creatable(flag: str, folder: Path) -> None:
    probe = folder if str(folder) else Path(".")
    try:
        while not probe.exists():
            probe = probe.parent
    except OSError as err:
        raise UsageError(f"{flag} {show_path(folder)}: unusable path: {err.strerror or err}") from None
    if not probe.is_dir():
        raise UsageError(f"{flag} {show_path(folder)}: {show_path(probe)} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise UsageError(f"{flag} {show_path(folder)}: {show_path(probe)} is not writable")


@contextlib.contextmanager
def writing(flag: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OS error while writing an output (``--plot``, ``--out``) into one line naming the flag and path."""
    try:
        yield
    except OSError as err:
        where = err.filename if isinstance(err.filename, str) else path
        raise UsageError(f"{flag} {show_path(path)}: cannot write {show_path(where)}: {err.strerror or err}") from None


def split_list(text: str, what: str) -> list[str]:
    """Split ``"a,b,c"`` into items; an empty item is an error naming ``what``."""
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise UsageError(f"bad {what} list {text!r}: empty item")
    return items


def parse_policies(text: str) -> list[str]:
    """A comma-separated list of registered policy names (``all`` for every one)."""
    from simcache.policies import policy_names

    if text.strip() == "all":
        return policy_names()
    names = split_list(text, "policy")
    for name in names:
        policy_class(name)
    return names


def parse_params(policies: Sequence[str], items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """Turn ``k=v`` (or ``policy.k=v``) strings into per-policy typed parameters.

    A parameter applies to every selected policy that has it, converted to
    that policy's type; one that no selected policy has is an error.
    """
    out: dict[str, dict[str, Any]] = {p: {} for p in policies}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"bad --param {item!r}: expected k=v or policy.k=v")
        if "." in key:
            pol, _, k = key.partition(".")
            if pol not in out:
                raise UsageError(f"--param {item!r} names policy {pol!r}, which is not selected ({', '.join(policies)})")
            targets = [pol]
            if k not in policy_params(pol):
                raise UsageError(f"policy {pol!r} has no parameter {k!r}; valid parameters: "
                                 f"{', '.join(policy_params(pol)) or 'none'}")
        else:
            k = key
            targets = [p for p in policies if k in policy_params(p)]
            if not targets:
                listing = "; ".join(f"{p}: {', '.join(policy_params(p)) or 'none'}" for p in policies)
                raise UsageError(f"no selected policy has a parameter {k!r} (valid parameters: {listing})")
        for p in targets:
            out[p][k] = coerce_param(p, k, text.strip())
    return out


def check_warmup(value: float) -> float:
    """A warm-up fraction in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise UsageError(f"--warmup must be a fraction in [0, 1), got {value:g}")
    return value


def fraction(text: str) -> float:
    """argparse type: a float (the range is checked later so the message names the flag)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                 formats: Mapping[str, str] | None = None) -> str:
    """An aligned text table: numbers right-aligned, text left-aligned."""
    formats = formats or {}
    cells = [[_cell(row.get(c), formats.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float)) for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(s.rstrip() for s in out)


def _cell(value: Any, fmt: str | None) -> str:
    if value is None:
        return ""
    if fmt is not None:
        return format(value, fmt)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
