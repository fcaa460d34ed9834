"""``simcache mrc`` as a whole command: what it loads, and the curve it prints without a second pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from simcache.kernels import ArraySource
from simcache.mrc import exact_lru_mrc

ROOT = Path(__file__).resolve().parents[2]


def test_mrc_command_loads_no_kernel_module_no_pandas_and_reads_the_trace_once(tmp_path: Path) -> None:
    # percentages of the distinct objects come from the exact curve itself, which spans 1..distinct
    # (tests/mrc/test_mrc.py checks that against LRU replay), not from a second pass over the trace
    from simcache.traces import write_oracle_general

    path = tmp_path / "t.oracleGeneral.bin"
    ids = np.random.default_rng(3).zipf(1.2, 5000) % 700
    write_oracle_general(path, ids)
    script = (
        "import json, sys\n"
        "import simcache.replay as replay\n"
        "calls = []\n"
        "real = replay.trace_stats\n"
        "replay.trace_stats = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import simcache.cli.mrc as cli_mrc\n"
        "cli_mrc.trace_stats = replay.trace_stats\n"
        "from simcache.cli import main\n"
        f"rc = main(['mrc', '--trace', {str(path)!r}, '--size', '1,10%,50%', '--json'])\n"
        "print(json.dumps({'rc': rc, 'stats_calls': len(calls), 'mods': sorted(m for m in sys.modules if m == 'pandas'\n"
        "    or m.startswith('simcache.kernels.') and m.rsplit('.', 1)[1] in ('arc', 'lru', 's3fifo', 'wtinylfu'))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows, info = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    assert info == {"rc": 0, "stats_calls": 0, "mods": []}
    distinct = len(np.unique(ids))
    sizes, miss = exact_lru_mrc(ArraySource(ids))
    want = [1, int(0.1 * distinct), int(0.5 * distinct)]
    assert [r["size"] for r in rows] == want
    assert [r["miss_ratio"] for r in rows] == [float(miss[s - 1]) for s in want]
