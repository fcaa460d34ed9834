"""The same kernel source runs as plain Python (numba disabled) and still matches the reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import numpy as np
from simcache.kernels import COMPILED, hit_sequence, kernel_names
from tests.kernels._reference import reference_hits
assert not COMPILED, "numba was not disabled"
rng = np.random.default_rng(7)
bad = []
for policy in kernel_names():
    for trial in range(6):
        n, u = 250, int(rng.integers(4, 40))
        ids = rng.integers(0, u, n) if trial % 2 else (rng.zipf(1.4, n) % u)
        sizes = rng.integers(1, 12, u)[ids] if trial % 3 == 0 else None
        cap = int(rng.integers(1, 15))
        fast = hit_sequence(policy, ids, sizes, cap, bytes_mode=sizes is not None, chunk=int(rng.integers(1, 100)))
        if not (fast == reference_hits(policy, ids, sizes, cap)).all():
            bad.append((policy, trial))
# non-default parameters of the kernels with knobs the loop above leaves at their defaults
lcs = {"variant": "libcachesim"}
for policy, params in (("wtinylfu", {"doorkeeper": True, "sample_factor": 1, "window_ratio": 0.2}),
                       ("gdsf", {"cost": 2.5}), ("lfuda", {"cost": 0.5}),
                       # libCacheSim's variants: their own loops (W-TinyLFU's XXH64 runs on Python ints here)
                       ("wtinylfu", {**lcs, "window_ratio": 0.3}), ("lirs", lcs), ("slru", lcs), ("lfuda", lcs),
                       ("gdsf", lcs), ("arc", lcs), ("2q", lcs), ("s3fifo", lcs)):
    for trial in range(4):
        n, u = 250, int(rng.integers(4, 40))
        ids = rng.zipf(1.3, n) % u
        sizes = rng.integers(1, 12, n) if trial % 2 else None  # per request: hits change sizes
        cap = int(rng.integers(1, 15))
        fast = hit_sequence(policy, ids, sizes, cap, bytes_mode=sizes is not None, params=params, chunk=37)
        if not (fast == reference_hits(policy, ids, sizes, cap, params)).all():
            bad.append((policy, params, trial))
# slot-hashed layouts (raw 64-bit ids hashed in the loop; "auto" moves over mid-trace) against the same reference
from simcache.kernels.hashed import hashed_policies
for policy in hashed_policies():
    for trial in range(4):
        n, u = 250, int(rng.integers(4, 40))
        ids = (rng.integers(0, u, n) * -0x5DEECE66D - 2**62) if trial % 2 else (rng.zipf(1.4, n) % u) * 0x2545F4914F6CDD1D
        sizes = rng.integers(1, 12, n) if trial < 2 else None
        cap = int(rng.integers(1, 15))
        for layout in ("hashed", "auto"):
            fast = hit_sequence(policy, ids, sizes, cap, bytes_mode=sizes is not None, chunk=int(rng.integers(1, 100)),
                                state=layout)
            if not (fast == reference_hits(policy, ids, sizes, cap)).all():
                bad.append((policy, layout, trial))
print("checked", len(kernel_names()), "kernels; mismatches:", bad)
assert not bad

from simcache.kernels import ArraySource
from simcache.mrc import exact_lru_mrc, mrc_mae, shards_mrc
ids = rng.zipf(1.2, 3000) % 300
src = ArraySource(ids, chunk=500)
sizes, mr = exact_lru_mrc(src)
for c in (1, 10, 100):
    assert abs(mr[c - 1] - (1 - hit_sequence("lru", ids, None, c, bytes_mode=False).mean())) < 1e-12
assert mrc_mae((sizes, mr), shards_mrc(src, rate=1.0)) < 1e-12
assert mrc_mae((sizes, mr), shards_mrc(src, sample_size=1000)) < 1e-12
assert mrc_mae((sizes, mr), shards_mrc(src, sample_size=50)) < 0.2
print("mrc ok")
"""


def test_kernels_match_reference_without_numba() -> None:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mismatches: []" in proc.stdout
    assert "mrc ok" in proc.stdout
