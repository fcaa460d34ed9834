"""The replay, mrc, theory and tour subcommands through simcache.cli.main."""

from __future__ import annotations

import csv
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from simcache.cli import main
from simcache.replay import replay, source_from_args

TRACE = [1, 2, 3, 1, 2, 4, 1, 2, 3, 4]
SYN = ["--synthetic", "zipf", "--alpha", "0.9", "--objects", "300", "--requests", "3000", "--seed", "4"]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI; return (exit status, stdout, stderr), argparse exits included."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def txt_trace(tmp_path: Path) -> Path:
    path = tmp_path / "hand.txt"
    path.write_text("".join(f"{i}\n" for i in TRACE))
    return path


def test_replay_json_fields_and_hand_counts(capsys: pytest.CaptureFixture[str], txt_trace: Path) -> None:
    code, out, err = cli(capsys, "replay", "--trace", str(txt_trace), "--policy", "lru,fifo", "--size", "3,50%",
                         "--engine", "reference", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["policy"], r["size"], r["hits"], r["misses"]) for r in rows] == [
        ("lru", 3, 4, 6), ("lru", 2, 0, 10), ("fifo", 3, 2, 8), ("fifo", 2, 0, 10)]
    for r in rows:
        assert {"policy", "size", "requests", "hits", "misses", "miss_ratio", "byte_miss_ratio", "seconds",
                "engine"} <= set(r)
        assert r["engine"] == "reference" and r["requests"] == 10
        assert r["miss_ratio"] == pytest.approx(r["misses"] / 10)


def test_replay_json_synthetic_matches_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "replay", *SYN, "--policy", "lru,slru", "--size", "1%,10%", "--warmup", "0.2",
                         "--param", "protected_ratio=0.5", "--json")
    assert code == 0, err
    rows = json.loads(out)
    src = source_from_args(synthetic="zipf", alpha=0.9, objects=300, requests=3000, seed=4)
    api = replay(src, ["lru", "slru"], ["1%", "10%"], warmup=0.2, params={"slru": {"protected_ratio": 0.5}},
                 engine="reference", seed=4)
    assert [(r["policy"], r["size"], r["hits"], r["requests"]) for r in rows] == [
        (r.policy, r.size, r.hits, r.requests) for r in api]
    assert rows[2]["params"] == {"protected_ratio": 0.5} and rows[0]["params"] == {}
    assert all(r["requests"] == 3000 - 600 for r in rows)


def test_replay_table(capsys: pytest.CaptureFixture[str], txt_trace: Path) -> None:
    code, out, err = cli(capsys, "replay", "--trace", str(txt_trace), "--policy", "lru,fifo", "--size", "3",
                         "--engine", "reference")
    assert code == 0, err
    lines = out.strip().splitlines()
    header = lines[1].split()
    assert header == ["policy", "size", "requests", "hits", "misses", "miss_ratio", "byte_miss_ratio", "seconds",
                      "engine"]
    body = [line.split() for line in lines[3:]]
    assert [(b[0], b[1], b[3], b[5], b[8]) for b in body] == [("lru", "3", "4", "0.6000", "reference"),
                                                               ("fifo", "3", "2", "0.8000", "reference")]
    # aligned: every column starts at the same offset on every line
    assert lines[3].index("reference") == lines[4].index("reference") == lines[1].index("engine")


