"""``simcache trace stats FILE`` and ``simcache trace convert IN OUT``: look inside a trace, change its format."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simcache.cli._common import check_output_dir, format_table, one_line_errors, parse_trace_options, writing
from simcache.errors import show_path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("trace", help="trace statistics (requests, objects, Zipf fit, reuse, sizes, rate) "
                       "and format conversion",
                       description="Look inside a trace file (stats) or write it in another format (convert).")
    one_line_errors(p)
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION", required=True)

    s = tsub.add_parser("stats", help="requests, objects, bytes, a Zipf fit, reuse-distance and size histograms, "
                        "request rate over time",
                        description="Read a trace once and print what it holds: requests, distinct objects, bytes, "
                        "the Zipf exponent fitted to its popularity, histograms of LRU stack (reuse) distances and "
                        "of sizes, and the request rate over time; --figures DIR draws them.")
    one_line_errors(s)
    s.prog = "simcache trace stats"
    _source(s)
    s.add_argument("--figures", metavar="DIR", help="also draw popularity, reuse, sizes and rate as PNG into DIR")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run_stats)

    c = tsub.add_parser("convert", help="write a trace in another format",
                        description="Read a trace in any format simcache reads and write it as oracleGeneral, csv, "
                        "txt, lirs or cache2k, compressed by the output's suffix (.gz, .xz, .bz2, .zst).")
    one_line_errors(c)
    c.prog = "simcache trace convert"
    _source(c, name="input")
    c.add_argument("output", metavar="OUT", help="the file to write (replaced atomically when it exists)")
    c.add_argument("--to", metavar="F", help="output format; default: from OUT's name (e.g. x.oracleGeneral.zst)")
    c.set_defaults(func=run_convert)


def _source(p: argparse.ArgumentParser, name: str = "file") -> None:
    p.add_argument(name, metavar="FILE" if name == "file" else "IN", help="the trace file")
    p.add_argument("--format", metavar="F", help="trace format; detected from the name and contents when omitted")
    p.add_argument("--trace-option", action="append", default=[], metavar="K=V", dest="trace_options",
                   help="reader option, repeatable (see simcache replay --help)")


def _open(path: str, args: argparse.Namespace) -> Any:
    from simcache.traces import open_trace

    return open_trace(path, format=args.format, **parse_trace_options(args.trace_options))


def run_stats(args: argparse.Namespace) -> int:
    from simcache.traces.stats import describe, summary_figures

    if args.figures is not None:
        check_output_dir("--figures", args.figures)
    summary = describe(_open(args.file, args))
    figures = []
    if args.figures is not None:
        with writing("--figures", args.figures):
            figures = [str(f) for f in summary_figures(summary, args.figures)]
    data = summary.as_dict()
    if figures:
        data["figures"] = figures
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"trace {show_path(args.file)}")
    for key in ("requests", "objects", "total_bytes", "distinct_bytes", "writes", "one_hit_objects", "zipf_alpha",
                "time_span"):
        v = data[key]
        if v is not None:
            print(f"  {key:<16} {v:.4g}" if isinstance(v, float) else f"  {key:<16} {v}")
    for key, title in (("reuse_hist", "LRU stack distance"), ("size_hist", "size (bytes)")):
        rows = data[key]
        if rows:
            print(f"{title} histogram" + (f" ({data['cold']} first requests not counted)" if key == "reuse_hist"
                                          else ""))
            print(format_table([{"from": lo, "below": hi, "requests": c} for lo, hi, c in rows],
                               ["from", "below", "requests"]))
    if data["rate"]:
        print("request rate")
        print(format_table([{"time": t, "requests_per_s": r} for t, r in data["rate"]], ["time", "requests_per_s"],
                           {"time": ".6g", "requests_per_s": ".6g"}))
    for f in figures:
        print(f"wrote {f}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from simcache.errors import UsageError
    from simcache.traces import FORMATS, detect_format
    from simcache.traces.convert import WRITABLE, check_output, convert

    out = check_output(args.output, args.input)
    fmt = args.to
    if fmt is None:
        fmt = detect_format(out)
        if fmt is None:
            raise UsageError(f"{show_path(out)}: cannot tell the output format from the name; give --to, one of "
                             f"{', '.join(WRITABLE)}")
    else:
        match = [f for f in FORMATS if f.lower() == fmt.lower()]
        fmt = match[0] if match else fmt
    source = _open(args.input, args)
    with writing("OUT", out):
        n = convert(source, out, fmt)
    print(f"wrote {n} requests to {show_path(out)} ({fmt})")
    return 0
