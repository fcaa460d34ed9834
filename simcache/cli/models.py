"""``simcache models [NAME]``: list the ready-made system models, or one model's parameters in detail."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import typing
from typing import Any

from simcache.catalog import get_model, load_models

__all__ = ["describe_param", "model_detail", "register", "run"]

#: parameters whose meaning does not follow from their name: unit and sentence
SPECIFIC: dict[str, tuple[str, str]] = {
    "duration": ("s", "Simulated time the run lasts."),
    "warmup": ("s", "Simulated time at the start that is run but not counted in the summary."),
    "rate": ("req/s", "Mean rate at which the clients send requests."),
    "arrival_rate": ("1/time", "Mean arrival rate λ of the queue."),
    "service_rate": ("1/time", "Mean service rate μ of each server."),
    "arrivals": ("", "Arrival process of the requests: poisson, mmpp (bursty) or diurnal."),
    "users": ("", "Closed-loop users, each waiting for its reply and thinking (0: open loop at `rate`)."),
    "think": ("s", "Think-time distribution of a closed-loop user, as 'kind:params'."),
    "n_objects": ("keys", "Distinct keys the workload draws from."),
    "keys": ("keys", "Distinct keys the workload draws from."),
    "alpha": ("", "Zipf exponent of key popularity (0: uniform; larger: more skewed)."),
    "skew": ("", "Zipf exponent of key popularity."),
    "write_fraction": ("fraction", "Share of requests that are writes."),
    "value_size": ("bytes", "Size of each stored value."),
    "strategy": ("", "Caching strategy the app runs (cache-aside, write-through, write-behind, ...); its "
                 "options are set as strategy.NAME=VALUE."),
    "queueing": ("", "Queue implementation: fast (closed form per job) or events (one SimPy process per job)."),
    "query_cache": ("entries", "Size of the database's own query cache (0: none)."),
    "write_error_rate": ("fraction", "Share of database writes that fail."),
    "client_latency": ("s", "Network latency distribution between the clients and the app, as 'kind:params'."),
    "cache_profile": ("", "Which cache server the model runs: redis or memcached."),
    "protection": ("", "Stampede protection in use (none, lock, single-flight, xfetch, ...)."),
    "lock": ("", "Lock implementation under test."),
    "limiter": ("", "Rate-limiter implementation under test."),
    "beta": ("", "XFetch's β: how early a key is recomputed before it expires."),
    "seed": ("", "Root seed of every random stream."),
    "timeout": ("s", "Client timeout per request (0: none)."),
    "retries": ("", "Times a client retries a failed request."),
    "retry_delay": ("s", "Wait before a client retries."),
    "socket_timeout": ("s", "Socket timeout of the cache client (0: none)."),
}
#: tier prefixes and how a sentence names them
TIERS = {"app": "the app server's near cache", "cdn": "the CDN", "lb": "the load balancer's cache",
         "browser": "each browser's cache", "cache": "the cache server", "db": "the database"}
#: suffixes: unit and a sentence pattern ({tier} is the tier's name)
SUFFIXES: dict[str, tuple[str, str]] = {
    "ttl": ("s", "Time to live of the entries {tier} stores."),
    "capacity": ("entries", "Capacity of {tier}."),
    "cache": ("entries", "Capacity of {tier} (0: none)."),
    "policy": ("", "Eviction policy of {tier} (see `simcache policies`)."),
    "service": ("s", "Service-time distribution of {tier}, as 'kind:params'."),
    "workers": ("", "Requests {tier} serves at once."),
    "hop": ("s", "One-way network latency from {tier} to the next tier down."),
    "lookup": ("s", "Time {tier} takes to look a key up."),
    "timeout": ("s", "Client timeout on calls to {tier} (0: none)."),
    "latency": ("s", "Network latency distribution to {tier}, as 'kind:params'."),
    "pool": ("connections", "Connection-pool size towards {tier}."),
    "connections": ("connections", "Connections {tier} accepts at once."),
    "read": ("s", "Service-time distribution of a read at {tier}, as 'kind:params'."),
    "write": ("s", "Service-time distribution of a write at {tier}, as 'kind:params'."),
    "cpu": ("s", "CPU time {tier} spends per request, as 'kind:params'."),
    "invalidate": ("", "Whether writes invalidate {tier}."),
    "clients": ("", "Number of clients of {tier}."),
}


def _kind(typ: Any) -> str:
    if typing.get_origin(typ) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(typ)))
    return getattr(typ, "__name__", str(typ)).replace("typing.", "")


def describe_param(name: str, default: Any) -> tuple[str, str]:
    """(unit, sentence) of a model parameter, from its name (``cdn_ttl``: seconds, the CDN's TTL)."""
    if name in SPECIFIC:
        return SPECIFIC[name]
    head, _, tail = name.partition("_")
    if head in TIERS and tail in SUFFIXES:
        unit, text = SUFFIXES[tail]
        return unit, text.format(tier=TIERS[head])
    last = name.rsplit("_", 1)[-1]
    if last in SUFFIXES:
        unit, text = SUFFIXES[last]
        return unit, text.format(tier=name.rsplit("_", 1)[0].replace("_", " "))
    if name.endswith(("_fraction", "_ratio")):
        return "fraction", f"Share ({name.replace('_', ' ')})."
    if isinstance(default, str) and ":" in default:
        return "s", f"Distribution of {name.replace('_', ' ')}, as 'kind:params'."
    if name.endswith(("_delay", "_at", "delay", "window", "pause", "poll", "drift", "jitter", "resolution")):
        return "s", f"{name.replace('_', ' ').capitalize()} (simulated seconds)."
    return "", f"{name.replace('_', ' ').capitalize()} (see the model's source for its role)."


def model_detail(name: str) -> dict[str, Any]:
    """One model: description, source module, and each parameter's type, default, unit and sentence."""
    spec = get_model(name)
    types = spec.param_types()
    params = {}
    for f in dataclasses.fields(spec.params):
        default = spec.defaults()[f.name]
        unit, text = describe_param(f.name, default)
        params[f.name] = {"type": _kind(types[f.name]), "default": default, "unit": unit, "description": text}
    return {"name": spec.name, "description": spec.description, "source": spec.source,
            "doc": inspect.getdoc(spec.params) or "", "options": list(spec.options), "faults": spec.faults,
            "params": params}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list simulation models and their parameters",
                       description="List every model in the catalogue with a one-line description and its "
                       "parameters (with defaults); with a NAME, that model's parameters one per line with type, "
                       "default, unit and a sentence each.")
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="one model to describe in detail")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.name is not None:
        d = model_detail(args.name)
        if args.json:
            print(json.dumps(d, indent=2, default=str))
            return 0
        print(f"{d['name']}: {d['description']}")
        if d["doc"]:
            print("\n".join("  " + line for line in d["doc"].splitlines()))
        print()
        rows = [(k, p["type"], repr(p["default"]), p["unit"], p["description"]) for k, p in d["params"].items()]
        widths = [max(len(r[i]) for r in rows + [("parameter", "type", "default", "unit", "")]) for i in range(4)]
        print(f"{'parameter':<{widths[0]}}  {'type':<{widths[1]}}  {'default':<{widths[2]}}  {'unit':<{widths[3]}}  "
              "meaning")
        for r in rows:
            print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}")
        extra = []
        if d["options"]:
            extra.append(f"option groups: {', '.join(g + '.NAME=VALUE' for g in d['options'])}")
        if d["faults"]:
            extra.append("takes a fault schedule (--fault KIND:TARGET@AT+DURATION)")
        if extra:
            print("\n" + "; ".join(extra))
        print(f"\nrun it: simcache run {d['name']} --set {rows[0][0]}={d['params'][rows[0][0]]['default']}")
        return 0
    models = load_models()
    listing: dict[str, dict[str, Any]] = {
        name: {"description": spec.description, "params": spec.defaults()} for name, spec in sorted(models.items())
    }
    if args.json:
        print(json.dumps(listing, indent=2, default=str))
        return 0
    if not listing:
        print("no models found")
        return 0
    width = max(map(len, listing))
    for name, row in listing.items():
        print(f"{name:<{width}}  {row['description']}")
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        print(f"{'':<{width}}  params: {params}")
    print("\n`simcache models NAME` describes one model's parameters (type, default, unit, meaning).")
    return 0
