"""A simulated Memcached 1.6 server: worker threads over a slab allocator with one LRU per slab class.

Faithful to memcached 1.6.18 where it matters to a cache simulation; each
point names the source it follows (github.com/memcached/memcached, tag
1.6.18):

* **Commands** (``proto_text.c``): ``get``/``gets`` (many keys), ``set``,
  ``add``, ``replace``, ``append``, ``prepend``, ``cas``, ``delete``,
  ``incr``/``decr``, ``touch``, ``flush_all``, ``stats`` (general,
  ``settings``, ``slabs``, ``items``), ``version``.  Replies are the
  protocol's words as bytes (``b"STORED"``, ``b"NOT_FOUND"``...), a number
  for incr/decr, a :class:`Hits` list for get/gets, a dict of ``STAT``
  lines for stats; errors are memcached's own lines (``CLIENT_ERROR ...``,
  ``SERVER_ERROR ...``, ``ERROR``), which the client raises as pymemcache
  does.  A command carrying the ``b"noreply"`` token sends no reply at all.
  Numeric arguments may be ints or protocol tokens (bytes), parsed as
  memcached's ``safe_strto*`` (``util.c``) parse them.
* **Items** (``memcached.h`` ``ITEM_ntotal``): an item takes
  ``48 + nkey + 1 + (nvalue + 2) + 8 (CAS) [+ 4 when flags != 0]`` bytes
  (``sizeof(item)`` is 48 on a 64-bit build; the value is stored with its
  ``\\r\\n``).  The ``bytes`` stat is the sum over linked items.  A
  simulation :class:`~simcache.sim.oracle.Value` is an opaque value of
  ``.size`` bytes.
* **Size limit** (``items.c`` ``item_size_ok``): an item over
  ``item_size_max`` (1 MB) is refused with ``SERVER_ERROR object too large
  for cache``, and a refused ``set`` also unlinks the key's old value (so a
  stale value does not outlive a failed overwrite).
* **Memory** (``slabs.c``): slab classes from ``48 + chunk_size`` bytes
  growing by ``factor`` (1.25), 8-byte aligned, up to ``slab_chunk_max``
  (half a page); memory is handed to classes in 1 MB pages until
  ``memory`` (``-m``) is reached, except that a class always gets its first
  page.  When a class has no free chunk and no page can be had, its LRU tail
  is pulled (``items.c`` ``lru_pull_tail``): up to five tail items are
  examined, expired or flushed ones are reclaimed, and the first live one is
  evicted.  So memcached evicts *per class*: a class can evict while others
  have room ("early" evictions that a global LRU would not make), and pages
  never move between classes.
* **Expiry** (``memcached.c`` ``realtime``): 0 never expires; up to 30 days
  is relative; larger is a unix time (at or before the server's start:
  already expired); negative is already expired.  The server's clock
  (``current_time``) ticks in whole seconds from its start, so an item
  with a 1 s expiry lasts between 0 and 1 s.  Expired items are removed
  lazily, when a command touches them or the LRU tail is pulled.
* **CAS** (``items.c`` ``do_item_link``): every link takes the next value of
  one counter; ``flush_all`` takes one too (its ``oldest_cas``), and items
  older than a flush read as absent (``item_is_flushed``).
* **incr/decr** (``memcached.c`` ``do_add_delta``): 64-bit unsigned, incr
  wraps, decr stops at 0; a shorter result is written in place padded with
  spaces (``b"100"`` decr 95 reads back ``b"5  "``), a longer one makes a
  new item.

Modelled approximately (documented, not hidden):

* one LRU per slab class, a hit moving the item to its head: memcached 1.6
  segments each class into HOT/WARM/COLD lists kept by a background LRU
  maintainer thread, so recency there is coarser;
* an item larger than ``slab_chunk_max`` takes ``ceil(ntotal /
  slab_chunk_max)`` chunks of the largest class (the real server chains a
  header and a smaller last chunk from other classes);
* no slab rebalancing (``slab_automove``), no LRU crawler (expired items
  are only reclaimed lazily), no extstore, no meta commands;
* the clock ticks at whole seconds since the server started.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import OrderedDict
from typing import Any

from simcache.errors import UsageError
from simcache.sim.dists import Dist
from simcache.sim.oracle import Value
from simcache.sim.rpc import Call, ConnectionError, ReplyError, answer
from simcache.sim.server import NO_REPLY, Queueing, Server, command
from simcache.sim.world import World

VERSION = "1.6.18"
#: sizeof(struct _stritem) on a 64-bit build (memcached.h)
ITEM_HEADER = 48
#: bytes of the CAS value every item carries (settings.use_cas)
CAS_BYTES = 8
#: bytes of the client flags, stored only when they are non-zero (ITEM_CFLAGS)
FLAGS_BYTES = 4
KEY_MAX_LENGTH = 250
#: the largest relative expiry: 30 days (memcached.c REALTIME_MAXDELTA)
REALTIME_MAXDELTA = 60 * 60 * 24 * 30
#: memcached's clock starts at this many seconds (process_started is set this far back)
ITEM_UPDATE_INTERVAL = 60
CHUNK_ALIGN_BYTES = 8
MAX_NUMBER_OF_SLAB_CLASSES = 64
#: items examined per LRU tail pull (lru_pull_tail's ``tries``)
TAIL_TRIES = 5
#: allocation attempts per chunk (do_item_alloc_pull)
ALLOC_TRIES = 10
U64 = (1 << 64) - 1

BAD_FORMAT = "CLIENT_ERROR bad command line format"
TOO_LARGE = "SERVER_ERROR object too large for cache"
NO_MEMORY = "SERVER_ERROR out of memory storing object"
NON_NUMERIC = "CLIENT_ERROR cannot increment or decrement non-numeric value"
BAD_DELTA = "CLIENT_ERROR invalid numeric delta argument"
BAD_EXPTIME = "CLIENT_ERROR invalid exptime argument"

STORED, NOT_STORED, EXISTS, NOT_FOUND = b"STORED", b"NOT_STORED", b"EXISTS", b"NOT_FOUND"
NOREPLY = b"noreply"
_SPACE = b" \t\n\v\f\r"


# ---------------------------------------------------------------- parsing
def _c_number(tok: Any, signed: bool) -> int | None:
    """``strtoull``/``strtoll`` base 10 as ``safe_strto*`` use them: the number, or None when it is not one."""
    if isinstance(tok, bool):
        tok = str(tok).encode()
    if isinstance(tok, int):
        return tok
    if isinstance(tok, str):
        tok = tok.encode()
    if not isinstance(tok, bytes | bytearray):
        return None
    s = bytes(tok)
    i, n = 0, len(s)
    while i < n and s[i] in _SPACE:
        i += 1
    neg = False
    if i < n and s[i] in b"+-":
        neg = s[i] == 0x2D
        i += 1
    j = i
    while j < n and 0x30 <= s[j] <= 0x39:
        j += 1
    if j == i:
        return None  # no digits: endptr == str
    if j < n and s[j] not in _SPACE:
        return None  # trailing garbage
    v = int(s[i:j])
    if signed:
        v = -v if neg else v
        return v if -(1 << 63) <= v < (1 << 63) else None  # ERANGE
    if v > U64:
        return None  # ERANGE
    if neg:
        v = (-v) & U64  # strtoull negates in unsigned arithmetic
    if v >= 1 << 63 and b"-" in s:
        return None  # safe_strtoull refuses a "negative" number that wrapped
    return v


def parse_u64(tok: Any) -> int | None:
    """An unsigned 64-bit argument (``safe_strtoull``), or None."""
    v = _c_number(tok, False)
    return v if v is not None and 0 <= v <= U64 else None


def parse_i32(tok: Any) -> int | None:
    """A 32-bit signed argument (``safe_strtol`` into an ``int32_t``: wider values wrap), or None."""
    v = _c_number(tok, True)
    if v is None:
        return None
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def parse_u32(tok: Any) -> int | None:
    """A 32-bit unsigned argument (``safe_strtoul`` into a ``uint32_t``: wider values are truncated), or None."""
    v = _c_number(tok, False)
    if v is None or v < 0:
        return None
    return v & 0xFFFFFFFF


def value_len(value: Any) -> int:
    """Bytes a value takes: ``len`` of bytes, ``.size`` of a simulation Value."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Value):
        return int(value.size)
    raise ReplyError("CLIENT_ERROR bad data chunk")


