"""``simcache policies``: list the registered eviction policies and their parameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simcache.policies import policy_class, policy_names, policy_params


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("policies", help="list eviction policies and their parameters",
                       description="List every registered eviction policy with its parameters and defaults.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows: dict[str, dict[str, Any]] = {}
    for name in policy_names():
        doc = (policy_class(name).__doc__ or "").strip().splitlines()
        rows[name] = {"summary": doc[0] if doc else "", "params": policy_params(name)}
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    width = max(map(len, rows))
    for name, row in rows.items():
        params = ", ".join(f"{k}={v!r}" for k, v in row["params"].items())
        print(f"{name:<{width}}  {row['summary']}" + (f"  [{params}]" if params else ""))
    return 0
