"""Fuzzers that stay: generated trace files, sweep files and argument vectors through the CLI entry point.

Every case must end with exit status 0 and sane output, or exit status 2 and exactly one line on stderr,
never a traceback, within a time bound. The fast profile (a few hundred cases) runs in the normal suite;
the ``slow`` one runs more than 10**4.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache.catalog import load_models
from simcache.cli import main
from simcache.shipped import shipped_dir
from simcache.traces import write_oracle_general

#: seconds one case may take
CASE_SECONDS = 20
FAST = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LONG = settings(max_examples=3400, deadline=None, suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def bounded(seconds: int) -> Iterator[None]:
    """Fail the case (TimeoutError) when it runs longer than ``seconds`` (SIGALRM: POSIX, main thread)."""
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``simcache ARGV`` in-process and assert the contract; return (status, stdout)."""
    capsys.readouterr()
    with bounded(CASE_SECONDS):
        try:
            rc: Any = main(list(argv))
        except SystemExit as exc:
            rc = exc.code
    out, err = capsys.readouterr()
    rc = int(rc or 0)
    lines = err.splitlines()
    assert "Traceback" not in err, err
    if rc == 0:
        assert out.strip(), "exit 0 with no output"
        assert all("warning" in line for line in lines), lines
    else:
        assert rc == 2, (rc, argv, err)
        assert len(lines) == 1, (argv, lines)
        assert lines[0].startswith("simcache"), lines
    return rc, out


@pytest.fixture(autouse=True)
def _models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMCACHE_MODELS_PATH", raising=False)
    load_models(force=True)


# ------------------------------------------------------------------ trace files
FORMATS = ("oracleGeneral", "lirs", "txt", "csv", "cache2k")
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda b: b, ".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress,
    ".zst": lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b),
}
NAMES = {"oracleGeneral": "t.oracleGeneral", "lirs": "t.lirs", "txt": "t.txt", "csv": "t.csv",
         "cache2k": "cache2k_t.trace"}


def _trace_bytes(fmt: str, ids: list[int], tmp: Path) -> bytes:
    arr = np.asarray(ids, dtype=np.int64)
    if fmt == "oracleGeneral":
        return write_oracle_general(tmp / "w.bin", arr, sizes=np.abs(arr) % 1000 + 1).read_bytes()
    if fmt == "cache2k":
        return arr.astype(">i4").tobytes()
    if fmt == "csv":
        return ("id,size\n" + "".join(f"{i},{abs(i) % 1000 + 1}\n" for i in ids)).encode()
    return "".join(f"{i}\n" for i in ids).encode()


@st.composite
def trace_cases(draw: st.DrawFn) -> tuple[str, str, bytes]:
    fmt = draw(st.sampled_from(FORMATS))
    ids = draw(st.lists(st.integers(0, 40), min_size=1, max_size=300))
    ext = draw(st.sampled_from(sorted(COMPRESS)))
    with tempfile.TemporaryDirectory() as d:
        data = COMPRESS[ext](_trace_bytes(fmt, ids, Path(d)))
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "both", "garbage"]))
    if mutation in ("truncate", "both") and len(data) > 1:
        data = data[: draw(st.integers(0, len(data) - 1))]
    if mutation in ("flip", "both") and data:
        pos = draw(st.integers(0, len(data) - 1))
        data = data[:pos] + bytes([data[pos] ^ (1 << draw(st.integers(0, 7)))]) + data[pos + 1:]
    if mutation == "garbage":
        data = draw(st.binary(min_size=0, max_size=600))
    name = NAMES[fmt] + (".xz" if fmt == "cache2k" and ext == "" else ext)
    return fmt, name, data


def _trace_case(case: tuple[str, str, bytes], capsys: pytest.CaptureFixture[str], extra: Sequence[str]) -> None:
    fmt, name, data = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        opts = ["--trace-option", "size=size"] if fmt == "csv" else []
        rc, out = check_cli(["replay", "--trace", str(path), *opts, "--policy", "lru,belady,arc", "--size", "3",
                             *extra], capsys)
        if rc == 0:
            assert "miss_ratio" in out or out.lstrip().startswith("[")


