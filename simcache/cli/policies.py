"""``simcache policies``: list the registered eviction policies and their parameters."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from simcache.policies import policy_class, policy_names, policy_params


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("policies", help="list eviction policies and their parameters",
                       description="List every registered eviction policy with its parameters and defaults.")
    p.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="one policy to describe: its docstring and each parameter with default and meaning")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _arg_docs(doc: str) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: name -> sentence (continuation lines joined)."""
    out: dict[str, str] = {}
    current = None
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if not stripped:
                current = None
                continue
            if stripped.endswith(":") and " " not in stripped:
                in_args = False
                continue
            name, colon, text = stripped.partition(":")
            if colon and name.replace("_", "").isalnum() and " " not in name:
                current = name
                out[name] = text.strip()
            elif current is not None:
                out[current] += " " + stripped
    return out


def policy_detail(name: str) -> dict[str, Any]:
    """One policy: its docstring and each parameter's default and sentence (from the class's ``Args:``)."""
    import inspect

    cls = policy_class(name)
    doc = inspect.getdoc(cls) or ""
    args = _arg_docs(doc) | _arg_docs(inspect.getdoc(cls.__init__) or "")
    params = {k: {"default": v, "description": args.get(k, "see the docstring above" if k != "variant" else
                                                        "reference behaviour to follow (paper or libcachesim)")}
              for k, v in policy_params(name).items()}
    summary = doc.split("\n\n")[0].replace("\n", " ")
    body = doc.split("Args:")[0].strip()
    return {"name": name, "summary": summary, "doc": body, "params": params,
            "capacity": args.get("capacity", "entries or bytes"), "libcachesim_variant": _libcachesim_variant(name),
            "engines": engines(name)}


def engines(name: str) -> dict[str, Any]:
    """Which replay engines a policy has: a compiled kernel, its layouts, and what the kernel reads per request."""
    from simcache import kernels
    from simcache.kernels.hashed import hashed_policies

    spec = kernels.KERNELS.get(name)
    if spec is None:
        return {"kernel": False, "compiled": False, "layouts": [], "reads": []}
    reads = [what for what, flag in (("request times", spec.needs_time), ("raw ids", spec.needs_raw),
                                     ("next-access indexes", spec.needs_future)) if flag]
    layouts = ["dense", "bounded"] if name in hashed_policies() and not spec.needs_future else ["dense"]
    return {"kernel": True, "compiled": kernels.COMPILED, "layouts": layouts, "reads": reads}


def engines_line(e: Mapping[str, Any]) -> str:
    """One sentence for :func:`engines`."""
    if not e["kernel"]:
        return "reference classes only (no compiled kernel)"
    how = "compiled" if e["compiled"] else "plain Python (numba is not installed)"
    if "bounded" in e["layouts"]:
        layout = "state per distinct object, or bounded by the cached objects for huge catalogues (chosen automatically)"
    else:
        layout = "state per distinct object of the trace"
    reads = f"; reads {', '.join(e['reads'])}" if e["reads"] else ""
    return f"fast kernel, {how}; {layout}{reads}"



def run(args: argparse.Namespace) -> int:
    if args.name is not None:
        d = policy_detail(args.name)
        if args.json:
            print(json.dumps(d, indent=2, default=str))
            return 0
        print(f"{d['name']}: {d['summary']}\n")
        print(d["doc"] + "\n")
        print(f"capacity: {d['capacity']}")
        print(f"variant=libcachesim: {d['libcachesim_variant']}")
        print(f"engines: {engines_line(d['engines'])}")
        width = max([len("parameter")] + [len(k) for k in d["params"]])
        dwidth = max([len("default")] + [len(repr(p["default"])) for p in d["params"].values()])
        print(f"{'parameter':<{width}}  {'default':<{dwidth}}  meaning")
        for k, p in d["params"].items():
            print(f"{k:<{width}}  {p['default']!r:<{dwidth}}  {p['description']}")
        return 0
    rows: dict[str, dict[str, Any]] = {}
    for name in policy_names():
        doc = (policy_class(name).__doc__ or "").strip().splitlines()
        rows[name] = {"summary": doc[0] if doc else "", "params": policy_params(name),
                      "libcachesim_variant": _libcachesim_variant(name)}
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    width = max(map(len, rows))
    for name, row in rows.items():
        params = ", ".join(f"{k}={v!r}" for k, v in row["params"].items())
        print(f"{name:<{width}}  {row['summary']}" + (f"  [{params}]" if params else ""))
        print(f"{'':<{width}}    variant=libcachesim: {row['libcachesim_variant']}")
    return 0


def _libcachesim_variant(name: str) -> str:
    """What ``variant=libcachesim`` changes for a policy (libCacheSim 0.3.5's implementation)."""
    return policy_class(name).libcachesim_differs or "no change (libCacheSim agrees, or has no such policy)"
