"""``simcache models``: list the ready-made system models with their parameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simcache.catalog import load_models


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list simulation models and their parameters",
                       description="List every model in the catalogue with a one-line description and its "
                       "parameters (with defaults).")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    models = load_models()
    rows: dict[str, dict[str, Any]] = {
        name: {"description": spec.description, "params": spec.defaults()} for name, spec in sorted(models.items())
    }
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no models found")
        return 0
    width = max(map(len, rows))
    for name, row in rows.items():
        print(f"{name:<{width}}  {row['description']}")
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        print(f"{'':<{width}}  params: {params}")
    return 0