def item_ntotal(nkey: int, nvalue: int, flags: int) -> int:
    """Bytes an item takes in its slab chunk (``ITEM_ntotal``; the value is stored with its ``\\r\\n``)."""
    return ITEM_HEADER + nkey + 1 + nvalue + 2 + (FLAGS_BYTES if flags else 0) + CAS_BYTES


def _concat(first: Any, second: Any) -> Any:
    """append/prepend data: bytes joined; with a Value on either side, an opaque Value of both sizes."""
    if isinstance(first, bytes) and isinstance(second, bytes):
        return first + second
    # the first simulation Value (the older write when appending) names the result's write
    v = first if isinstance(first, Value) else second
    return Value(v.wid, value_len(first) + value_len(second))



# ------------------------------------------------------------------ items
class Item:
    """One linked key: its value, flags, expiry and CAS, and where it lives in memory."""

    __slots__ = ("key", "value", "flags", "exptime", "time", "cas", "ntotal", "cls", "chunks", "fetched")

    def __init__(self, key: bytes, value: Any, flags: int, exptime: int, ntotal: int, cls: SlabClass,
                 chunks: int) -> None:
        self.key = key
        self.value = value
        self.flags = flags
        #: expiry on the server's clock (0: never)
        self.exptime = exptime
        #: last access on the server's clock (set at link, moved by hits)
        self.time = 0
        self.cas = 0
        self.ntotal = ntotal
        self.cls = cls
        self.chunks = chunks
        self.fetched = False

    def __repr__(self) -> str:
        return f"<Item {self.key!r} cas={self.cas} class={self.cls.id}>"


