"""Fixtures for the Redis tests: a real ``redis-server`` on a free local port, for the differential tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(proc: subprocess.Popen[bytes], client: Any, what: str) -> None:
    """Wait (up to 10 s) until ``client`` gets a PING answered; skip the test when ``what`` does not start."""
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                return
        except redis.exceptions.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_real_redis(proc, client)
                pytest.skip(f"{what} did not start")
            time.sleep(0.02)


def start_real_redis(*args: str, purpose: str = "the differential tests against a real Redis",
                     workdir: str | None = None, port: int | None = None) -> tuple[subprocess.Popen[bytes], Any, int]:
    """A real ``redis-server`` (no persistence) on ``port`` (default a free one) with ``args``, and a RESP2
    redis-py client of it.

    It works in its own directory (``workdir``, default a new temporary one): a BGSAVE or CONFIG SET
    appendonly writes its files there, not in the checkout.  Skips, naming ``purpose``, when redis-server or
    the redis package is missing or the server does not start.
    """
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip(f"redis-server is not installed (apt-get install redis-server), so {purpose} cannot run")
    redis = pytest.importorskip("redis", reason="the redis Python package is needed to talk to a real redis-server")
    port = port or _free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="simcache-redis-")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, protocol=2)
    wait_until_up(proc, client, f"redis-server on port {port}")
    return proc, client, port


def stop_real_redis(proc: subprocess.Popen[bytes], client: Any) -> None:
    """Close the client and stop the server (killed if it does not exit within 10 s)."""
    client.close()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def real_redis() -> Iterator[Any]:
    """A redis-py client (RESP2) of a fresh ``redis-server`` (no persistence); skips when it is not installed.

    The simulated connection speaks RESP2, so the differential tests compare raw replies on a RESP2
    connection; redis-py's default (RESP3 with ``legacy_responses``) is compared method by method by
    :func:`real_redis_resp3`.
    """
    proc, client, _ = start_real_redis()
    try:
        yield client
    finally:
        stop_real_redis(proc, client)


@pytest.fixture(scope="session")
def real_redis_resp3(real_redis: Any) -> Iterator[Any]:
    """A second client of the same server with redis-py's default protocol (RESP3, legacy response shapes)."""
    import redis

    kw = real_redis.connection_pool.connection_kwargs
    client = redis.Redis(host=kw["host"], port=kw["port"], socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def fresh_redis(real_redis: Any) -> Any:
    """The real server, emptied and back to its default configuration."""
    reset_real(real_redis)
    return real_redis


def reset_real(r: Any) -> None:
    """FLUSHALL, SCRIPT FLUSH and the default maxmemory settings on the real server."""
    r.flushall()
    r.script_flush()
    r.config_set("maxmemory", 0)
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory-samples", 5)