@FAST
@given(case=trace_cases())
def test_fuzz_trace_files(case: tuple[str, str, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    _trace_case(case, capsys, [])


@pytest.mark.slow
@LONG
@given(case=trace_cases(), json_out=st.booleans())
def test_fuzz_trace_files_long(case: tuple[str, str, bytes], json_out: bool,
                               capsys: pytest.CaptureFixture[str]) -> None:
    _trace_case(case, capsys, ["--json"] if json_out else [])


# ------------------------------------------------------------------ sweep files
SHIPPED = sorted(shipped_dir("experiments").glob("*.toml"))
WEIRD_VALUES = ["-1", "0", "1e308", "inf", "nan", '"x"', '"0.5"', "[]", "{}", "true", "9999999999999999999999",
                '"../../escaped"', '"a/b"', "1000000000", '{ start = 1, stop = inf, step = 1 }',
                '{ start = 1, stop = 1e9, step = 1 }', '"\\u0000"', '"' + "n" * 200 + '"']


@st.composite
def sweep_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SHIPPED)).read_text(encoding="utf-8")
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["value", "delete", "duplicate", "bytes"]))
        if how == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(WEIRD_VALUES))}"
        elif how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        else:
            lines[i] = lines[i] + draw(st.text(max_size=8))
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


def _sweep_case(text: str, capsys: pytest.CaptureFixture[str], quick: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.toml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        rc, out = check_cli(["sweep", str(path), "--dry-run", *(["--quick"] if quick else [])], capsys)
        if rc == 0:
            assert " runs over " in out


@FAST
@given(text=sweep_texts(), quick=st.booleans())
def test_fuzz_sweep_files(text: str, quick: bool, capsys: pytest.CaptureFixture[str]) -> None:
    _sweep_case(text, capsys, quick)


@pytest.mark.slow
@LONG
@given(text=sweep_texts(), quick=st.booleans())
def test_fuzz_sweep_files_long(text: str, quick: bool, capsys: pytest.CaptureFixture[str]) -> None:
    _sweep_case(text, capsys, quick)


# ------------------------------------------------------------------ argument vectors
NUMBERS = ["0", "1", "-1", "3", "1e-308", "1e308", "nan", "inf", "-inf", "abc", "99999999999999999999", "1.5",
           "1%", "0%", "101%", "64KiB", "", " ", "1_0", "\n"]
SYN = ["--synthetic", "zipf", "--alpha", "0.8", "--objects", "50", "--requests", "300"]


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    n = st.sampled_from(NUMBERS)
    kind = draw(st.sampled_from(["replay", "mrc", "theory", "run", "sweep", "trace", "plot", "junk"]))
    if kind == "replay":
        argv = ["replay", "--policy", draw(st.sampled_from(["lru", "arc,lru", "nosuch", "redis-allkeys-lru", ","])),
                "--size", draw(n), *SYN]
        for flag in draw(st.lists(st.sampled_from(["--rate", "--warmup", "--seed", "--objects", "--requests"]),
                                  max_size=2, unique=True)):
            argv += [flag, draw(n)]
    elif kind == "mrc":
        argv = ["mrc", *SYN] + draw(st.sampled_from([[], ["--shards-rate"], ["--shards-size"], ["--size"]]))
        if argv[-1].startswith("--"):
            argv.append(draw(n))
    elif kind == "theory":
        objects = draw(st.sampled_from(["100", "0", "-5", "1e11", "abc", "5000"]))
        argv = ["theory", "--alpha", draw(n), "--objects", objects, "--size", draw(n)]
    elif kind == "run":
        argv = ["run", draw(st.sampled_from(["mm1", "md1", "nosuch"])), "--duration",
                draw(st.sampled_from(["50", "abc", "-1", "inf", "nan", "0"]))]
        for _ in range(draw(st.integers(0, 2))):
            argv += ["--set", f"{draw(st.sampled_from(['arrival_rate', 'service_rate', 'warmup', 'x']))}={draw(n)}"]
        argv += draw(st.sampled_from([[], ["--seed", draw(n)], ["--json"]]))
    elif kind == "sweep":
        argv = ["sweep", draw(st.sampled_from(["smoke", "nosuch", "a\nb.toml", "x" * 300])), "--dry-run"]
        argv += draw(st.sampled_from([[], ["--workers", draw(n)], ["--max-runs", draw(n)], ["--quick"]]))
    elif kind == "trace":
        argv = ["trace", draw(st.sampled_from(["stats", "convert", "nosuch"])),
                draw(st.sampled_from(["/nonexistent.bin", "/", "/proc/self/status", "a\nb"]))]
    elif kind == "plot":
        argv = ["plot", draw(st.sampled_from(["/nonexistent", "/tmp"])),
                *draw(st.sampled_from([[], ["--kind", "nosuch"], ["--x", "y"]]))]
    else:
        argv = draw(st.lists(st.sampled_from(["--", "-x", "replay", "--size", "1", "--policy"]), max_size=4))
    return argv


def _argv_case(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    if not argv:
        argv = ["nosuch"]
    check_cli(argv, capsys)


@FAST
@given(argv=argvs())
def test_fuzz_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _argv_case(argv, capsys)


@pytest.mark.slow
@LONG
@given(argv=argvs())
def test_fuzz_arguments_long(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _argv_case(argv, capsys)