class SlabClass:
    """One slab class: chunk size, pages, free chunks, and its LRU (oldest first)."""

    __slots__ = ("id", "size", "perslab", "pages", "free", "lru", "evicted", "evicted_nonzero",
                 "evicted_unfetched", "reclaimed", "expired_unfetched", "outofmemory", "direct_reclaims")

    def __init__(self, id_: int, size: int, perslab: int) -> None:
        self.id = id_
        self.size = size
        self.perslab = perslab
        self.pages = 0
        self.free = 0
        self.lru: OrderedDict[bytes, Item] = OrderedDict()
        self.evicted = 0
        self.evicted_nonzero = 0
        self.evicted_unfetched = 0
        self.reclaimed = 0
        self.expired_unfetched = 0
        self.outofmemory = 0
        self.direct_reclaims = 0

    @property
    def used(self) -> int:
        """Chunks holding items (or being filled)."""
        return self.pages * self.perslab - self.free

    def __repr__(self) -> str:
        return f"<SlabClass {self.id} size={self.size} pages={self.pages} items={len(self.lru)}>"


def slab_sizes(factor: float = 1.25, chunk_size: int = 48, page_size: int = 1 << 20,
               chunk_max: int = 1 << 19) -> list[int]:
    """Chunk sizes of the slab classes (``slabs.c`` ``slabs_init``), smallest first."""
    sizes: list[int] = []
    size = ITEM_HEADER + chunk_size
    i = 0
    while i + 1 < MAX_NUMBER_OF_SLAB_CLASSES - 1:
        i += 1
        if size >= chunk_max / factor:
            break
        if size % CHUNK_ALIGN_BYTES:
            size += CHUNK_ALIGN_BYTES - size % CHUNK_ALIGN_BYTES
        sizes.append(size)
        size = int(size * factor)  # C assigns the double product to an unsigned int
    sizes.append(chunk_max)
    return sizes


class Hits(list[tuple[bytes, int, Any, int]]):
    """A get/gets reply: ``(key, flags, value, cas)`` per hit; ``size`` is its bytes on the wire."""

    @property
    def size(self) -> int:
        # "VALUE <key> <flags> <bytes> <cas>\r\n<data>\r\n" per hit, then "END\r\n"
        return sum(len(k) + value_len(v) + 40 for k, _, v, _ in self) + 5


