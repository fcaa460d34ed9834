"""Hit ratio of simcache's ``redis-allkeys-*`` policies against a real ``redis-server``.

The workload is Zipf(1.0) over ``--objects`` keys with cache-aside writes: each
request runs one Lua script (``EVALSHA``) that GETs the key and, on a miss, SETs
it to a fixed-size value; the script answers 1 (hit) or 0 (miss), so replies
stay small and client buffers do not move ``used_memory``.  Requests go out in
pipelined batches; each batch starts with ``TIME`` and ends with ``DBSIZE``.

* Capacity: ``maxmemory`` is the ``used_memory`` measured with ``--keys`` keys
  of the same name length and value size loaded (keys, dict table, the
  connection), then the keyspace is flushed.  simcache replays with a capacity
  in entries equal to the median ``DBSIZE`` of the second half of the real run
  (the number of keys the real server held while it evicted).
* Clock: ``hz 500``, so the server's cached LRU clock (``server.lruclock``,
  refreshed by ``serverCron``) lags real time by at most 2 ms; each request is
  replayed at the server time interpolated between the ``TIME`` replies of its
  batch and of the next, in absolute Unix seconds, so both sides see the same
  whole-second LRU ticks and the same minute boundaries of the LFU decay.

    python benchmarks/redis_eviction_vs_real.py [--requests 300000] [--objects 50000] [--keys 5000]
                                                [--policy lru,lfu,random] [--samples 1,3,5,10] [--seed 1]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from simcache.policies import make_policy

SCRIPT = ("local v = redis.call('GET', KEYS[1]) "
          "if v then return 1 end redis.call('SET', KEYS[1], ARGV[1]) return 0")
BATCH = 256  # requests per pipeline


@dataclass
class Workload:
    """The request sequence: key names (fixed width) and the value written on a miss."""

    keys: list[str]
    value: bytes


def zipf_workload(requests: int, objects: int, seed: int, alpha: float = 1.0, value_size: int = 32) -> Workload:
    """``requests`` Zipf(alpha) draws over ``objects`` keys, popularity ranks shuffled over the key names."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, objects + 1, dtype=float) ** -alpha)
    ranks = np.searchsorted(cdf / cdf[-1], rng.random(requests), side="right")
    names = rng.permutation(objects)[np.minimum(ranks, objects - 1)]
    return Workload([f"k{int(n):07d}" for n in names], b"v" * value_size)


@contextmanager
def redis_server(exe: str | None = None) -> Iterator[Any]:
    """A redis-py client of a fresh ``redis-server`` on a free port (no persistence, its own directory)."""
    import redis

    exe = exe or shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = tempfile.mkdtemp(prefix="simcache-redis-evict-")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30, protocol=2)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class RealRun:
    """What the real server did: per-request hit flags and times, and the keys it held while evicting."""

    hits: np.ndarray
    times: np.ndarray
    capacity: int
    dbsize_range: tuple[int, int]
    maxmemory: int
    evicted: int


def calibrate(r: Any, wl: Workload, keys: int) -> int:
    """``used_memory`` with ``keys`` keys of the workload's name length and value size loaded."""
    r.flushall()
    r.config_set("maxmemory", 0)
    pipe = r.pipeline(transaction=False)
    for i in range(keys):
        pipe.set(f"f{i:07d}", wl.value)
        if len(pipe) >= BATCH:
            pipe.execute()
    pipe.execute()
    used = int(r.info("memory")["used_memory"])
    r.flushall()
    return used


def run_real(r: Any, wl: Workload, policy: str, samples: int, maxmemory: int) -> RealRun:
    """Replay the workload on the real server under ``allkeys-<policy>`` and ``maxmemory-samples``."""
    r.flushall()
    r.config_set("hz", 500)
    r.config_set("maxmemory-policy", f"allkeys-{policy}")
    r.config_set("maxmemory-samples", samples)
    r.config_set("maxmemory", maxmemory)
    r.config_resetstat()
    sha = r.script_load(SCRIPT)
    n = len(wl.keys)
    hits = np.zeros(n, dtype=bool)
    starts: list[float] = []
    sizes: list[int] = []
    for b in range(0, n, BATCH):
        pipe = r.pipeline(transaction=False)
        pipe.time()
        for k in wl.keys[b:b + BATCH]:
            pipe.evalsha(sha, 1, k, wl.value)
        pipe.dbsize()
        out = pipe.execute()
        sec, usec = out[0]
        starts.append(sec + usec / 1e6)
        hits[b:b + len(out) - 2] = np.asarray(out[1:-1], dtype=np.int64) == 1
        sizes.append(int(out[-1]))
    sec, usec = r.time()
    starts.append(sec + usec / 1e6)
    times = np.empty(n)
    for j, b in enumerate(range(0, n, BATCH)):
        m = min(BATCH, n - b)
        times[b:b + m] = starts[j] + (starts[j + 1] - starts[j]) * (np.arange(m) + 0.5) / m
    steady = sizes[len(sizes) // 2:]
    evicted = int(r.info("stats")["evicted_keys"])
    return RealRun(hits, times, int(np.median(steady)), (min(steady), max(steady)), maxmemory, evicted)


def run_sim(wl: Workload, real: RealRun, policy: str, samples: int, seed: int) -> np.ndarray:
    """simcache's ``redis-allkeys-<policy>`` over the same requests at the same times; per-request hit flags."""
    p = make_policy(f"redis-allkeys-{policy}", real.capacity, rng=np.random.default_rng(seed),
                    maxmemory_samples=samples)
    access = p.access
    return np.fromiter((access(k, now=t) for k, t in zip(wl.keys, real.times.tolist(), strict=True)),
                       dtype=bool, count=len(wl.keys))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300_000)
    ap.add_argument("--objects", type=int, default=50_000)
    ap.add_argument("--keys", type=int, default=5_000, help="keys that fit in maxmemory")
    ap.add_argument("--policy", default="lru,lfu,random")
    ap.add_argument("--samples", default="1,3,5,10")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sim-seeds", type=int, default=1, help="simcache runs per case (mean and spread shown)")
    args = ap.parse_args()
    wl = zipf_workload(args.requests, args.objects, args.seed)
    print(f"Zipf(1.0), {args.requests} requests over {args.objects} keys, ~{args.keys} keys fit; "
          f"pipelines of {BATCH}")
    print(f"{'policy':<8}{'samples':>8}{'capacity':>10}{'dbsize':>14}{'req/s':>9}"
          f"{'real':>9}{'simcache':>10}{'diff':>9}{'sim sd':>8}")
    with redis_server() as r:
        maxmemory = calibrate(r, wl, args.keys)
        for policy in args.policy.split(","):
            for samples in (int(s) for s in args.samples.split(",")):
                real = run_real(r, wl, policy, samples, maxmemory)
                sims = [float(run_sim(wl, real, policy, samples, seed).mean())
                        for seed in range(args.seed, args.seed + args.sim_seeds)]
                hr_real, hr_sim = float(real.hits.mean()), float(np.mean(sims))
                rate = len(wl.keys) / (real.times[-1] - real.times[0])
                sd = float(np.std(sims, ddof=1)) if len(sims) > 1 else float("nan")
                lo, hi = real.dbsize_range
                print(f"{policy:<8}{samples:>8}{real.capacity:>10}{f'{lo}-{hi}':>14}{rate:>9.0f}"
                      f"{hr_real:>9.4f}{hr_sim:>10.4f}{hr_sim - hr_real:>+9.4f}{sd:>8.4f}", flush=True)


if __name__ == "__main__":
    main()
