"""``simcache scenarios``, ``simcache scenario NAME`` and ``simcache cheatsheet``: the scenario catalogue."""

from __future__ import annotations

import argparse
import json
import math
import os
import textwrap
from pathlib import Path
from typing import Any

from simcache.errors import UsageError
from simcache.scenarios import ScenarioResult, get_scenario, load_scenarios, run_scenario, scenario_names


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("scenarios", help="list the teaching scenarios (the seed's questions, runnable)",
                       description="List every scenario: name, one line, topic, the seed question it answers, "
                       "and its typical run time with the defaults.")
    p.add_argument("--topic", default=None, help="only the scenarios of this topic")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=list_scenarios)

    r = sub.add_parser("scenario", help="run one scenario: narrative, result table, figures, takeaways",
                       description="Run a scenario (see `simcache scenarios`): print the question, the setup and "
                       "what to watch, a result table, the figures written and the takeaways computed from this "
                       "run's numbers.")
    r.add_argument("name", help="scenario name")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="set a scenario parameter (repeatable); `simcache scenarios --json` lists them")
    r.add_argument("--quick", action="store_true", help="small parameters: a run of a few seconds")
    r.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the figures (default results/scenarios/NAME; created if missing)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--json", action="store_true", help="print the result as one JSON object")
    r.set_defaults(func=run_one)

    c = sub.add_parser("cheatsheet", help="run every scenario quickly and write a one-page markdown cheat sheet",
                       description="Run every scenario in quick mode and write one markdown page: for each "
                       "question, the answer in two lines with this run's numbers and its figure beside it.")
    c.add_argument("--out", metavar="FILE.md", required=True, help="the markdown file (figures go beside it)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.set_defaults(func=cheatsheet)


def parse_sets(sets: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item is a usage error."""
    out: dict[str, str] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def list_scenarios(args: argparse.Namespace) -> int:
    catalogue = load_scenarios()
    names = scenario_names()
    if args.topic is not None:
        topics = sorted({catalogue[n].topic for n in names})
        if args.topic not in topics:
            raise UsageError(f"--topic {args.topic!r} has no scenario; topics: {', '.join(topics)}")
        names = [n for n in names if catalogue[n].topic == args.topic]
    if args.json:
        rows = {n: {"summary": catalogue[n].summary, "topic": catalogue[n].topic, "question": catalogue[n].question,
                    "source": catalogue[n].source, "runtime": catalogue[n].runtime,
                    "params": catalogue[n].defaults(), "quick": dict(catalogue[n].quick)} for n in names}
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not names:
        print("no scenarios found")
        return 0
    width = max(map(len, names))
    for n in names:
        sc = catalogue[n]
        print(f"{n:<{width}}  [{sc.topic}, {sc.runtime}]  {sc.summary}")
        print(f"{'':<{width}}  answers: {sc.question} ({sc.source})")
    return 0


def _out_dir(args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out is not None else Path("results") / "scenarios" / args.name


def run_one(args: argparse.Namespace) -> int:
    sc = get_scenario(args.name)
    values = parse_sets(args.sets)
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed}")
    p = sc.make_params(values, args.quick)  # a bad value fails here, before anything runs
    result = run_scenario(args.name, values, quick=args.quick, seed=args.seed, out=_out_dir(args))
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return 0
    setup, watch = sc.narrative(p)
    print(format_result(sc.name, sc.question, sc.source, setup, watch, result))
    return 0


def _wrap(text: str, indent: str = "  ") -> str:
    paras = [" ".join(par.split()) for par in text.strip().split("\n\n")]
    return "\n".join(textwrap.fill(par, 100, initial_indent=indent, subsequent_indent=indent) for par in paras)


def format_result(name: str, question: str, source: str, setup: str, watch: str, result: ScenarioResult) -> str:
    """The text report of a run: question, setup, what to watch, table, figures, takeaways."""
    f = result.findings
    lines = [f"scenario {name}  seed {result.seed}{'  quick' if result.quick else ''}  "
             f"wall {result.wall_seconds:.1f} s", "", f"question ({source}):", _wrap(question), "",
             "setup:", _wrap(setup), "", "what to watch:", _wrap(watch), "", "results:"]
    lines += ["  " + line for line in result_table(f.table, f.columns).splitlines()]
    if result.figures:
        lines += ["", "figures:"] + [f"  {x}" for x in result.figures]
    lines += ["", "takeaways:"]
    lines += [textwrap.fill(t, 100, initial_indent="  - ", subsequent_indent="    ") for t in result.takeaways]
    return "\n".join(lines)


def cell(value: Any) -> str:
    """A table cell: integers with separators, other numbers to 4 significant figures, None blank."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:.4g}"


def result_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """An aligned text table of a scenario's results: numbers right-aligned, text left-aligned."""
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    right = [all(isinstance(r.get(c), int | float | None) and not isinstance(r.get(c), bool) for r in rows)
             for c in columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if rj else v.ljust(w) for v, w, rj in zip(values, widths, right, strict=True))

    return "\n".join(s.rstrip() for s in [line(list(columns)), line(["-" * w for w in widths])]
                     + [line(row) for row in cells])


def cheatsheet(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".md":
        raise UsageError(f"--out must name a markdown file (FILE.md), got {str(out)!r}")
    if out.exists() and out.is_dir():
        raise UsageError(f"--out: {out} is a folder, expected a markdown file")
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed}")
    figdir = out.parent / f"{out.stem}_figures"
    text = build_cheatsheet(figdir, out.parent, seed=args.seed)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"--out: cannot write {out}: {err.strerror or err}") from None
    print(f"wrote {out} ({len(scenario_names())} scenarios, figures in {figdir})")
    return 0


def build_cheatsheet(figdir: Path, relative_to: Path, seed: int = 0) -> str:
    """Run every scenario in quick mode and return the markdown page (figures written under ``figdir``)."""
    from simcache.catalog import load_models

    catalogue = load_scenarios()
    lines = ["# Caching cheat sheet", "",
             f"Every answer below was computed by `simcache scenario NAME --quick --seed {seed}` (small parameters; "
             "the full runs give the same picture with tighter numbers). Regenerate with "
             "`simcache cheatsheet --out FILE.md`.", ""]
    models = load_models()
    skipped: list[str] = []
    for n in scenario_names():
        sc = catalogue[n]
        if any(m not in models for m in sc.needs):
            skipped.append(n)
            continue
        r = run_scenario(n, quick=True, seed=seed, out=figdir / n)
        answer = " ".join(r.takeaways[:2])
        lines += [f"## {sc.question}", "", f"*{sc.source} — `simcache scenario {n}`*", ""]
        if r.figures:
            rel = os.path.relpath(r.figures[0], relative_to).replace(os.sep, "/")
            lines += ['<table><tr><td width="60%">', "", answer, "", f'</td><td><img src="{rel}" width="360"/>'
                      "</td></tr></table>", ""]
        else:
            lines += [answer, ""]
    if skipped:
        lines += [f"Not run (their models are not in this build): {', '.join(skipped)}.", ""]
    return "\n".join(lines)
