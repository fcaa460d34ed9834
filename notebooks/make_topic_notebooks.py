"""Write one notebook per topic (notebooks/<topic>.ipynb), executed, with their outputs.

    python notebooks/make_topic_notebooks.py                 # every topic whose models exist
    python notebooks/make_topic_notebooks.py eviction        # one topic
    python notebooks/make_topic_notebooks.py --no-execute    # sources only

Each notebook opens with the seed's questions of its topic, runs the topic's scenarios
(:mod:`simcache.scenarios`) on small parameters, shows each result table as a pandas DataFrame, its figure
inline and the takeaways computed from the run, and ends with an ipywidgets slider over the parameter that
teaches most (a static cell beside it shows two positions of the slider, for readers of the stored file).
``tests/notebooks/test_topic_notebooks.py`` re-executes them and compares the stored text outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

#: small parameters per scenario: each run takes a second or two
SMALL: dict[str, dict[str, Any]] = {
    "eviction-policies": {"requests": 40_000, "objects": 4_000, "size": 200, "scan_length": 400,
                          "shift_period": 10_000},
    "mrc-belady": {"objects": 4_000, "requests": 60_000, "points": 7},
    "cache-hierarchy": {"rate": 400.0, "duration": 5.0},
    "cold-start": {"rate": 600.0, "duration": 14.0, "flush_at": 9.0, "objects": 2_000, "db_connections": 3},
    "connection-pool": {"rate": 600.0, "duration": 4.0, "pause_at": 2.0},
    "global-cdn": {"rate": 300.0, "objects": 4_000, "edge_capacity": 1_000, "shield_capacity": 4_000,
                   "duration": 8.0, "purge_at": 5.0, "warmup": 1.0, "edge_ttl": 5.0},
    "memcached-vs-redis": {"duration": 1.0, "rates": "500,1500,3000"},
    "monitoring": {"rate": 500.0, "duration": 8.0, "objects": 10_000, "cache_capacity": 1_000},
    "pipelining": {"keys": 1_000, "every": 100},
    "write-strategies": {"duration": 3.0, "crash_at": 1.5, "rate": 300.0},
    "stale-set-race": {"duration": 4.0, "read_rate": 400.0, "write_rate": 80.0, "users": 40},
    "ttl-vs-invalidation": {"duration": 5.0, "read_rate": 300.0, "users": 60},
    "recommendations": {"segments": 20, "rate": 200.0, "ttl": 4.0, "duration": 7.0},
    "stampede": {"rate": 300.0, "duration": 9.0, "ttl": 4.0},
    "lock-pause": {"duration": 8.0},
    "rate-limiter": {"duration": 10.0},
    "geo-replication": {"duration": 14.0, "warmup": 7.0, "cut_at": 9.0, "cut_s": 3.0, "read_rate": 200.0,
                        "write_rate": 60.0},
    "session-store": {"duration": 14.0, "fault_at": 8.0, "write_rate": 100.0, "sample": 200},
    "sentinel-failover": {"duration": 26.0, "fault_at": 15.0, "fault_duration": 8.0, "rate": 40.0},
    "split-brain": {"rate": 40.0, "fault_at": 12.0, "fault_duration": 10.0, "duration": 38.0,
                    "min_replicas_max_lag": 3},
    "social-feed": {"duration": 8.0, "change_at": 4.0, "rate": 500.0, "keys": 3_000},
    "feed-fanout": {"duration": 4.0, "users": 600, "follows": 30, "celebrity_followers": 500, "read_rate": 200.0},
    "cluster-resharding": {"rate": 80.0, "duration": 25.0, "reshard_at": 5.0, "fault_at": 12.0},
}

#: topic -> (title, introduction, the slider: scenario, parameter, widget code, two static positions, what it shows)
TOPICS: dict[str, dict[str, Any]] = {
    "eviction": {
        "title": "Eviction policies",
        "intro": "Which eviction policy, and how much memory? LRU, LFU and FIFO against the modern policies "
                 "(ARC, LIRS, S3-FIFO, SIEVE, W-TinyLFU) on the workloads that separate them, and miss-ratio "
                 "curves with Belady's offline optimum as the bound.",
        "slider": ("eviction-policies", "size", "widgets.IntSlider(value=200, min=50, max=2000, step=50, continuous_update=False)", (100, 1000),
                   "The cache size: watch the loop's winner change once the cache holds most of the loop, and the "
                   "gap to Belady shrink as the cache grows."),
    },
    "tiers-and-latency": {
        "title": "Tiers and latency",
        "intro": "The seed's cache hierarchy end to end, a global CDN with an origin shield, a cold start after a "
                 "flush, Memcached's threads against Redis's event loop, pipelining, connection pools and the "
                 "monitoring dashboard.",
        "slider": ("global-cdn", "edge_ttl", "widgets.FloatSlider(value=5.0, min=1.0, max=30.0, step=1.0, continuous_update=False)", (2.0, 20.0),
                   "The edge TTL: a longer TTL lifts every region's hit ratio and cuts the origin's load, and the "
                   "edges serve more stale reads, since the origin cannot purge them on a write."),
    },
    "write-strategies": {
        "title": "Write strategies",
        "intro": "Cache-aside, read-through, write-through (cache first, as the seed writes it, and database "
                 "first), write-behind, write-around and refresh-ahead on the same workload with an app crash.",
        "slider": ("write-strategies", "write_fraction",
                   "widgets.FloatSlider(value=0.2, min=0.05, max=0.6, step=0.05, continuous_update=False)", (0.05, 0.5),
                   "The share of writes: write-behind's lost writes and write-around's stale reads grow with it."),
        "slider_takeaway": 1,
    },
    "consistency": {
        "title": "Consistency",
        "intro": "Keeping a cache consistent with its database: the cache-aside stale-set race measured against "
                 "its estimate, TTL expiry against invalidation on write, the seed's event bus, double deletes, "
                 "versioned sets and leases.",
        "slider": ("ttl-vs-invalidation", "short_ttl", "widgets.FloatSlider(value=5.0, min=0.5, max=20.0, step=0.5, continuous_update=False)",
                   (1.0, 15.0),
                   "The TTL of TTL-only caching: shorter means fresher and more database reads."),
    },
    "stampedes": {
        "title": "Stampedes",
        "intro": "A hot key expiring under load, the seed's StampedeProtection against single flight, XFetch, "
                 "stale-while-revalidate and leases, and a recommendation cache whose lists all expire at a model "
                 "refresh.",
        "slider": ("stampede", "beta", "widgets.FloatSlider(value=1.0, min=0.25, max=4.0, step=0.25, continuous_update=False)", (0.5, 3.0),
                   "XFetch's beta: a larger beta recomputes earlier, so fewer readers ever see the expiry."),
        "slider_set": {"protections": "none,xfetch"},
        "slider_takeaway": -1,
    },
    "replication-and-failover": {
        "title": "Replication and failover",
        "intro": "Asynchronous replication across regions, a region cut off, a session store's persistence, and "
                 "Sentinel failing a master over with the seed's settings.",
        "slider": ("geo-replication", "wan_ms", "widgets.FloatSlider(value=40.0, min=5.0, max=150.0, step=5.0, continuous_update=False)",
                   (10.0, 120.0),
                   "The WAN latency to the remote replica: the stale share of reads grows with it."),
    },
    "sharding": {
        "title": "Sharding",
        "intro": "A social feed: timelines fanned out on write or on read (and a celebrity in between), sharded "
                 "over Memcached with the celebrity's hot key, ketama against modulo when a server joins, and Redis "
                 "Cluster resharding under traffic then losing a master.",
        "slider": ("social-feed", "alpha", "widgets.FloatSlider(value=1.1, min=0.6, max=1.4, step=0.1, continuous_update=False)", (0.7, 1.3),
                   "The popularity skew: the steeper it is, the more the hottest key's server carries, whatever "
                   "the hashing."),
    },
    "rate-limiting-and-locks": {
        "title": "Rate limiting and locks",
        "intro": "The seed's Redis rate limiter and its starvation of a busy client, the alternatives, and the "
                 "seed's RedisLock with a holder that pauses past its timeout.",
        "slider": ("rate-limiter", "offered", "widgets.FloatSlider(value=20.0, min=5.0, max=60.0, step=5.0, continuous_update=False)",
                   (8.0, 40.0),
                   "The offered load per window: once it passes the limit, the seed's limiter lets almost nothing "
                   "through while the others hold the limit."),
    },
}


def scenarios_of(topic: str) -> list[Any]:
    """The topic's scenarios, in catalogue order."""
    from simcache.scenarios import load_scenarios, scenario_names

    cat = load_scenarios()
    return [cat[n] for n in scenario_names() if cat[n].topic == topic]


