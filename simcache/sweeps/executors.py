"""Where runs execute: in this process, in a local process pool, or on a Dask cluster.

Every executor takes a list of tasks (plain dicts) and yields one record per
task as it finishes, in completion order; the caller stores each record at
once.  Tasks run :func:`run_task`, a top-level function of plain data, so it
pickles for ``spawn`` process pools and for remote Dask workers alike.  A run
that raises becomes an ``error`` record: the sweep goes on.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from simcache.errors import UsageError

EXECUTORS = ("serial", "local", "dask")


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one point × replication and return its record (never raises for a failing model)."""
    from simcache.sweeps.targets import execute

    record: dict[str, Any] = {
        "point": task["point"], "replication": task["replication"], "seed": task["seed"], "params": task["params"],
    }
    t0 = time.perf_counter()
    try:
        metrics = execute(task["target"], task.get("model_file"), task["params"], task["seed"],
                          task.get("faults") or ())
        record.update(status="ok", metrics=metrics, error=None)
    except Exception as err:  # a model bug must not end the sweep: record it and go on
        record.update(status="error", metrics={}, error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc(limit=8))
    record["wall_seconds"] = time.perf_counter() - t0
    # provenance only: which process computed the run and when (never part of the results table)
    record["pid"] = os.getpid()
    record["host"] = socket.gethostname()
    record["computed_at"] = _dt.datetime.now(_dt.UTC).isoformat()
    return record


def _failed(task: dict[str, Any], why: str) -> dict[str, Any]:
    return {"point": task["point"], "replication": task["replication"], "seed": task["seed"],
            "params": task["params"], "status": "error", "metrics": {}, "error": why, "wall_seconds": 0.0,
            "pid": None, "host": socket.gethostname(),
            "computed_at": _dt.datetime.now(_dt.UTC).isoformat()}


#: seconds between a pool worker's checks that the process that started it is still alive
PARENT_CHECK_INTERVAL = 0.5


def _exit_with_parent(parent: int, interval: float) -> None:
    """Pool-worker initializer: a daemon thread ends this worker (``os._exit``) once its parent is gone.

    A worker whose parent was killed (SIGKILL, the OOM killer) is re-parented -- to PID 1 or a
    subreaper -- so ``os.getppid()`` stops being the parent's pid; that check is portable (POSIX and
    Windows alike), unlike Linux's ``prctl(PR_SET_PDEATHSIG)``, and needs nothing from the parent.
    """
    import threading

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="simcache-parent-watch", daemon=True).start()


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tiny sweeps)."""

    name = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def run(self, tasks: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for task in tasks:
            yield run_task(task)

    def close(self) -> None:
        pass


class LocalExecutor:
    """A ``concurrent.futures`` process pool on this machine (``spawn`` start: no inherited state).

    Args:
        workers: processes; default all cores.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = int(workers or os.cpu_count() or 1)
        self._pool: Any = None

    def run(self, tasks: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        if not tasks:
            return
        # spawn: workers start clean on every platform (no forked locks from threads such as tqdm's monitor)
        self._pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)),
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_exit_with_parent,
                                         initargs=(os.getpid(), PARENT_CHECK_INTERVAL))
        futures = {self._pool.submit(run_task, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except BrokenProcessPool as err:
                yield _failed(futures[fut], f"worker process died: {err}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor:
    """Runs tasks on a Dask cluster: an existing scheduler, a given client, or a local cluster it starts.

    Args:
        scheduler: address of a running scheduler (``tcp://host:8786``); None starts a LocalCluster.
        workers: worker processes of the local cluster (default all cores); ignored with a scheduler.
        client: an existing ``distributed.Client`` to use as is.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, client: Any = None) -> None:
        try:
            import distributed
        except ImportError:
            raise UsageError("--executor dask needs the 'distributed' package: pip install 'simcache[dask]'") from None
        self._own: list[Any] = []
        if client is not None:
            self.client = client
        elif scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as err:
                raise UsageError(f"--scheduler: cannot reach a Dask scheduler at {scheduler!r}: {err}") from None
            self._own.append(self.client)
        else:
            n = int(workers or os.cpu_count() or 1)
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
            self.client = distributed.Client(cluster)
            self._own += [self.client, cluster]
        self.workers = len(self.client.scheduler_info().get("workers", {})) or int(workers or 1)

    def run(self, tasks: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        import distributed

        if not tasks:
            return
        futures = self.client.map(run_task, list(tasks), pure=False)
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for fut in distributed.as_completed(futures):
            try:
                yield fut.result()
            except Exception as err:  # a lost worker or a scheduler failure: record it, go on
                yield _failed(by_key[fut.key], f"dask task failed: {type(err).__name__}: {err}")
            fut.release()

    def close(self) -> None:
        for obj in self._own:
            obj.close()
        self._own = []


def check_executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> None:
    """Reject a bad executor choice before anything is created or run."""
    if kind not in EXECUTORS:
        raise UsageError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {kind!r}")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise UsageError(f"--workers: expected an integer >= 1, got {workers!r}")
    if scheduler and kind != "dask":
        raise UsageError(f"--scheduler only applies to --executor dask, not {kind!r}")


def make_executor(kind: str = "local", *, workers: int | None = None, scheduler: str | None = None,
                  client: Any = None) -> SerialExecutor | LocalExecutor | DaskExecutor:
    """An executor by name: ``serial``, ``local`` (process pool) or ``dask``.

    Args:
        kind: the executor's name.
        workers: processes (local) or local-cluster workers (dask).
        scheduler: a Dask scheduler address (dask only).
        client: an existing ``distributed.Client`` (dask only).
    """
    check_executor(kind, workers, scheduler)
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers, client)
    raise UsageError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {kind!r}")