class MemcachedServer(Server):
    """A memcached instance.

    Args:
        world: the simulation world.
        name: component name (also the node unless ``node`` is given).
        node: network node.
        service: service time of one command on a worker thread.
        workers: worker threads (``-t``, memcached's default is 4).
        memory: memory limit in bytes (``-m``; memcached's default is 64 MB).
        item_size_max: the largest item in bytes (``-I``, 1 MB).
        factor: slab growth factor (``-f``).
        chunk_size: key + value + flags space of the smallest class (``-n``).
        evict: evict items when memory is full (False is ``-M``: refuse with an out-of-memory error).
        unix_epoch: the unix time at simulated time 0 (absolute expiry times count from it).
        queueing: ``"fast"`` or ``"events"`` (see :mod:`simcache.sim.server`).
    """

    GAUGES = ("up", "queued", "busy_workers", "curr_items", "bytes", "curr_connections")
    PAGE_SIZE = 1 << 20

    def __init__(self, world: World, name: str = "memcached", node: str | None = None,
                 service: Dist | str | float = "exp:0.00005", *, workers: int = 4, memory: int = 64 << 20,
                 item_size_max: int = 1 << 20, factor: float = 1.25, chunk_size: int = 48, evict: bool = True,
                 unix_epoch: float = 1_700_000_000.0, queueing: Queueing = "fast") -> None:
        super().__init__(world, name, node, service, workers, queueing)
        if int(memory) != memory or memory < 1:
            raise UsageError(f"{name}: memory must be an integer >= 1 byte, got {memory!r}")
        if int(item_size_max) != item_size_max or item_size_max < 1024:
            raise UsageError(f"{name}: item_size_max must be an integer >= 1024 bytes, got {item_size_max!r}")
        if item_size_max > memory / 2:
            # memcached.c refuses to start with this configuration
            raise UsageError(f"{name}: item_size_max ({item_size_max}) cannot be higher than 1/2 of memory "
                             f"({memory})")
        if not factor > 1.0:
            raise UsageError(f"{name}: factor must be > 1.0, got {factor!r}")
        if int(chunk_size) != chunk_size or chunk_size < 1:
            raise UsageError(f"{name}: chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.memory = int(memory)
        self.item_size_max = int(item_size_max)
        self.factor = float(factor)
        self.chunk_size = int(chunk_size)
        # half a page, as memcached's default slab_chunk_max (no larger than the largest item)
        self.chunk_max = min(self.PAGE_SIZE // 2, self.item_size_max)
        self.evict = bool(evict)
        self.unix_epoch = float(unix_epoch)
        self.connections: dict[int, Any] = {}
        self.total_connections = 0
        self._sizes = slab_sizes(self.factor, self.chunk_size, self.PAGE_SIZE, self.chunk_max)
        self._init_state()
        self.watch()

    # -------------------------------------------------------------- state
    def _init_state(self) -> None:
        """A fresh process: empty memory, clock, CAS counter and stats."""
        self.classes = [SlabClass(i + 1, s, self.PAGE_SIZE // s) for i, s in enumerate(self._sizes)]
        self.items: dict[bytes, Item] = {}
        self.mem_malloced = 0
        self.curr_bytes = 0
        self.total_items = 0
        self.cas_id = 0
        self.oldest_live = 0
        self.oldest_cas = 0
        self.started_at = self.env.now
        # memcached sets process_started this far back so that current_time is never 0
        self.process_started = math.floor(self.unix_epoch + self.env.now) - ITEM_UPDATE_INTERVAL - 2
        self.stats: dict[str, int] = dict.fromkeys(
            ("get_cmds", "get_hits", "get_misses", "get_expired", "get_flushed", "set_cmds", "touch_cmds",
             "touch_hits", "touch_misses", "flush_cmds", "delete_hits", "delete_misses", "incr_hits",
             "incr_misses", "decr_hits", "decr_misses", "cas_hits", "cas_misses", "cas_badval",
             "store_too_large", "store_no_memory", "bytes_read", "bytes_written"), 0)

    def reset_state(self) -> None:
        # a cold restart is a new process: empty memory, a new clock and CAS counter, zeroed stats
        self._init_state()

    @property
    def current_time(self) -> int:
        """memcached's clock: whole seconds since its start, beginning at 62."""
        return math.floor(self.env.now - self.started_at) + ITEM_UPDATE_INTERVAL + 2

    def realtime(self, exptime: int) -> int:
        """An expiry argument on the server's clock (``memcached.c`` ``realtime``; 0 is never)."""
        if exptime < 0:
            exptime = REALTIME_MAXDELTA + 1  # EXPTIME_TO_POSITIVE_TIME: an absolute time before the start
        if exptime == 0:
            return 0
        if exptime > REALTIME_MAXDELTA:
            if exptime <= self.process_started:
                return 1
            return exptime - self.process_started
        return exptime + self.current_time

    def slab_class(self, ntotal: int) -> SlabClass | None:
        """The class an item of ``ntotal`` bytes goes to (``slabs_clsid``), or None when it is too large."""
        if ntotal == 0 or ntotal > self.item_size_max:
            return None
        i = bisect_left(self._sizes, ntotal)
        return self.classes[min(i, len(self.classes) - 1)]

    # ------------------------------------------------------------- memory
    def _new_page(self, cls: SlabClass) -> bool:
        """Give ``cls`` one more page unless the limit is reached (``do_slabs_newslab``; the first is free)."""
        if self.mem_malloced + self.PAGE_SIZE > self.memory and cls.pages > 0:
            return False
        self.mem_malloced += self.PAGE_SIZE
        cls.pages += 1
        cls.free += cls.perslab
        return True

    def _pull_tail(self, cls: SlabClass) -> int:
        """Free memory at the tail of ``cls``'s LRU: reclaim expired or flushed items, else evict one."""
        removed = 0
        now = self.current_time
        for _ in range(TAIL_TRIES):
            if not cls.lru:
                break
            it = next(iter(cls.lru.values()))
            if (it.exptime != 0 and it.exptime < now) or self.is_flushed(it):
                cls.reclaimed += 1
                if not it.fetched:
                    cls.expired_unfetched += 1
                self._unlink(it)
                removed += 1
                continue  # all we find are expired: keep going
            if self.evict:
                cls.evicted += 1
                if it.exptime != 0:
                    cls.evicted_nonzero += 1
                if not it.fetched:
                    cls.evicted_unfetched += 1
                self._unlink(it)
                removed += 1
            break
        return removed

    def _take_chunk(self, cls: SlabClass) -> bool:
        """One chunk of ``cls``: a free one, a new page, or what evicting makes free (``do_item_alloc_pull``)."""
        tries = 0
        ok = False
        while tries < ALLOC_TRIES:
            if cls.free == 0:
                self._new_page(cls)
            if cls.free > 0:
                cls.free -= 1
                ok = True
                break
            tries += 1
            if self._pull_tail(cls) <= 0:
                break
        cls.direct_reclaims += tries
        return ok

    def _alloc(self, nkey: int, nvalue: int, flags: int) -> tuple[SlabClass, int, int] | None:
        """Memory for a new item: ``(class, chunks, ntotal)``, or None when it cannot be had (too large / OOM)."""
        ntotal = item_ntotal(nkey, nvalue, flags)
        cls = self.slab_class(ntotal)
        if cls is None:
            return None
        chunks = 1 if ntotal <= self.chunk_max else -(-ntotal // self.chunk_max)
        for taken in range(chunks):
            if not self._take_chunk(cls):
                cls.free += taken
                cls.outofmemory += 1
                return None
        return cls, chunks, ntotal

    def _free(self, cls: SlabClass, chunks: int) -> None:
        cls.free += chunks

    def _new_item(self, key: bytes, value: Any, flags: int, exptime: int) -> Item | None:
        got = self._alloc(len(key), value_len(value), flags)
        if got is None:
            return None
        cls, chunks, ntotal = got
        return Item(key, value, flags, exptime, ntotal, cls, chunks)

    # ---------------------------------------------------------- link/lru
    def _link(self, it: Item) -> None:
        """Make ``it`` the key's item at the head of its LRU, with a new CAS (``do_item_link``)."""
        it.time = self.current_time
        self.cas_id += 1
        it.cas = self.cas_id
        self.items[it.key] = it
        it.cls.lru[it.key] = it
        self.curr_bytes += it.ntotal
        self.total_items += 1

    def _unlink(self, it: Item) -> None:
        """Drop ``it`` from the hash table and its LRU, and free its chunks (``do_item_unlink``)."""
        if self.items.get(it.key) is it:
            del self.items[it.key]
            del it.cls.lru[it.key]
            self.curr_bytes -= it.ntotal
            self._free(it.cls, it.chunks)

    def _bump(self, it: Item) -> None:
        """A hit: the item moves to the head of its LRU (``do_item_update``)."""
        it.time = self.current_time
        it.cls.lru.move_to_end(it.key)

    def is_flushed(self, it: Item) -> bool:
        """Whether a ``flush_all`` made ``it`` invisible (``item_is_flushed``)."""
        ol = self.oldest_live
        if ol == 0 or ol > self.current_time:
            return False
        return it.time <= ol or (self.oldest_cas != 0 and it.cas != 0 and it.cas < self.oldest_cas)

    def lookup(self, key: bytes, update: bool) -> Item | None:
        """The live item of ``key``, unlinking it if flushed or expired (``do_item_get``); a hit bumps when
        ``update``."""
        it = self.items.get(key)
        if it is None:
            return None
        if self.is_flushed(it):
            self._unlink(it)
            self.stats["get_flushed"] += 1
            return None
        if it.exptime != 0 and it.exptime <= self.current_time:
            self._unlink(it)
            self.stats["get_expired"] += 1
            return None
        if update:
            it.fetched = True
            self._bump(it)
        return it

    # ------------------------------------------------------------ serving
    def receive(self, call: Call) -> ConnectionError | None:
        epoch = getattr(call.conn, "epoch", None)
        if self.up and epoch is not None and epoch != self.epoch:
            # a connection to a process that has since died: this process's kernel resets it
            self.resets += 1
            err = ConnectionError("Connection reset by peer")
            if call.carrier is not None:
                return err  # the caller carries its call: it brings the reset back
            self.world.network.send(self.node, call.src, 0.0, lambda c: answer(c, err), call)
            return None
        return super().receive(call)

    def execute(self, call: Call) -> Any:
        reply = super().execute(call)
        if call.batch and reply and all(r is NO_REPLY for r in reply):
            return NO_REPLY  # a batch of noreply commands: nothing goes back
        return reply

    def wrong_arity(self, cmd: tuple[Any, ...]) -> str:
        return "ERROR"  # a bad token count is a plain ERROR in the text protocol

    def unknown_command(self, cmd: tuple[Any, ...]) -> str:
        return "ERROR"

    def accept(self, conn: Any) -> int:
        """A new TCP connection reached the listener; the process epoch it belongs to."""
        self.total_connections += 1
        self.connections[id(conn)] = conn
        return self.epoch

    def hang_up(self, conn: Any) -> None:
        """A client closed ``conn``."""
        self.connections.pop(id(conn), None)

    def on_crash(self) -> None:
        self.connections.clear()
        super().on_crash()

    def counters(self) -> dict[str, float]:
        d = super().counters()
        st = self.stats
        d.update(curr_items=len(self.items), bytes=self.curr_bytes, curr_connections=len(self.connections),
                 hits=st["get_hits"], misses=st["get_misses"], evictions=sum(c.evicted for c in self.classes),
                 expired=st["get_expired"], reclaimed=sum(c.reclaimed for c in self.classes))
        return d

    # ============================================================ commands
    @staticmethod
    def _opts(opts: tuple[Any, ...], allowed: int) -> bool:
        """Whether the trailing tokens ask for noreply; more tokens than the command takes is an ERROR."""
        if len(opts) > allowed:
            raise ReplyError("ERROR")
        return bool(opts) and opts[-1] == NOREPLY

    @staticmethod
    def _key(key: Any) -> bytes:
        if isinstance(key, str):
            key = key.encode()
        if not isinstance(key, bytes) or not key:
            raise ReplyError("ERROR")  # no key token at all: the command has too few tokens
        if len(key) > KEY_MAX_LENGTH:
            raise ReplyError(BAD_FORMAT)
        return key

    def _update(self, comm: bytes, key: Any, flags: Any, exptime: Any, value: Any, cas_in: Any,
               noreply: bool) -> Any:
        """``process_update_command`` + ``complete_nread_ascii`` + ``do_store_item``."""
        k = self._key(key)
        fl = parse_u32(flags)
        ex = parse_i32(exptime)
        cas = 0
        if fl is None or ex is None:
            raise ReplyError(BAD_FORMAT)
        if cas_in is not None:
            c = parse_u64(cas_in)
            if c is None:
                raise ReplyError(BAD_FORMAT)
            cas = c
        n = value_len(value)
        self.stats["bytes_read"] += n + len(k) + 30  # the value exactly, the command line estimated
        it = self._new_item(k, value, fl, self.realtime(ex))
        if it is None:
            if self.slab_class(item_ntotal(len(k), n, fl)) is None:
                self.stats["store_too_large"] += 1
                err = TOO_LARGE
            else:
                self.stats["store_no_memory"] += 1
                err = NO_MEMORY
            if comm == b"set":
                old = self.lookup(k, update=False)
                if old is not None:
                    self._unlink(old)  # a failed set must not leave the stale value behind
            if noreply:
                return NO_REPLY
            raise ReplyError(err)
        self.stats["set_cmds"] += 1
        stored = self._do_store(comm, it, cas)
        if self.items.get(k) is not it:
            self._free(it.cls, it.chunks)  # not linked: its memory goes back
        return NO_REPLY if noreply else stored

    def _do_store(self, comm: bytes, it: Item, cas: int) -> bytes:
        old = self.lookup(it.key, update=False)
        if old is not None:
            match = cas != 0 and cas == old.cas
            if comm == b"add":
                self._bump(old)  # add only adds a missing item, but promotes the present one
                return NOT_STORED
            if comm == b"cas":
                if not match:
                    self.stats["cas_badval"] += 1
                    return EXISTS
                self.stats["cas_hits"] += 1
            elif comm in (b"append", b"prepend"):
                if cas != 0 and not match:
                    return EXISTS
                data = _concat(old.value, it.value) if comm == b"append" else _concat(it.value, old.value)
                joined = self._new_item(it.key, data, old.flags, old.exptime)  # keeps the old flags and expiry
                if joined is None:
                    return NOT_STORED
                self._free(it.cls, it.chunks)
                it.cls, it.chunks, it.ntotal, it.value = joined.cls, joined.chunks, joined.ntotal, joined.value
                it.flags, it.exptime = joined.flags, joined.exptime
            self._unlink(old)
            self._link(it)
            return STORED
        if comm == b"cas":
            self.stats["cas_misses"] += 1
            return NOT_FOUND
        if comm in (b"add", b"set"):
            self._link(it)
            return STORED
        return NOT_STORED

    @command("SET")
    def _set(self, key: Any, flags: Any, exptime: Any, value: Any, *opts: Any) -> Any:
        return self._update(b"set", key, flags, exptime, value, None, self._opts(opts, 1))

    @command("ADD")
    def _add(self, key: Any, flags: Any, exptime: Any, value: Any, *opts: Any) -> Any:
        return self._update(b"add", key, flags, exptime, value, None, self._opts(opts, 1))

    @command("REPLACE")
    def _replace(self, key: Any, flags: Any, exptime: Any, value: Any, *opts: Any) -> Any:
        return self._update(b"replace", key, flags, exptime, value, None, self._opts(opts, 1))

    @command("APPEND")
    def _append(self, key: Any, flags: Any, exptime: Any, value: Any, *opts: Any) -> Any:
        return self._update(b"append", key, flags, exptime, value, None, self._opts(opts, 1))

    @command("PREPEND")
    def _prepend(self, key: Any, flags: Any, exptime: Any, value: Any, *opts: Any) -> Any:
        return self._update(b"prepend", key, flags, exptime, value, None, self._opts(opts, 1))

    @command("CAS")
    def _cas(self, key: Any, flags: Any, exptime: Any, value: Any, cas_unique: Any, *opts: Any) -> Any:
        return self._update(b"cas", key, flags, exptime, value, cas_unique, self._opts(opts, 1))

    def _fetch(self, keys: tuple[Any, ...]) -> Hits:
        # on the wire an empty key is just a second space, which the tokenizer skips
        keys = tuple(k for k in keys if k not in (b"", ""))
        if not keys:
            raise ReplyError("ERROR")
        out = Hits()
        st = self.stats
        for key in keys:
            k = self._key(key)
            it = self.lookup(k, update=True)
            st["get_cmds"] += 1
            if it is None:
                st["get_misses"] += 1
                continue
            st["get_hits"] += 1
            out.append((k, it.flags, it.value, it.cas))
        st["bytes_written"] += out.size
        return out

    @command("GET")
    def _get(self, *keys: Any) -> Hits:
        return self._fetch(keys)

    @command("GETS")
    def _gets(self, *keys: Any) -> Hits:
        return self._fetch(keys)

    @command("DELETE")
    def _delete(self, key: Any, *opts: Any) -> Any:
        noreply = bool(opts) and opts[-1] == NOREPLY
        rest = opts[:-1] if noreply else opts
        if len(rest) > 1 or (rest and rest[0] not in (b"0", 0)):
            raise ReplyError("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")
        k = self._key(key)
        it = self.lookup(k, update=False)
        if it is None:
            self.stats["delete_misses"] += 1
            reply = NOT_FOUND
        else:
            self.stats["delete_hits"] += 1
            self._unlink(it)
            reply = b"DELETED"
        return NO_REPLY if noreply else reply

    def _arith(self, incr: bool, key: Any, delta: Any, opts: tuple[Any, ...]) -> Any:
        """``process_arithmetic_command`` + ``do_add_delta``."""
        noreply = self._opts(opts, 1)
        k = self._key(key)
        d = parse_u64(delta)
        if d is None:
            raise ReplyError(BAD_DELTA)
        st = self.stats
        it = self.lookup(k, update=False)
        if it is None:
            st["incr_misses" if incr else "decr_misses"] += 1
            return NO_REPLY if noreply else NOT_FOUND
        data = it.value
        # empty, opaque (a simulation Value) or chunked values are not numbers
        if not isinstance(data, bytes) or not data or it.ntotal > self.chunk_max:
            raise ReplyError(NON_NUMERIC)
        v = parse_u64(data + b"\r\n")
        if v is None:
            raise ReplyError(NON_NUMERIC)
        v = (v + d) & U64 if incr else (0 if d > v else v - d)
        st["incr_hits" if incr else "decr_hits"] += 1
        text = str(v).encode()
        if len(text) <= len(data):
            # in place: a new CAS, the rest padded with spaces, a bump
            it.value = text + b" " * (len(data) - len(text))
            self.cas_id += 1
            it.cas = self.cas_id
            self._bump(it)
        else:
            new = self._new_item(k, text, it.flags, it.exptime)
            if new is None:
                raise ReplyError("SERVER_ERROR out of memory")
            self._unlink(it)
            self._link(new)
        return NO_REPLY if noreply else v

    @command("INCR")
    def _incr(self, key: Any, delta: Any, *opts: Any) -> Any:
        return self._arith(True, key, delta, opts)

    @command("DECR")
    def _decr(self, key: Any, delta: Any, *opts: Any) -> Any:
        return self._arith(False, key, delta, opts)

    @command("TOUCH")
    def _touch(self, key: Any, exptime: Any, *opts: Any) -> Any:
        noreply = self._opts(opts, 1)
        k = self._key(key)
        ex = parse_i32(exptime)
        if ex is None:
            raise ReplyError(BAD_EXPTIME)
        at = self.realtime(ex)
        it = self.lookup(k, update=True)
        st = self.stats
        st["touch_cmds"] += 1
        if it is None:
            st["touch_misses"] += 1
            return NO_REPLY if noreply else NOT_FOUND
        st["touch_hits"] += 1
        it.exptime = at
        return NO_REPLY if noreply else b"TOUCHED"

    @command("FLUSH_ALL")
    def _flush_all(self, *opts: Any) -> Any:
        noreply = self._opts(opts, 2)
        rest = opts[:-1] if noreply else opts
        self.stats["flush_cmds"] += 1
        delay = 0
        if rest:
            d = parse_i32(rest[0])
            if d is None:
                raise ReplyError(BAD_EXPTIME)
            delay = d
        new_oldest = self.realtime(delay) if delay > 0 else self.current_time
        # with CAS on, everything linked up to the second before is flushed, and so is every older CAS
        self.oldest_live = new_oldest - 1
        if self.oldest_live <= self.current_time:
            self.cas_id += 1
            self.oldest_cas = self.cas_id
        return NO_REPLY if noreply else b"OK"

    @command("VERSION")
    def _version(self) -> bytes:
        return f"VERSION {VERSION}".encode()

    @command("STATS")
    def _stats(self, *args: Any) -> dict[bytes, bytes] | bytes:
        sub = args[0].decode() if args and isinstance(args[0], bytes) else (str(args[0]) if args else "")
        if not sub:
            return self._general_stats()
        if sub == "settings":
            return _stat_lines({"maxbytes": self.memory, "maxconns": 1024, "tcpport": 11211,
                                "evictions": "on" if self.evict else "off", "growth_factor": f"{self.factor:.2f}",
                                "chunk_size": self.chunk_size, "num_threads": self.workers,
                                "cas_enabled": "yes", "item_size_max": self.item_size_max,
                                "slab_chunk_max": self.chunk_max, "slab_reassign": "no", "slab_automove": 0,
                                "lru_segmented": "no", "oldest": self.oldest_live})
        if sub == "slabs":
            lines: dict[str, Any] = {}
            active = 0
            for c in self.classes:
                if c.pages == 0:
                    continue
                active += 1
                lines.update({f"{c.id}:chunk_size": c.size, f"{c.id}:chunks_per_page": c.perslab,
                              f"{c.id}:total_pages": c.pages, f"{c.id}:total_chunks": c.pages * c.perslab,
                              f"{c.id}:used_chunks": c.used, f"{c.id}:free_chunks": c.free})
            lines.update(active_slabs=active, total_malloced=self.mem_malloced)
            return _stat_lines(lines)
        if sub == "items":
            lines = {}
            now = self.current_time
            for c in self.classes:
                if not c.lru:
                    continue
                oldest = next(iter(c.lru.values()))
                lines.update({f"items:{c.id}:number": len(c.lru), f"items:{c.id}:age": now - oldest.time,
                              f"items:{c.id}:evicted": c.evicted, f"items:{c.id}:evicted_nonzero": c.evicted_nonzero,
                              f"items:{c.id}:outofmemory": c.outofmemory, f"items:{c.id}:reclaimed": c.reclaimed,
                              f"items:{c.id}:expired_unfetched": c.expired_unfetched,
                              f"items:{c.id}:evicted_unfetched": c.evicted_unfetched})
            return _stat_lines(lines)
        if sub == "reset":
            for k in self.stats:
                self.stats[k] = 0
            return b"RESET"
        raise ReplyError("ERROR")

    def _general_stats(self) -> dict[bytes, bytes]:
        st = self.stats
        now = self.current_time
        cl = self.classes
        return _stat_lines({
            "pid": 1, "uptime": now - ITEM_UPDATE_INTERVAL, "time": now + self.process_started,
            "version": VERSION, "pointer_size": 64, "rusage_user": "0.000000", "rusage_system": "0.000000",
            "max_connections": 1024, "curr_connections": len(self.connections),
            "total_connections": self.total_connections,
            "cmd_get": st["get_cmds"], "cmd_set": st["set_cmds"], "cmd_flush": st["flush_cmds"],
            "cmd_touch": st["touch_cmds"], "cmd_meta": 0, "get_hits": st["get_hits"], "get_misses": st["get_misses"],
            "get_expired": st["get_expired"], "get_flushed": st["get_flushed"],
            "delete_misses": st["delete_misses"], "delete_hits": st["delete_hits"],
            "incr_misses": st["incr_misses"], "incr_hits": st["incr_hits"], "decr_misses": st["decr_misses"],
            "decr_hits": st["decr_hits"], "cas_misses": st["cas_misses"], "cas_hits": st["cas_hits"],
            "cas_badval": st["cas_badval"], "touch_hits": st["touch_hits"], "touch_misses": st["touch_misses"],
            "store_too_large": st["store_too_large"], "store_no_memory": st["store_no_memory"],
            "bytes_read": st["bytes_read"], "bytes_written": st["bytes_written"], "limit_maxbytes": self.memory,
            "accepting_conns": 1, "threads": self.workers,
            "bytes": self.curr_bytes, "curr_items": len(self.items), "total_items": self.total_items,
            "slab_global_page_pool": 0,
            "expired_unfetched": sum(c.expired_unfetched for c in cl),
            "evicted_unfetched": sum(c.evicted_unfetched for c in cl),
            "evictions": sum(c.evicted for c in cl), "reclaimed": sum(c.reclaimed for c in cl),
            "direct_reclaims": sum(c.direct_reclaims for c in cl),
        })


def _stat_lines(d: dict[str, Any]) -> dict[bytes, bytes]:
    """``STAT name value`` lines as the client reads them."""
    return {k.encode(): str(v).encode() for k, v in d.items()}