def available(topic: str) -> bool:
    """Whether every model the topic's scenarios need is registered (and it has a scenario)."""
    from simcache.catalog import load_models

    models = load_models()
    scs = scenarios_of(topic)
    return bool(scs) and all(m in models for sc in scs for m in sc.needs)


def build(topic: str) -> nbformat.NotebookNode:
    """The topic's notebook, cells in order, no outputs."""
    t = TOPICS[topic]
    scs = scenarios_of(topic)
    questions = "\n".join(f"* **{sc.question}** ({sc.source}) — `{sc.name}`: {sc.summary}" for sc in scs)
    cells: list[Any] = [
        new_markdown_cell(f"# {t['title']}\n\n{t['intro']}\n\nThe seed's questions this notebook answers:\n\n"
                          f"{questions}\n\nEach section runs one scenario on small parameters (`simcache scenario "
                          f"NAME` runs it at full size), shows its result table, its figure and the takeaways "
                          f"computed from this run's numbers. Every run is seeded: running the notebook again gives "
                          f"the same numbers."),
        new_code_cell("import pandas as pd\nfrom IPython.display import Image, display\n\n"
                      "from simcache.scenarios import get_scenario, run_scenario\n\n"
                      "pd.set_option(\"display.width\", 160)\n"
                      f"SMALL = {json.dumps({sc.name: SMALL[sc.name] for sc in scs}, indent=4)}\n\n\n"
                      "def show(name, **changes):\n"
                      "    \"\"\"Run scenario NAME on the small parameters (with CHANGES), show figure and takeaways, "
                      "return the table.\"\"\"\n"
                      "    r = run_scenario(name, {**SMALL[name], **changes}, seed=0, out=f\"figures/{name}\")\n"
                      "    for path in r.figures:\n"
                      "        display(Image(filename=path))\n"
                      "    for sentence in r.takeaways:\n"
                      "        print(\"-\", sentence)\n"
                      "    return r.frame()"),
    ]
    for sc in scs:
        setup, watch = sc.narrative(sc.make_params(SMALL[sc.name]))
        cells.append(new_markdown_cell(f"## {sc.question}\n\n*{sc.source} — `simcache scenario {sc.name}`*\n\n"
                                       f"**Setup.** {setup}\n\n**What to watch.** {watch}"))
        cells.append(new_code_cell(f"show({sc.name!r})"))
    name, param, widget, (lo, hi), teaches = t["slider"]
    fixed = t.get("slider_set", {})
    extra = "".join(f", {k}={v!r}" for k, v in fixed.items())
    cells.append(new_markdown_cell(f"## Move a parameter: `{param}` of `{name}`\n\n{teaches}\n\nWith a live kernel, "
                                   f"move the slider (each position is a new seeded run). The cell after it shows "
                                   f"two positions side by side, for readers of the stored notebook."))
    cells.append(new_code_cell("import ipywidgets as widgets\n\n\n"
                               f"def explore({param}):\n"
                               f"    return show({name!r}, {param}={param}{extra})\n\n\n"
                               f"widgets.interact(explore, {param}={widget});"))
    fixed_items = "".join(f", {k!r}: {v!r}" for k, v in fixed.items())
    cells.append(new_code_cell(
        f"# two positions of the slider, side by side\n"
        f"runs = {{v: run_scenario({name!r}, {{**SMALL[{name!r}], {param!r}: v{fixed_items}}}) for v in ({lo!r}, {hi!r})}}\n"
        f"for v, r in runs.items():\n"
        f"    print(f\"{param} = {{v}}: {{r.takeaways[{t.get('slider_takeaway', 0)}]}}\")\n"
        f"pd.concat({{v: r.frame() for v, r in runs.items()}}, names=[{param!r}, None])"))
    nb = new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in ``cwd`` and keep the outputs (stderr and execution timings left out)."""
    import nbclient

    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                            ).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # widget state holds model ids that change every run
    return nb


def path_of(topic: str) -> Path:
    return HERE / f"{topic}.ipynb"


if __name__ == "__main__":
    import os
    import sys
    import tempfile

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    topics = args or list(TOPICS)
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        sys.exit(f"unknown topic(s) {', '.join(unknown)}; topics: {', '.join(TOPICS)}")
    os.environ.setdefault("MPLBACKEND", "Agg")
    # the kernel inherits these: no progress bars (their widgets and monitor thread are no part of the outputs)
    os.environ["SIMCACHE_PROGRESS"] = "0"
    for topic in topics:
        if not available(topic):
            print(f"skipped {topic}: its scenarios or their models are not in this build")
            continue
        nb = build(topic)
        if "--no-execute" not in sys.argv:
            with tempfile.TemporaryDirectory() as tmp:
                nb = execute(nb, Path(tmp))
        nbformat.validate(nb)
        nbformat.write(nb, path_of(topic))
        print(f"wrote {path_of(topic)}")