@pytest.mark.parametrize("argv, needle", [
    (["replay", *SYN, "--policy", "lruu", "--size", "10"], "unknown policy 'lruu'"),
    (["replay", *SYN, "--policy", "lru", "--size", "12x"], "bad cache size '12x'"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--warmup", "1"], "--warmup must be a fraction"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--warmup", "-0.5"], "--warmup must be a fraction"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--warmup", "half"], "expected a number"),
    (["replay", "--trace", "/nonexistent/t.bin", "--policy", "lru", "--size", "10"], "no such trace file"),
    (["replay", "--trace", "@TXT", "--format", "parquetz", "--policy", "lru", "--size", "10"],
     "unknown trace format 'parquetz'"),
    (["replay", "--synthetic", "zipf", "--objects", "10", "--requests", "10", "--policy", "lru", "--size", "2"],
     "needs --alpha"),
    (["replay", "--synthetic", "zipf", "--alpha", "1", "--requests", "10", "--policy", "lru", "--size", "2"],
     "needs --objects"),
    (["replay", "--synthetic", "pareto", "--policy", "lru", "--size", "2"], "unknown synthetic workload 'pareto'"),
    (["replay", "--policy", "lru", "--size", "2"], "exactly one of --trace PATH or --synthetic"),
    (["replay", "--trace", "@TXT", "--seed", "-3", "--policy", "random", "--size", "2"], "--seed"),
    (["replay", *SYN, "--format", "lirs", "--policy", "lru", "--size", "2"], "--format applies to --trace only"),
    (["replay", "--trace", "@TXT", "--alpha", "1", "--policy", "lru", "--size", "2"], "only applies to --synthetic"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--param", "nope=1"], "no selected policy has a parameter"),
    (["replay", *SYN, "--policy", "slru", "--size", "10", "--param", "protected_ratio=lots"], "expects float"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--param", "justtext"], "expected k=v"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--bytes"], "needs object sizes"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--engine", "turbo"], "invalid choice: 'turbo'"),
    (["replay", *SYN, "--size", "10"], "the following arguments are required: --policy"),
    (["replay", *SYN, "--policy", "lru", "--size", "10", "--colour"], "unrecognized arguments: --colour"),
    (["mrc", *SYN, "--size", "5y"], "bad cache size '5y'"),
    (["mrc", *SYN, "--plot", "curve.gif"], "must end in .png, .svg or .pdf"),
    (["theory", "--objects", "100", "--size", "10"], "the following arguments are required: --alpha"),
    (["theory", "--alpha", "0.8", "--objects", "100", "--size", "10", "--policy", "arc"], "no analytic model"),
    (["theory", "--alpha", "-1", "--objects", "100", "--size", "10"], "--alpha must be"),
    (["theory", "--alpha", "0.8", "--objects", "0", "--size", "10"], "--objects must be in [1,"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], txt_trace: Path, argv: list[str],
                                          needle: str) -> None:
    argv = [str(txt_trace) if a == "@TXT" else a for a in argv]
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"simcache {argv[0]}: error: ")
    assert needle in lines[0]


@pytest.mark.parametrize("command", ["replay", "mrc", "theory", "tour"])
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = cli(capsys, command, "--help")
    assert code == 0
    assert f"usage: simcache {command}" in out and len(out.splitlines()) > 8


def brute_force_lru_miss_ratio(ids: np.ndarray, capacity: int) -> float:
    cache: OrderedDict[int, None] = OrderedDict()
    misses = 0
    for key in ids.tolist():
        if key in cache:
            cache.move_to_end(key)
            continue
        misses += 1
        cache[key] = None
        if len(cache) > capacity:
            cache.popitem(last=False)
    return misses / len(ids)


def test_mrc_json_equals_brute_force_lru(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--synthetic", "zipf", "--alpha", "0.7", "--objects", "60", "--requests", "1500", "--seed", "2"]
    code, out, err = cli(capsys, "mrc", *argv, "--json")
    assert code == 0, err
    rows = json.loads(out)
    from simcache.traces import read_all

    ids = read_all(source_from_args(synthetic="zipf", alpha=0.7, objects=60, requests=1500, seed=2)).ids
    distinct = len(np.unique(ids))
    assert [r["size"] for r in rows] == list(range(1, distinct + 1))
    for r in rows:
        assert r["miss_ratio"] == pytest.approx(brute_force_lru_miss_ratio(ids, r["size"]), abs=1e-12)
    code, out, err = cli(capsys, "mrc", *argv, "--size", "3,10%,1000", "--json")
    assert code == 0, err
    asked = json.loads(out)
    assert [r["size"] for r in asked] == [3, round(0.1 * distinct), 1000]
    for r in asked:
        assert r["miss_ratio"] == pytest.approx(brute_force_lru_miss_ratio(ids, r["size"]), abs=1e-12)


def test_mrc_plot_and_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "curve.svg"
    code, out, err = cli(capsys, "mrc", *SYN, "--size", "5,50", "--plot", str(plot))
    assert code == 0, err
    assert plot.stat().st_size > 1000 and plot.read_text().lstrip().startswith("<?xml")
    assert out.splitlines()[1].split() == ["size", "miss_ratio"] and len(out.splitlines()) == 6


def test_theory_json_equals_the_functions(capsys: pytest.CaptureFixture[str]) -> None:
    from simcache.theory import che_hit_ratio, fifo_hit_ratio, lfu_hit_ratio, random_hit_ratio
    from simcache.workloads import zipf_pmf

    code, out, err = cli(capsys, "theory", "--alpha", "0.8", "--objects", "1000", "--size", "10,5%,200", "--json")
    assert code == 0, err
    rows = json.loads(out)
    pdf = zipf_pmf(0.8, 1000)
    fns = {"lru": che_hit_ratio, "fifo": fifo_hit_ratio, "random": random_hit_ratio, "lfu": lfu_hit_ratio}
    assert [(r["policy"], r["size"]) for r in rows] == [(p, s) for p in fns for s in (10, 50, 200)]
    for r in rows:
        assert r["hit_ratio"] == pytest.approx(fns[r["policy"]](pdf, r["size"]), rel=1e-12)
        assert r["miss_ratio"] == pytest.approx(1 - r["hit_ratio"], rel=1e-12)
    # perfect LFU holds the most popular objects: its hit ratio is their probability mass
    lfu = [r for r in rows if r["policy"] == "lfu"]
    assert lfu[0]["hit_ratio"] == pytest.approx(float(np.sort(pdf)[::-1][:10].sum()), rel=1e-9)


def test_tour_quick_writes_tables_and_figures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from simcache.policies import policy_names

    out_dir = tmp_path / "results"
    code, out, err = cli(capsys, "tour", "--quick", "--out", str(out_dir))
    assert code == 0, err
    with (out_dir / "replay.csv").open() as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames
        rows = list(reader)
    assert columns is not None and {"trace", "policy", "size", "miss_ratio", "engine", "requests"} <= set(columns)
    traces = sorted({r["trace"] for r in rows})
    assert {"zipf0.8", "zipf1.0"} <= set(traces)
    for trace in traces:
        sizes = {r["size"] for r in rows if r["trace"] == trace}
        combos = [(r["policy"], r["size"]) for r in rows if r["trace"] == trace]
        assert sorted(combos) == sorted((p, s) for p in policy_names() for s in sizes)  # one row each
        assert len(sizes) == 2
        assert (out_dir / f"mrc_{trace}.png").stat().st_size > 0
        assert (out_dir / f"policies_{trace}.png").stat().st_size > 0
    assert len(json.loads((out_dir / "replay.json").read_text())) == len(rows)
    # Belady is optimal among policies that admit every miss, such as LRU and FIFO
    for trace in traces:
        for size in {r["size"] for r in rows if r["trace"] == trace}:
            cell = {r["policy"]: float(r["miss_ratio"]) for r in rows if r["trace"] == trace and r["size"] == size}
            assert cell["belady"] <= min(cell["lru"], cell["fifo"])
    assert "best online policy per cache size" in out


def test_mrc_json_covers_every_size_up_to_the_distinct_objects(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    # 1 2 1 3 4 5: the largest reuse distance is 2, but 5 objects exist; beyond 2 only the 5 cold misses remain
    path = tmp_path / "tail.txt"
    path.write_text("1\n2\n1\n3\n4\n5\n")
    code, out, err = cli(capsys, "mrc", "--trace", str(path), "--json")
    assert code == 0, err
    assert json.loads(out) == [{"size": 1, "miss_ratio": 1.0}] + [{"size": s, "miss_ratio": 5 / 6} for s in (2, 3, 4, 5)]


def test_mrc_bytes_agrees_with_a_byte_replay(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from simcache.traces import write_oracle_general

    rng = np.random.default_rng(11)
    ids = rng.zipf(1.3, 2000) % 150
    sizes = 1 + (ids * 7919) % 40  # a fixed size per object
    path = write_oracle_general(tmp_path / "sized.oracleGeneral.bin", ids, sizes)
    caps = [60, 300, 1000]  # larger than every object, where the byte MRC is exact
    code, out, err = cli(capsys, "mrc", "--trace", str(path), "--bytes", "--size", ",".join(map(str, caps)), "--json")
    assert code == 0, err
    got = json.loads(out)
    ref = replay(str(path), "lru", caps, bytes_mode=True, engine="reference")
    assert [r["size"] for r in got] == caps
    for g, r in zip(got, ref, strict=True):
        assert g["miss_ratio"] == pytest.approx(r.miss_ratio, abs=1e-12)
