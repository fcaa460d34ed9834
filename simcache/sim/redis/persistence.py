"""Redis persistence as Redis 7.0 does it: RDB snapshots by save rules, the AOF and its fsync policies, restarts.

:class:`PersistenceCommands` adds to a simulated Redis what it writes to
disk and what a restart loads back:

* **RDB** (``rdb.c``, ``server.c`` ``serverCron``): ``save`` rules ("900 1
  300 10 60 10000" is the seed's, Redis 7's built-in default is
  ``3600 1 300 100 60 10000``; the simulation's default is ``""``, no
  snapshots, so models that do not ask for persistence are unchanged).
  ``serverCron`` (``hz`` times a second) starts a BGSAVE when a rule has
  ``dirty >= changes`` and ``unixtime - lastsave > seconds``, and — after a
  failed BGSAVE — only once ``CONFIG_BGSAVE_RETRY_DELAY`` (5 s) has passed
  since the last try.  BGSAVE forks (the event loop pauses
  ``fork_time_per_gb`` seconds per GB of ``used_memory``, as for a full
  resync), the child writes the dataset as it was at the fork at
  ``rdb_save_rate`` bytes/s and the file replaces the previous one only when
  complete (``rdbSave`` fsyncs then renames), so a crash loses every write
  since the fork of the last *completed* snapshot.  SAVE writes in the main
  thread (the event loop stops for the time it takes); LASTSAVE;
  ``stop-writes-on-bgsave-error`` (MISCONF) after a failed BGSAVE
  (:attr:`PersistenceCommands.disk_error` makes saves and AOF writes fail).
* **AOF** (``aof.c`` ``feedAppendOnlyFile`` / ``flushAppendOnlyFile``): every
  propagated command goes into ``aof_buf`` (process memory); before the event
  loop sleeps (after each command here) the buffer is ``write()``-n to the
  file — into the OS page cache — and:

  - ``always``: fsync in the main thread (the event loop stops for an
    ``fsync_time`` draw) once per event-loop iteration, and the replies of
    the iteration leave only after it (group commit, see
    :meth:`PersistenceCommands.execute`);
  - ``everysec``: a background fsync at most once per second (its duration
    an ``fsync_time`` draw); while one is still running, the write itself is
    postponed (the data stays in ``aof_buf``) for up to 2 s, then done anyway
    and counted in ``aof_delayed_fsync``;
  - ``no``: never fsync; the OS writes dirty pages back once they are
    ``os_dirty_expire`` seconds old, checking every ``os_writeback_interval``
    seconds (Linux's ``dirty_expire_centisecs`` 30 s and
    ``dirty_writeback_centisecs`` 5 s).

  A **process crash** (``crash()``) loses only ``aof_buf``: what was written
  is in the page cache and reaches the disk.  A **power loss**
  (:meth:`~simcache.sim.component.Component.power_loss`) loses the page cache
  too: everything not yet fsynced or written back.
* **Restart** (``loadDataFromDisk``): with ``appendonly yes`` the AOF is
  replayed at ``aof_load_rate`` bytes/s, else the RDB is loaded at
  ``load_rate``; meanwhile every command without the ``loading`` flag gets
  ``LOADING Redis is loading the dataset in memory`` (redis-py raises
  ``BusyLoadingError``).  An RDB restores the replication ID and offset
  (a replica can then PSYNC; a master keeps them as ``replid2``).

Approximations: the AOF is never rewritten (no BGREWRITEAOF, no
``auto-aof-rewrite``; turning ``appendonly`` on at run time writes a base of
the dataset at once); an event-loop iteration is "until no call is waiting"; a fork child dies
with its parent; the RDB and AOF sizes are ``used_memory``'s estimate of the
keys and the RESP bytes of the commands.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Generator
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.sim.dists import Dist
from simcache.sim.redis.core import ClientState, Spec, redis_command
from simcache.sim.redis.proto import as_bytes, upper_name
from simcache.sim.redis.replication import Backlog, ReplicationCommands, Snapshot, _bool_config, resp_len
from simcache.sim.rpc import Call, ReplyError
from simcache.sim.server import NO_REPLY, Deferred

#: Redis 7.0's built-in ``save`` (no config file), and the seed's
REDIS7_DEFAULT_SAVE = "3600 1 300 100 60 10000"
SEED_SAVE = "900 1 300 10 60 10000"
#: seconds before a failed BGSAVE is retried by the save rules (server.h)
CONFIG_BGSAVE_RETRY_DELAY = 5
FSYNC_POLICIES = ("always", "everysec", "no")
MISCONF_RDB = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
               "Commands that may modify the data set are disabled, because this instance is configured to report "
               "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
               "the Redis logs for details about the RDB error.")
MISCONF_AOF = "MISCONF Errors writing to the AOF file: No space left on device"
_SELECT0 = (b"SELECT", b"0")


def parse_save(text: str) -> list[tuple[int, int]]:
    """A ``save`` string (``"900 1 300 10"``) as ``[(seconds, changes), ...]``; ``""`` is no rules."""
    words = text.split()
    if len(words) % 2:
        raise ValueError("Invalid save parameters")
    out = []
    for i in range(0, len(words), 2):
        try:
            secs, changes = int(words[i]), int(words[i + 1])
        except ValueError:
            raise ValueError("Invalid save parameters") from None
        if secs < 1 or changes < 0:
            raise ValueError("Invalid save parameters")
        out.append((secs, changes))
    return out


class AofEntry:
    """Commands written to the AOF together: where they end in the file, and when they were written."""

    __slots__ = ("ops", "end", "written_at")

    def __init__(self, ops: list[tuple[Any, ...]], end: int, written_at: float) -> None:
        self.ops = ops
        self.end = end
        self.written_at = written_at


class PersistenceCommands(ReplicationCommands):
    """RDB, AOF and restarts (see the module docstring).

    Args (keywords, on top of :class:`~simcache.sim.redis.replication.ReplicationCommands`'s):
        save: RDB save rules (``"900 1 300 10 60 10000"``; ``""``: none).
        appendonly: keep an AOF.
        appendfsync: ``always``, ``everysec`` or ``no``.
        fsync_time: duration of one fsync (a distribution, e.g. ``"const:0.002"``).
        aof_load_rate: bytes/s an AOF is replayed at a restart (``load_rate`` is the RDB's).
        os_dirty_expire, os_writeback_interval: the OS's writeback of dirty page-cache pages (seconds).
        stop_writes_on_bgsave_error: refuse writes (MISCONF) after a failed BGSAVE.
    """

    GAUGES: tuple[str, ...] = (*ReplicationCommands.GAUGES, "rdb_changes_since_last_save", "aof_buffer_length",
                               "rdb_bgsave_in_progress")

    def __init__(self, *args: Any, save: str = "", appendonly: bool = False, appendfsync: str = "everysec",
                 fsync_time: Dist | str | float = "const:0.002", aof_load_rate: float = 50e6,
                 os_dirty_expire: float = 30.0, os_writeback_interval: float = 5.0,
                 stop_writes_on_bgsave_error: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name = self.name
        try:
            self.saveparams = parse_save(save)
        except ValueError:
            raise UsageError(f"{name}: save must be pairs of 'seconds changes' (e.g. {SEED_SAVE!r}), "
                             f"got {save!r}") from None
        if appendfsync not in FSYNC_POLICIES:
            raise UsageError(f"{name}: appendfsync must be one of {', '.join(FSYNC_POLICIES)}, got {appendfsync!r}")
        for f, v in (("aof_load_rate", aof_load_rate), ("os_dirty_expire", os_dirty_expire),
                     ("os_writeback_interval", os_writeback_interval)):
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise UsageError(f"{name}: {f} must be a number > 0, got {v!r}")
        self.appendfsync = appendfsync
        self.aof_enabled = bool(appendonly)
        self.fsync_dist = Dist.parse(fsync_time)
        self._fsync = self.fsync_dist.sampler(self.world.rng(f"{name}:fsync"))
        self.aof_load_rate = float(aof_load_rate)
        self.os_dirty_expire = float(os_dirty_expire)
        self.os_writeback_interval = float(os_writeback_interval)
        self.stop_writes_on_bgsave_error = bool(stop_writes_on_bgsave_error)
        #: set True to make the disk fail (full, read-only): BGSAVE/SAVE fail, AOF writes fail
        self.disk_error = False
        # ---- RDB state (the file survives crashes; the counters are process memory)
        self.rdb_file: Snapshot | None = None
        self.lastsave = self.unixtime()
        self.lastbgsave_try = 0
        self.lastbgsave_ok = True
        self.dirty_before_bgsave = 0
        self.rdb_saves = 0
        self.rdb_last_bgsave_time = -1.0
        self._bgsave_started = 0.0
        self.rdb_child = False
        # ---- AOF state: base (a snapshot) + entries written; durable = fsynced or written back by the OS
        self.aof_base: Snapshot | None = None
        self.aof_entries: list[AofEntry] = []
        self.aof_current_size = 0
        self.aof_durable = 0
        self.aof_buf: list[tuple[Any, ...]] = []
        self.aof_buf_bytes = 0
        self.aof_selected_db = -1
        self.aof_fsync_offset = 0
        self.aof_last_fsync = self.unixtime()
        self.aof_flush_postponed_start: int | None = None
        self.aof_delayed_fsync = 0
        #: fsyncs started (main-thread group fsyncs with ``always``, background ones with ``everysec``)
        self.aof_fsyncs = 0
        self.aof_last_write_ok = True
        self._bio_fsync_until: float | None = None
        #: replies held until the fsync of their event-loop iteration (``always``), and when that fsync ends
        self._fsync_waiters: list[tuple[Deferred, Any]] = []
        self._group_fsync_until: float | None = None
        self._power_epoch = 0
        self._replaying = False
        self.last_load: dict[str, Any] = {}
        self.env.process(self._persistence_cron())
        self.env.process(self._os_writeback())

    # ------------------------------------------------------------- checks
    def deny_command(self, spec: Spec, st: ClientState) -> str | None:
        """``writeCommandsDeniedByDiskError`` (MISCONF), then the replication and loading checks."""
        if self.lastbgsave_ok and self.aof_last_write_ok:
            return super().deny_command(spec, st)
        name = spec.upper
        is_write = "write" in spec.flags or (name == "EXEC" and "write" in st.multi_flags)
        if (is_write or name == "PING") and self.masterhost is None:
            if self.stop_writes_on_bgsave_error and self.saveparams and not self.lastbgsave_ok:
                return MISCONF_RDB
            if self.aof_enabled and not self.aof_last_write_ok:
                return MISCONF_AOF
        return super().deny_command(spec, st)

    # ---------------------------------------------------------------- RDB
    def has_child(self) -> bool:
        """``hasActiveChildProcess``."""
        return self.child_until is not None

    def rdb_save_background(self) -> bool:
        """``rdbSaveBackground``: fork a child that writes the dataset as it is now."""
        if self.has_child():
            return False
        self.lastbgsave_try = self.unixtime()
        self.dirty_before_bgsave = self.dirty
        self._bgsave_started = self.env.now
        snap = self.fork("rdb")
        t = self.fork_time() + snap.nbytes / self.rdb_save_rate
        self.child_until = self.env.now + t
        self.rdb_child = True
        ev = self.env.timeout(t)
        epoch = self.epoch
        ev.callbacks.append(lambda _e: self._bgsave_done(snap, epoch))
        self.mark("bgsave-start", f"{snap.nbytes} bytes")
        return True

    def _bgsave_done(self, snap: Snapshot, epoch: int) -> None:
        """``backgroundSaveDoneHandlerDisk``."""
        if epoch != self.epoch:
            return  # the child died with its parent
        self.child_until = None
        self.rdb_child = False
        self.child_type = ""
        self.rdb_last_bgsave_time = self.env.now - self._bgsave_started
        if self.disk_error:
            self.lastbgsave_ok = False
            self.mark("bgsave-error")
            return
        self.rdb_file = snap
        self.dirty -= self.dirty_before_bgsave
        self.lastsave = self.unixtime()
        self.lastbgsave_ok = True
        self.mark("bgsave-done", f"snapshot of t={snap.taken_at:g}")

    def child_done(self, snap: Snapshot, ok: bool, to_disk: bool = False) -> None:
        """A replication child ended; a disk-based one wrote an RDB, which counts as a save."""
        super().child_done(snap, ok, to_disk)
        if to_disk and ok and not self.disk_error:
            self.rdb_file = snap
            self.lastsave = self.unixtime()
            self.lastbgsave_ok = True

    @redis_command("BGSAVE", -1, "admin noscript no_async_loading")
    def _bgsave(self, *args: Any) -> str:
        if len(args) > 1 or (args and upper_name(args[0]) != "SCHEDULE"):
            raise ReplyError("ERR syntax error")
        if self.rdb_child:
            raise ReplyError("ERR Background save already in progress")
        if self.has_child() or self.in_exec:
            if args or self.in_exec:
                return "Background saving scheduled"  # the model starts it at the next cron with no child
            raise ReplyError("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE "
                             "SCHEDULE in order to schedule a BGSAVE whenever possible.")
        self.rdb_save_background()
        self.rdb_saves += 1
        return "Background saving started"

    @redis_command("SAVE", 1, "admin noscript no_async_loading no_multi")
    def _save(self) -> str:
        if self.rdb_child:
            raise ReplyError("ERR Background save already in progress")
        self.rdb_saves += 1
        snap = self.snapshot()
        t = snap.nbytes / self.rdb_save_rate
        if self.disk_error:
            raise ReplyError("ERR")
        self.stall(t)  # the main thread writes the file: the event loop stops meanwhile
        before = self.dirty
        ev = self.env.timeout(t)
        epoch = self.epoch
        ev.callbacks.append(lambda _e: self._save_done(snap, before, epoch))
        return "OK"

    def _save_done(self, snap: Snapshot, dirty_before: int, epoch: int) -> None:
        if epoch != self.epoch:
            return
        self.rdb_file = snap
        self.dirty -= dirty_before
        self.lastsave = self.unixtime()
        self.lastbgsave_ok = True

    @redis_command("LASTSAVE", 1, "loading stale fast")
    def _lastsave(self) -> int:
        return self.lastsave

    def save_rules_due(self) -> bool:
        """``serverCron``: whether a save rule fires now (no child running)."""
        if self.has_child():
            return False
        now = self.unixtime()
        for secs, changes in self.saveparams:
            if (self.dirty >= changes and now - self.lastsave > secs
                    and (now - self.lastbgsave_try > CONFIG_BGSAVE_RETRY_DELAY or self.lastbgsave_ok)):
                return True
        return False

    def _persistence_cron(self) -> Generator[simpy.Event, Any, None]:
        """The persistence part of ``serverCron`` (``hz`` times a second)."""
        loops = 0
        while True:
            yield self.env.timeout(1.0 / self.hz)
            loops += 1
            if not self.up or self.paused or self.loading:
                continue
            if self.save_rules_due():
                self.rdb_save_background()
            if self.aof_enabled and self.aof_flush_postponed_start is not None:
                self.flush_append_only_file(False)
            if self.aof_enabled and not self.aof_last_write_ok and loops % self.hz == 0:
                self.flush_append_only_file(False)

    # ---------------------------------------------------------------- AOF
    def propagate(self, ops: list[tuple[Any, ...]]) -> None:
        """``propagateNow``: the unit goes to the AOF (``feedAppendOnlyFile``) and to the replicas."""
        if self._replaying:
            return
        if self.aof_enabled and not self.loading:
            unit = [(b"MULTI",), *ops, (b"EXEC",)] if len(ops) > 1 else list(ops)
            if self.aof_selected_db != 0:
                unit.insert(0, _SELECT0)
                self.aof_selected_db = 0
            self.aof_buf.extend(unit)
            self.aof_buf_bytes += sum(resp_len(o) for o in unit)
        super().propagate(ops)

    def before_sleep(self) -> None:
        """``beforeSleep``: ... and ``flushAppendOnlyFile(0)`` before replies go out."""
        super().before_sleep()
        if self.aof_enabled:
            self.flush_append_only_file(False)

    def fsync_in_progress(self) -> bool:
        """``aofFsyncInProgress``: a background fsync is still running."""
        return self._bio_fsync_until is not None and self.env.now < self._bio_fsync_until

    def flush_append_only_file(self, force: bool) -> None:
        """``flushAppendOnlyFile``: write ``aof_buf`` to the file (page cache), then fsync as the policy says."""
        now_u = self.unixtime()
        everysec = self.appendfsync == "everysec"
        sync_in_progress = False
        if not self.aof_buf:
            if everysec and self.aof_fsync_offset != self.aof_current_size and now_u > self.aof_last_fsync \
                    and not self.fsync_in_progress():
                self._try_fsync(now_u, False)
            elif self.appendfsync == "always" and self.aof_fsync_offset != self.aof_current_size:
                self._try_fsync(now_u, False)
            return
        if everysec:
            sync_in_progress = self.fsync_in_progress()
        if everysec and not force and sync_in_progress:
            if self.aof_flush_postponed_start is None:
                self.aof_flush_postponed_start = now_u
                return
            if now_u - self.aof_flush_postponed_start < 2:
                return
            self.aof_delayed_fsync += 1  # Asynchronous AOF fsync is taking too long (disk is busy?)
        if self.disk_error:
            self.aof_last_write_ok = False
            return
        self.aof_last_write_ok = True
        self.aof_current_size += self.aof_buf_bytes
        self.aof_entries.append(AofEntry(self.aof_buf, self.aof_current_size, self.env.now))
        self.aof_buf = []
        self.aof_buf_bytes = 0
        self.aof_flush_postponed_start = None
        self._try_fsync(now_u, sync_in_progress)

    def _try_fsync(self, now_u: int, sync_in_progress: bool) -> None:
        if self.appendfsync == "always":
            return  # the main thread's fsync of the whole event-loop iteration: see execute()
        if self.appendfsync == "everysec" and now_u > self.aof_last_fsync:
            if not sync_in_progress:
                t = max(float(self._fsync()), 0.0)
                self._bio_fsync_until = self.env.now + t
                self.aof_fsyncs += 1
                self._schedule_durable(self.aof_current_size, t)
                self.aof_fsync_offset = self.aof_current_size
            self.aof_last_fsync = now_u

    def execute(self, call: Call) -> Any:
        """One client message; with ``appendfsync always`` its reply waits for the fsync of its iteration.

        Redis writes and fsyncs the AOF in ``beforeSleep`` and only then sends the replies of every command the
        event loop ran in that iteration; here an iteration ends when no other call is waiting: one fsync (the
        event loop stopped for an ``fsync_time`` draw) then covers, and releases the replies of, every command
        since the previous fsync (group commit).
        """
        reply = super().execute(call)
        if not (self.aof_enabled and self.appendfsync == "always"):
            return reply
        if (self.aof_current_size > self.aof_fsync_offset and reply is not NO_REPLY
                and not isinstance(reply, Deferred)):
            d = Deferred()
            self._fsync_waiters.append((d, reply))
            reply = d
        if self._fsync_due() and not self.queued and self._group_fsync_until is None:
            # calls arriving at this same instant belong to the same iteration: decide once they are in
            ev = self.env.timeout(0)
            ev.callbacks.append(self._end_of_iteration)
        return reply

    def _fsync_due(self) -> bool:
        return bool(self._fsync_waiters) or self.aof_current_size > self.aof_fsync_offset

    def _end_of_iteration(self, _ev: Any) -> None:
        if self.up and self._fsync_due() and not self.queued and self._group_fsync_until is None:
            self._group_fsync()

    def _group_fsync(self) -> None:
        target = self.aof_current_size
        waiters, self._fsync_waiters = self._fsync_waiters, []
        t = max(float(self._fsync()), 0.0)
        self.aof_fsync_offset = target
        self.aof_last_fsync = self.unixtime()
        self.aof_fsyncs += 1
        self._group_fsync_until = self.env.now + t
        self.stall(t)  # redis_fsync in the main thread
        power, epoch = self._power_epoch, self.epoch

        def done(_e: Any) -> None:
            self._group_fsync_until = None
            if power != self._power_epoch or epoch != self.epoch:
                return
            self.aof_durable = max(self.aof_durable, target)
            for d, r in waiters:
                d.resolve(r)
            self._end_of_iteration(None)

        ev = self.env.timeout(t)
        ev.callbacks.append(done)

    def _schedule_durable(self, offset: int, after: float) -> None:
        """An fsync started now covers the file up to ``offset``; durable once it completes (power permitting)."""
        power = self._power_epoch

        def done(_e: Any) -> None:
            if power == self._power_epoch and offset > self.aof_durable:
                self.aof_durable = offset

        if after <= 0:
            done(None)
            return
        ev = self.env.timeout(after)
        ev.callbacks.append(done)

    def _os_writeback(self) -> Generator[simpy.Event, Any, None]:
        """The kernel's flusher: page-cache data older than ``os_dirty_expire`` reaches the disk."""
        while True:
            yield self.env.timeout(self.os_writeback_interval)
            if not self.host_up or not self.aof_entries:
                continue
            cutoff = self.env.now - self.os_dirty_expire
            times = [e.written_at for e in self.aof_entries]
            i = bisect_right(times, cutoff)
            if i:
                self.aof_durable = max(self.aof_durable, self.aof_entries[i - 1].end)

    def aof_bytes(self) -> int:
        """Size of the AOF (its base and the commands after it)."""
        return (self.aof_base.nbytes if self.aof_base is not None else 0) + self.aof_current_size

    def start_append_only(self) -> None:
        """``startAppendOnly``: the AOF starts from a base of the dataset now (a rewrite, written at once here)."""
        self.aof_enabled = True
        self.aof_base = self.snapshot()
        self.aof_entries = []
        self.aof_current_size = self.aof_durable = self.aof_fsync_offset = 0
        self.aof_buf = []
        self.aof_buf_bytes = 0
        self.aof_selected_db = -1

    def full_sync_loaded(self, snap: Snapshot) -> None:
        """A replica loaded its master's RDB: its AOF restarts from that dataset (``restartAOFAfterSYNC``)."""
        super().full_sync_loaded(snap)
        if self.aof_enabled:
            self.start_append_only()

    # ----------------------------------------------------------- restarts
    def on_power_loss(self) -> None:
        """The host lost power: the page cache is gone; the AOF keeps only what was durable."""
        self._power_epoch += 1
        self._bio_fsync_until = None
        keep = [e for e in self.aof_entries if e.end <= self.aof_durable]
        self.aof_entries = keep
        self.aof_current_size = keep[-1].end if keep else 0
        self.aof_durable = self.aof_current_size
        super().on_power_loss()

    def on_crash(self) -> None:
        if not self.warm:
            self.aof_buf = []  # process memory (a warm crash keeps the state for its restart)
            self.aof_buf_bytes = 0
        self._fsync_waiters = []
        self._group_fsync_until = None
        self.rdb_child = False
        super().on_crash()

    def on_restart(self) -> None:
        super().on_restart()
        self.aof_flush_postponed_start = None
        self.aof_last_write_ok = True
        self.aof_selected_db = -1
        if self.warm:
            return
        self.dirty = 0
        self.lastsave = self.unixtime()
        self.lastbgsave_ok = True
        self.aof_fsync_offset = self.aof_current_size
        self.aof_last_fsync = self.unixtime()
        if self.aof_enabled:
            nbytes = self.aof_bytes()
            t = nbytes / self.aof_load_rate
            source = "aof"
        elif self.rdb_file is not None:
            nbytes = self.rdb_file.nbytes
            t = self.load_time(nbytes)
            source = "rdb"
        else:
            self.last_load = {"source": "none", "bytes": 0, "seconds": 0.0}
            return
        self.loading = True
        self.loading_start = self.env.now
        self.loading_bytes = nbytes
        self.last_load = {"source": source, "bytes": nbytes, "seconds": t, "started": self.env.now}
        self.mark("loading", f"{source} {nbytes} bytes")
        epoch = self.epoch
        ev = self.env.timeout(t)
        ev.callbacks.append(lambda _e: self._loaded(source, epoch))

    def _loaded(self, source: str, epoch: int) -> None:
        """``loadDataFromDisk`` is done: install what was persisted."""
        if epoch != self.epoch:
            return
        d = self.dirty
        if source == "rdb":
            assert self.rdb_file is not None
            snap = self.rdb_file
            self.install(snap)
            if self.masterhost is not None:
                self.replid = snap.repl_id
                self.master_repl_offset = snap.repl_offset
                self.can_psync = True
            elif snap.repl_offset > 0:
                # a master keeps the saved history as its ID2, so replicas at that offset can continue
                self.replid2 = snap.repl_id
                self.second_replid_offset = snap.repl_offset + 1
                self.master_repl_offset = snap.repl_offset
                self.backlog = Backlog(self.repl_backlog_size, snap.repl_offset + 1)
        else:
            if self.aof_base is not None:
                self.install(self.aof_base)
            else:
                self.flush()
            self._replaying = True
            self._applying = True
            try:
                for e in self.aof_entries:
                    for op in e.ops:
                        if op[0] in (b"SELECT", b"MULTI", b"EXEC"):
                            continue
                        spec, _ = self.lookup_command(op)
                        if spec is not None:
                            self.call(spec, op)
            finally:
                self._replaying = False
                self._applying = False
        self.dirty = d
        self.loading = False
        self.last_load["keys"] = len(self.data)
        self.last_load["ended"] = self.env.now
        self.mark("loaded", f"{source} {len(self.data)} keys")

    # -------------------------------------------------------------- INFO
    def persistence_info(self) -> dict[str, Any]:
        """INFO persistence's fields, in Redis 7.0's order."""
        yn = {True: "ok", False: "err"}
        f: dict[str, Any] = {
            "loading": int(self.loading), "async_loading": 0, "current_cow_peak": 0, "current_cow_size": 0,
            "current_cow_size_age": 0, "current_fork_perc": "0.00", "current_save_keys_processed": 0,
            "current_save_keys_total": 0, "rdb_changes_since_last_save": self.dirty,
            "rdb_bgsave_in_progress": int(self.rdb_child), "rdb_last_save_time": self.lastsave,
            "rdb_last_bgsave_status": yn[self.lastbgsave_ok],
            "rdb_last_bgsave_time_sec": int(self.rdb_last_bgsave_time) if self.rdb_last_bgsave_time >= 0 else -1,
            "rdb_current_bgsave_time_sec": int(self.env.now - self._bgsave_started) if self.rdb_child else -1,
            "rdb_saves": self.rdb_saves, "rdb_last_cow_size": 0, "rdb_last_load_keys_expired": 0,
            "rdb_last_load_keys_loaded": self.last_load.get("keys", 0) if self.last_load.get("source") == "rdb"
            else 0,
            "aof_enabled": int(self.aof_enabled), "aof_rewrite_in_progress": 0, "aof_rewrite_scheduled": 0,
            "aof_last_rewrite_time_sec": -1, "aof_current_rewrite_time_sec": -1, "aof_last_bgrewrite_status": "ok",
            "aof_rewrites": 0, "aof_rewrites_consecutive_failures": 0,
            "aof_last_write_status": yn[self.aof_last_write_ok], "aof_last_cow_size": 0,
            "module_fork_in_progress": 0, "module_fork_last_cow_size": 0}
        if self.aof_enabled:
            f.update(aof_current_size=self.aof_bytes(),
                     aof_base_size=self.aof_base.nbytes if self.aof_base is not None else 0,
                     aof_pending_rewrite=0, aof_buffer_length=self.aof_buf_bytes,
                     aof_pending_bio_fsync=int(self.fsync_in_progress()), aof_delayed_fsync=self.aof_delayed_fsync)
        if self.loading:
            elapsed = self.env.now - self.loading_start
            rate = self.aof_load_rate if self.aof_enabled else self.load_rate
            done = min(int(elapsed * rate), self.loading_bytes)
            perc = done / self.loading_bytes * 100 if self.loading_bytes else 0.0
            eta = int((self.loading_bytes - done) / rate)
            f.update(loading_start_time=int(self.unix_start + self.loading_start),
                     loading_total_bytes=self.loading_bytes, loading_rss_bytes=0, loading_loaded_bytes=done,
                     loading_loaded_perc=f"{perc:.2f}", loading_eta_seconds=eta)
        return f

    # ------------------------------------------------------------ CONFIG
    REPL_CONFIG: tuple[str, ...] = (*ReplicationCommands.REPL_CONFIG, "save", "appendonly", "appendfsync",
                   "stop-writes-on-bgsave-error")

    def repl_config_values(self) -> dict[str, str]:
        yn = {True: "yes", False: "no"}
        d = super().repl_config_values()
        d.update({"save": " ".join(f"{s} {c}" for s, c in self.saveparams), "appendonly": yn[self.aof_enabled],
                  "appendfsync": self.appendfsync,
                  "stop-writes-on-bgsave-error": yn[self.stop_writes_on_bgsave_error]})
        return d

    def set_repl_config(self, key: str, v: Any) -> None:
        if key == "save":
            self.saveparams = parse_save(as_bytes(v).decode(errors="replace"))
        elif key == "appendonly":
            on = _bool_config(v)
            if on and not self.aof_enabled:
                self.start_append_only()
            self.aof_enabled = on
        elif key == "appendfsync":
            s = as_bytes(v).decode(errors="replace").lower()
            if s not in FSYNC_POLICIES:
                raise ValueError("argument(s) must be one of the following: always, everysec, no")
            self.appendfsync = s
        elif key == "stop-writes-on-bgsave-error":
            self.stop_writes_on_bgsave_error = _bool_config(v)
        else:
            super().set_repl_config(key, v)

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(rdb_changes_since_last_save=float(self.dirty), aof_buffer_length=float(self.aof_buf_bytes),
                 rdb_bgsave_in_progress=float(self.rdb_child))
        return d


