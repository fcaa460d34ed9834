"""A kernel whose int64 state would overflow stops there and says so; ``engine="auto"`` then takes the reference.

libCacheSim's LFU-DA (``variant="libcachesim"``) adds min_freq to a key's frequency on every hit, so the
frequencies double generation by generation; on a small cache they pass 2**63 within 20,000 requests.  The
reference's Python integers go on exactly; the kernel must not wrap around silently.
"""

from __future__ import annotations

import numpy as np
import pytest

from simcache.errors import KernelLimit
from simcache.kernels import KERNELS, ArraySource, replay_fast
from simcache.kernels.hashed import new_hashed_state
from simcache.policies import make_policy
from simcache.replay import replay
from simcache.workloads import zipf_trace

LCS = {"variant": "libcachesim"}
I64_MAX = 2**63 - 1


def _trace() -> np.ndarray:
    return np.asarray(zipf_trace(0.9, 5000, 60_000, seed=3), dtype=np.int64)


@pytest.mark.parametrize("layout", ["dense", "hashed"])
def test_lfuda_kernel_stops_before_the_request_that_overflows(layout: str) -> None:
    ids = _trace()
    one = np.ones(ids.shape[0], dtype=np.int64)
    if layout == "dense":
        st = KERNELS["lfuda"].new_state(10, LCS, False)
        st.ensure(int(ids.max()) + 1)
    else:
        st = new_hashed_state(KERNELS["lfuda"], 10, LCS, False)
    hit = np.zeros(ids.shape[0], dtype=np.int8)
    with pytest.raises(KernelLimit, match=r"pass 2\*\*63 at request \d+.*--engine reference"):
        st.run(ids, one, one, np.zeros(0, dtype=np.int64), 0, 0, hit)
    stop = int(st.sc[7])
    # the reference agrees request for request up to there, and there a frequency really passes int64
    ref = make_policy("lfuda", 10, **LCS)
    got = [ref.access(int(k)) for k in ids[:stop]]
    assert (hit[:stop].astype(bool) == np.asarray(got)).all()
    key = int(ids[stop])
    assert key in ref._f and ref._f[key] + ref.min_freq > I64_MAX  # noqa: SLF001 - the reference's frequency
    assert 0 < stop < ids.shape[0]


def test_auto_replays_an_overflowing_policy_with_the_reference_and_fast_refuses() -> None:
    ids = _trace()
    auto = replay(ArraySource(ids), ["lfuda", "lru"], [10], params={"lfuda": LCS})
    ref = replay(ArraySource(ids), "lfuda", [10], params=LCS, engine="reference")
    assert [(r.policy, r.engine) for r in auto] == [("lfuda", "reference"), ("lru", "fast")]
    assert auto[0].hits == ref[0].hits
    with pytest.raises(KernelLimit):
        replay(ArraySource(ids), "lfuda", [10], params=LCS, engine="fast")
    # a large cache keeps the frequencies small: the kernel runs it
    (big,) = replay_fast(ArraySource(ids), "lfuda", [1000], bytes_mode=False, params=LCS)
    assert big["hits"] == replay(ArraySource(ids), "lfuda", [1000], params=LCS, engine="reference")[0].hits
