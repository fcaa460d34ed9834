"""pymemcache-like clients for the simulated memcached: :class:`Client` (one server) and :class:`HashClient`.

Same method names, arguments, defaults and return values as pymemcache 4.0
(``pymemcache/client/base.py`` and ``client/hash.py``); every method returns
a generator to run inside a SimPy process::

    mc = Client(world, host="app", server=mc1, timeout=0.5)

    def handler():
        yield from mc.set("k", b"v", expire=30)        # noreply by default: returns True at once
        value = yield from mc.get("k")                 # b"v", or None
        value, token = yield from mc.gets("k")
        ok = yield from mc.cas("k", b"w", token)       # True, False (changed since), None (gone)

What pymemcache does, and so does this client:

* **Keys** are checked before anything is sent: over 250 bytes, containing
  whitespace or a NUL, or a non-ASCII str (unless ``allow_unicode_keys``)
  raise :class:`MemcacheIllegalInputError`.  ``key_prefix`` is prepended.
* **Values**: bytes pass as they are, anything else as ``str(value)``
  encoded (``encoding``); a simulation :class:`~simcache.sim.oracle.Value`
  passes through as an opaque value of ``.size`` bytes.  A ``serde``
  (``serialize(key, value) -> (value, flags)`` / ``deserialize(key, value,
  flags)``, e.g. ``pymemcache.serde.pickle_serde``) plugs in as there.
* **noreply**: ``set``, ``set_many``, ``add``, ``replace``, ``append``,
  ``prepend``, ``delete``, ``delete_many``, ``touch`` and ``flush_all``
  default to ``default_noreply`` (True): the command is sent and the call
  returns True without waiting (the server sends nothing back).  ``cas``,
  ``incr`` and ``decr`` default to waiting.
* **Errors**: the server's ``ERROR`` raises
  :class:`MemcacheUnknownCommandError`, ``CLIENT_ERROR ...``
  :class:`MemcacheClientError`, ``SERVER_ERROR ...``
  :class:`MemcacheServerError` (their argument is the text after the first
  word, as bytes).  Socket failures are the simulation's
  :class:`~simcache.sim.rpc.ConnectionError` (refused, reset) and
  :class:`~simcache.sim.rpc.TimeoutError`.  Any error closes the connection;
  the next call connects again.  With ``ignore_exc``, ``get``/``gets``/
  ``get_many``/``gets_many``/``stats`` turn every error into a miss.
* **Connections**: the client connects on first use (one network round
  trip to the server's host, answered by its kernel: refused at once when
  the process is down and the host up, no answer when the host is down) and
  keeps the connection; ``connect_timeout`` bounds the connect, ``timeout``
  each reply (None: wait forever, pymemcache's default).  A connection made
  to a server process that has since crashed is reset by the server.

A client may be shared by many SimPy processes; each call waits for its own
reply, as if the processes had a pool of connections (pymemcache's
``PooledClient``), and they share one connection state.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Generator, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import simpy

from simcache.errors import UsageError
from simcache.sim.component import pause_gate
from simcache.sim.memcached.hashing import Hasher, KetamaHash, ModuloHash, make_hasher
from simcache.sim.memcached.server import MemcachedServer
from simcache.sim.oracle import Value
from simcache.sim.rpc import (
    Call,
    ConnectionError,
    Deadlines,
    RemoteError,
    ResponseError,
    TimeoutError,
    answer,
    call,
    send,
)

if TYPE_CHECKING:
    from simcache.sim.component import Component
    from simcache.sim.world import World

Gen = Generator[simpy.Event, Any, Any]
Key = str | bytes


# ------------------------------------------------------------- exceptions
class MemcacheError(RemoteError):
    """Base of the memcache errors (pymemcache ``MemcacheError``)."""


class MemcacheClientError(MemcacheError):
    """The server could not parse the request (``CLIENT_ERROR``)."""


class MemcacheUnknownCommandError(MemcacheClientError):
    """The server did not know the command (``ERROR``)."""


class MemcacheIllegalInputError(MemcacheClientError):
    """A key or value memcache cannot take (raised before anything is sent)."""


class MemcacheServerError(MemcacheError):
    """The server failed to process the request (``SERVER_ERROR``)."""


class MemcacheUnknownError(MemcacheError):
    """A reply the client cannot parse."""


class MemcacheUnexpectedCloseError(MemcacheServerError):
    """The connection closed unexpectedly."""


# ---------------------------------------------------------- pymemcache tables
VALID_STORE_RESULTS = {
    b"set": (b"STORED", b"NOT_STORED"),
    b"add": (b"STORED", b"NOT_STORED"),
    b"replace": (b"STORED", b"NOT_STORED"),
    b"append": (b"STORED", b"NOT_STORED"),
    b"prepend": (b"STORED", b"NOT_STORED"),
    b"cas": (b"STORED", b"EXISTS", b"NOT_FOUND"),
}
STORE_RESULTS_VALUE: dict[bytes, bool | None] = {b"STORED": True, b"NOT_STORED": False, b"NOT_FOUND": None,
                                                  b"EXISTS": False}


def _parse_bool_int(value: bytes) -> bool:
    return int(value) != 0


def _parse_bool_string_is_yes(value: bytes) -> bool:
    return value == b"yes"


def _parse_float(value: bytes) -> float:
    return float(value.replace(b":", b"."))


def _parse_hex(value: bytes) -> int:
    return int(value, 8)


#: stats whose values are not plain integers (pymemcache ``STAT_TYPES``)
STAT_TYPES: dict[bytes, Callable[[bytes], Any]] = {
    b"version": bytes, b"rusage_user": _parse_float, b"rusage_system": _parse_float,
    b"hash_is_expanding": _parse_bool_int, b"slab_reassign_running": _parse_bool_int, b"inter": bytes,
    b"growth_factor": float, b"stat_key_prefix": bytes, b"umask": _parse_hex, b"detail_enabled": _parse_bool_int,
    b"cas_enabled": _parse_bool_int, b"auth_enabled_sasl": _parse_bool_string_is_yes,
    b"maxconns_fast": _parse_bool_int, b"slab_reassign": _parse_bool_int, b"slab_automove": _parse_bool_int,
}


def check_key_helper(key: Key, allow_unicode_keys: bool, key_prefix: bytes = b"") -> bytes:
    """The key as sent (prefixed, encoded), or MemcacheIllegalInputError (pymemcache ``check_key_helper``)."""
    if allow_unicode_keys:
        if isinstance(key, str):
            key = key.encode("utf8")
    elif isinstance(key, str):
        try:
            key = key.encode("ascii")
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise MemcacheIllegalInputError(f"Non-ASCII key: {key!r}") from None
    key = key_prefix + key
    parts = key.split()
    if len(key) > 250:
        raise MemcacheIllegalInputError(f"Key is too long: {key!r}")
    # the second test catches leading or trailing whitespace
    elif len(parts) > 1 or (parts and parts[0] != key):
        raise MemcacheIllegalInputError(f"Key contains whitespace: {key!r}")
    elif b"\00" in key:
        raise MemcacheIllegalInputError(f"Key contains null: {key!r}")
    return key


class LegacySerde:
    """No serialization: values go as they are, come back as stored (pymemcache's default serde)."""

    def serialize(self, key: bytes, value: Any) -> tuple[Any, int]:
        return value, 0

    def deserialize(self, key: Key, value: Any, flags: int) -> Any:
        return value


# ------------------------------------------------------------ connections
_conn_ids = itertools.count(1)


class Connection:
    """One TCP connection to a server process (``epoch``: the process it reached)."""

    __slots__ = ("id", "server", "epoch")

    def __init__(self, server: MemcachedServer, epoch: int) -> None:
        self.id = next(_conn_ids)
        self.server = server
        self.epoch = epoch

    def __repr__(self) -> str:
        return f"<Connection {self.id} to {self.server.name}>"


def tcp_connect(world: World, src: str, server: MemcachedServer,
                deadlines: Deadlines | None = None) -> Generator[simpy.Event, Any, Connection]:
    """Connect from node ``src`` to ``server`` (generator): one round trip answered by the server's kernel.

    The SYN reaches the server's host one network delay after the send; a live
    process accepts (a pause does not matter: the kernel answers), a dead one
    on a live host refuses (``ConnectionError("Connection refused")``), a dead
    host says nothing (the caller waits for ``deadlines``, or forever).
    """
    env = world.env
    net = world.network
    ev = env.event()
    slot = Call(None, src, ev)

    def syn(_: Any) -> None:
        if not server.host_up:
            return
        if server.up:
            conn = Connection(server, -1)
            conn.epoch = server.accept(conn)
            reply: Any = conn
        else:
            reply = ConnectionError("Connection refused")
        net.send(server.node, src, 0.0, lambda v: answer(slot, v), reply)

    net.send(src, server.node, 0.0, syn, None)
    if deadlines is not None:
        deadlines.arm(ev)
    conn = yield ev
    return conn


def _raise_errors(line: Any, name: bytes) -> None:
    """Raise the memcache error an error reply stands for (pymemcache ``Client._raise_errors``)."""
    if not isinstance(line, ResponseError):
        return
    text = str(line)
    if text.startswith("ERROR"):
        raise MemcacheUnknownCommandError(name)
    rest = text[text.find(" ") + 1:].encode()
    if text.startswith("CLIENT_ERROR"):
        raise MemcacheClientError(rest)
    if text.startswith("SERVER_ERROR"):
        raise MemcacheServerError(rest)
    raise MemcacheUnknownError(text[:32].encode())


def _wire_size(cmd: tuple[Any, ...]) -> int:
    """Request bytes of one command: its tokens, spaces and line ends, plus a value's bytes."""
    n = 2
    for a in cmd:
        if isinstance(a, bytes):
            n += len(a) + 1
        elif isinstance(a, Value):
            n += a.size + 8
        else:
            n += len(str(a)) + 1
    return n


class Client:
    """A client of one simulated memcached server, as ``pymemcache.client.base.Client``.

    Args:
        world: the simulation world.
        host: the component (or node name) the client runs on; a pause of the component delays the caller
            after each reply.
        server: the memcached server.
        serde: serializer/deserializer (default: values as they are).
        connect_timeout: seconds to wait for a connect (None: forever).
        timeout: seconds to wait for each reply (None: forever).
        ignore_exc: treat every error of get/gets/get_many/gets_many/stats as a miss.
        key_prefix: bytes prepended to every key.
        default_noreply: the ``noreply`` default of the store commands, delete, touch and flush_all.
        allow_unicode_keys: accept non-ASCII str keys (UTF-8 encoded).
        encoding: how non-bytes values and numbers are encoded.
    """

    def __init__(self, world: World, host: Component | str, server: MemcachedServer, *, serde: Any = None,
                 connect_timeout: float | None = None, timeout: float | None = None, ignore_exc: bool = False,
                 key_prefix: bytes | str = b"", default_noreply: bool = True, allow_unicode_keys: bool = False,
                 encoding: str = "ascii") -> None:
        for field, t in (("connect_timeout", connect_timeout), ("timeout", timeout)):
            if t is not None and not t > 0:
                raise UsageError(f"{field} must be > 0 seconds or None, got {t!r}")
        self.world = world
        self.env = world.env
        self.host = None if isinstance(host, str) else host
        self.node = host if isinstance(host, str) else host.node
        self.server = server
        self.serde = serde if serde is not None else LegacySerde()
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        # "timed out" is what a Python socket timeout says
        self._connect_deadlines = Deadlines(self.env, connect_timeout, "timed out") if connect_timeout else None
        self._deadlines = Deadlines(self.env, timeout, "timed out") if timeout else None
        self.ignore_exc = ignore_exc
        if isinstance(key_prefix, str):
            key_prefix = key_prefix.encode("ascii")
        if not isinstance(key_prefix, bytes):
            raise TypeError("key_prefix should be bytes.")
        self.key_prefix = key_prefix
        self.default_noreply = default_noreply
        self.allow_unicode_keys = allow_unicode_keys
        self.encoding = encoding
        #: the open connection (None: the next call connects)
        self.sock: Connection | None = None
        self._connecting: simpy.Process | None = None
        self.connects = 0

    def __repr__(self) -> str:
        return f"<memcached Client {self.node} -> {self.server.name}>"

    # ------------------------------------------------------- connection
    def check_key(self, key: Key, key_prefix: bytes) -> bytes:
        """The key as sent (see :func:`check_key_helper`)."""
        return check_key_helper(key, allow_unicode_keys=self.allow_unicode_keys, key_prefix=key_prefix)

    def _connect(self) -> Gen:
        """Open the connection (or wait for the connect already under way); raise what the connect met."""
        if self._connecting is None:
            # its own process, so a caller interrupted while waiting does not abandon the others' connect
            self._connecting = self.env.process(self._open())
        result = yield self._connecting
        if isinstance(result, BaseException):
            raise result

    def _open(self) -> Gen:
        self.connects += 1
        try:
            conn = yield from tcp_connect(self.world, self.node, self.server, self._connect_deadlines)
        except (ConnectionError, TimeoutError) as err:
            self._connecting = None
            return err  # returned, not raised: nobody may be waiting any more
        self._connecting = None
        self.sock = conn
        return conn

    def close(self) -> None:
        """Close the connection; the next call connects again."""
        if self.sock is not None:
            self.sock.server.hang_up(self.sock)
            self.sock = None

    disconnect_all = close

    def _exchange(self, cmds: list[tuple[Any, ...]]) -> Gen:
        """Send ``cmds`` in one write and wait for their replies (an error reply is a ResponseError in the list)."""
        size = sum(_wire_size(c) for c in cmds)
        if len(cmds) == 1:
            try:
                reply = yield from call(self.world, self.node, self.server, cmds[0], size=size, host=self.host,
                                        deadlines=self._deadlines, conn=self.sock)
            except ResponseError as err:
                reply = err
            replies = [reply]
        else:
            replies = yield from call(self.world, self.node, self.server, cmds, size=size, batch=True, host=self.host,
                                      deadlines=self._deadlines, conn=self.sock)
        if self.host is not None:
            yield from pause_gate(self.host)
        return replies

    def _send_only(self, cmds: list[tuple[Any, ...]]) -> None:
        """Send ``cmds`` (noreply) and return at once: nobody waits, and the server sends nothing back."""
        batch = len(cmds) > 1
        send(self.world, self.node, self.server, cmds if batch else cmds[0], size=sum(_wire_size(c) for c in cmds),
             batch=batch, conn=self.sock, host=self.host)

    # ------------------------------------------------------ argument checks
    def _check_integer(self, value: Any, name: str) -> bytes:
        if not isinstance(value, int):
            raise MemcacheIllegalInputError(f"{name} must be integer, got bad value: {value!r}")
        return str(value).encode(self.encoding)

    def _check_cas(self, cas: Any) -> bytes:
        if isinstance(cas, int | str):
            try:
                cas = str(cas).encode(self.encoding)
            except UnicodeEncodeError:
                raise MemcacheIllegalInputError(f"non-ASCII cas value: {cas!r}") from None
        elif not isinstance(cas, bytes):
            raise MemcacheIllegalInputError(f"cas must be integer, string, or bytes, got bad value: {cas!r}")
        if not cas.isdigit():
            raise MemcacheIllegalInputError(f"cas must only contain values in 0-9, got bad value: {cas!r}")
        return cas

    def _encode_value(self, data: Any) -> Any:
        if isinstance(data, bytes | Value):
            return data
        try:
            return str(data).encode(self.encoding)
        except UnicodeEncodeError as e:
            raise MemcacheIllegalInputError(f"Data values must be binary-safe: {e}") from None

    # -------------------------------------------------------- the three paths
    def _fetch_cmd(self, name: bytes, keys: Iterable[Key], expect_cas: bool, key_prefix: bytes = b"") -> Gen:
        keys = list(keys)
        prefixed = [self.check_key(k, key_prefix=key_prefix) for k in keys]
        remapped = dict(zip(prefixed, keys, strict=True))
        try:
            if self.sock is None:
                yield from self._connect()
            [reply] = yield from self._exchange([(name, *prefixed)])
            _raise_errors(reply, name)
            if name == b"stats" and isinstance(reply, dict):
                return dict(reply)
            if not isinstance(reply, list):
                raise MemcacheUnknownError(bytes(reply)[:32] if isinstance(reply, bytes) else b"")
            result: dict[Any, Any] = {}
            for key, flags, value, cas in reply:
                if value.__class__ is Value:
                    self.world.note_served(self.server.name)  # which tier served a read
                original = remapped[key]
                value = self.serde.deserialize(original, value, int(flags))
                result[original] = (value, str(cas).encode()) if expect_cas else value
            return result
        except simpy.Interrupt:
            self.close()
            raise  # the caller itself was interrupted: never a miss
        except Exception:
            self.close()
            if self.ignore_exc:
                return {}
            raise

    def _store_cmd(self, name: bytes, values: Mapping[Key, Any], expire: int, noreply: bool,
                   flags: int | None = None, cas: bytes | None = None) -> Gen:
        cmds: list[tuple[Any, ...]] = []
        keys: list[Key] = []
        expire_tok = self._check_integer(expire, "expire")
        for key, data in values.items():
            keys.append(key)
            k = self.check_key(key, self.key_prefix)
            data, data_flags = self.serde.serialize(k, data)
            if flags is not None:
                data_flags = flags  # an explicit flags overrides the serializer's
            args: list[Any] = [name, k, str(data_flags).encode(self.encoding), expire_tok, self._encode_value(data)]
            if cas is not None:
                args.append(cas)
            if noreply:
                args.append(b"noreply")
            cmds.append(tuple(args))
        if not cmds:
            return {}
        if self.sock is None:
            yield from self._connect()
        try:
            if noreply:
                self._send_only(cmds)
                return dict.fromkeys(keys, True)
            replies = yield from self._exchange(cmds)
            results: dict[Key, bool | None] = {}
            for key, line in zip(keys, replies, strict=True):
                _raise_errors(line, name)
                if line in VALID_STORE_RESULTS[name]:
                    results[key] = STORE_RESULTS_VALUE[line]
                else:
                    raise MemcacheUnknownError(bytes(line)[:32] if isinstance(line, bytes) else b"")
            return results
        except BaseException:
            self.close()
            raise

    def _misc_cmd(self, cmds: list[tuple[Any, ...]], cmd_name: bytes, noreply: bool | None) -> Gen:
        if self.sock is None:
            yield from self._connect()
        try:
            if noreply:
                self._send_only(cmds)
                return []
            replies = yield from self._exchange(cmds)
            for line in replies:
                _raise_errors(line, cmd_name)
            return replies
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ storage
    def set(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
            flags: int | None = None) -> Gen:
        """set: True (always, with noreply; a failure raises)."""
        if noreply is None:
            noreply = self.default_noreply
        r = yield from self._store_cmd(b"set", {key: value}, expire, noreply, flags=flags)
        return r[key]

    def set_many(self, values: Mapping[Key, Any], expire: int = 0, noreply: bool | None = None,
                 flags: int | None = None) -> Gen:
        """Many sets in one write: the keys that failed (none with noreply)."""
        if noreply is None:
            noreply = self.default_noreply
        result = yield from self._store_cmd(b"set", values, expire, noreply, flags=flags)
        return [k for k, v in result.items() if not v]

    set_multi = set_many

    def add(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
            flags: int | None = None) -> Gen:
        """add: True if stored, False if the key existed (True with noreply)."""
        if noreply is None:
            noreply = self.default_noreply
        r = yield from self._store_cmd(b"add", {key: value}, expire, noreply, flags=flags)
        return r[key]

    def replace(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
                flags: int | None = None) -> Gen:
        """replace: True if stored, False if the key was missing (True with noreply)."""
        if noreply is None:
            noreply = self.default_noreply
        r = yield from self._store_cmd(b"replace", {key: value}, expire, noreply, flags=flags)
        return r[key]

    def append(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
               flags: int | None = None) -> Gen:
        """append: True if stored, False if the key was missing (the item keeps its flags and expiry)."""
        if noreply is None:
            noreply = self.default_noreply
        r = yield from self._store_cmd(b"append", {key: value}, expire, noreply, flags=flags)
        return r[key]

    def prepend(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
                flags: int | None = None) -> Gen:
        """prepend: True if stored, False if the key was missing."""
        if noreply is None:
            noreply = self.default_noreply
        r = yield from self._store_cmd(b"prepend", {key: value}, expire, noreply, flags=flags)
        return r[key]

    def cas(self, key: Key, value: Any, cas: int | str | bytes, expire: int = 0, noreply: bool = False,
            flags: int | None = None) -> Gen:
        """cas: True if stored, False if the item changed since ``cas`` was read, None if it is gone."""
        token = self._check_cas(cas)
        r = yield from self._store_cmd(b"cas", {key: value}, expire, noreply, flags=flags, cas=token)
        return r[key]

    # ------------------------------------------------------------ reading
    def get(self, key: Key, default: Any = None) -> Gen:
        """get one key: its value, or ``default``."""
        r = yield from self._fetch_cmd(b"get", [key], False, key_prefix=self.key_prefix)
        v = r.get(key, default)
        if v.__class__ is Value:
            self.world.note_served(self.server.name)  # which tier answered a read is observed, not guessed
        return v

    def get_many(self, keys: Iterable[Key]) -> Gen:
        """get many keys in one command: a dict of the keys found."""
        keys = list(keys)
        if not keys:
            return {}
        r = yield from self._fetch_cmd(b"get", keys, False, key_prefix=self.key_prefix)
        return r

    get_multi = get_many

    def gets(self, key: Key, default: Any = None, cas_default: Any = None) -> Gen:
        """gets one key: ``(value, cas)`` (cas as bytes), or ``(default, cas_default)``."""
        r = yield from self._fetch_cmd(b"gets", [key], True, key_prefix=self.key_prefix)
        return r.get(key, (default, cas_default))

    def gets_many(self, keys: Iterable[Key]) -> Gen:
        """gets many keys: a dict of ``(value, cas)`` for the keys found."""
        keys = list(keys)
        if not keys:
            return {}
        r = yield from self._fetch_cmd(b"gets", keys, True, key_prefix=self.key_prefix)
        return r

    # ----------------------------------------------------------- the rest
    def delete(self, key: Key, noreply: bool | None = None) -> Gen:
        """delete: True if the key was deleted, False if it was missing (True with noreply)."""
        if noreply is None:
            noreply = self.default_noreply
        cmd: tuple[Any, ...] = (b"delete", self.check_key(key, self.key_prefix)) + ((b"noreply",) if noreply else ())
        results = yield from self._misc_cmd([cmd], b"delete", noreply)
        if noreply:
            return True
        return results[0] == b"DELETED"

    def delete_many(self, keys: Iterable[Key], noreply: bool | None = None) -> Gen:
        """delete many keys in one write: True."""
        keys = list(keys)
        if not keys:
            return True
        if noreply is None:
            noreply = self.default_noreply
        cmds = [(b"delete", self.check_key(k, self.key_prefix)) + ((b"noreply",) if noreply else ()) for k in keys]
        yield from self._misc_cmd(cmds, b"delete", noreply)
        return True

    delete_multi = delete_many

    def _arith(self, name: bytes, key: Key, value: int, noreply: bool | None) -> Gen:
        k = self.check_key(key, self.key_prefix)
        val = self._check_integer(value, "value")
        cmd: tuple[Any, ...] = (name, k, val) + ((b"noreply",) if noreply else ())
        results = yield from self._misc_cmd([cmd], name, noreply)
        if noreply:
            return None
        if results[0] == b"NOT_FOUND":
            return None
        return int(results[0])

    def incr(self, key: Key, value: int, noreply: bool | None = False) -> Gen:
        """incr: the new value (64-bit unsigned, wrapping), or None when the key is missing."""
        return self._arith(b"incr", key, value, noreply)

    def decr(self, key: Key, value: int, noreply: bool | None = False) -> Gen:
        """decr: the new value (never below 0), or None when the key is missing."""
        return self._arith(b"decr", key, value, noreply)

    def touch(self, key: Key, expire: int = 0, noreply: bool | None = None) -> Gen:
        """touch: True if the expiry was updated, False if the key was missing (True with noreply)."""
        if noreply is None:
            noreply = self.default_noreply
        k = self.check_key(key, self.key_prefix)
        cmd: tuple[Any, ...] = (b"touch", k, self._check_integer(expire, "expire")) + (
            (b"noreply",) if noreply else ())
        results = yield from self._misc_cmd([cmd], b"touch", noreply)
        if noreply:
            return True
        return results[0] == b"TOUCHED"

    def stats(self, *args: Any) -> Gen:
        """stats [args]: a dict of stat name (bytes) -> value (ints, converted as pymemcache does)."""
        result = yield from self._fetch_cmd(b"stats", args, False)
        for key, value in result.items():
            converter = STAT_TYPES.get(key, int)
            try:
                result[key] = converter(value)
            except Exception:
                pass  # kept as bytes, as pymemcache keeps what it cannot convert
        return result

    def flush_all(self, delay: int = 0, noreply: bool | None = None) -> Gen:
        """flush_all [delay]: True."""
        if noreply is None:
            noreply = self.default_noreply
        cmd: tuple[Any, ...] = (b"flush_all", self._check_integer(delay, "delay")) + (
            (b"noreply",) if noreply else ())
        results = yield from self._misc_cmd([cmd], b"flush_all", noreply)
        if noreply:
            return True
        return results[0] == b"OK"

    def version(self) -> Gen:
        """version: the server's version (bytes)."""
        results = yield from self._misc_cmd([(b"version",)], b"version", False)
        before, _, after = results[0].partition(b" ")
        if before != b"VERSION":
            raise MemcacheUnknownError(f"Received unexpected response: {results[0]!r}")
        return after

    def quit(self) -> None:
        """Close the connection (the next call opens a new one)."""
        self.close()


# ----------------------------------------------------------- hash client
class HashClient:
    """Keys sharded over many servers, as ``pymemcache.client.hash.HashClient`` (including how it gives up on
    failing servers).

    A server whose call fails with a connection error or a timeout is marked
    failed; while failed, calls to it return the default for ``retry_timeout``
    seconds, then one is retried (success clears the mark, failure counts an
    attempt).  The call after ``retry_attempts`` failed attempts marks it dead:
    it leaves the hasher (its keys move to other servers) and comes back after
    ``dead_timeout`` seconds.  Other errors (an error reply) do not mark it.
    Without ``ignore_exc`` the errors are raised; with it, the call returns the
    default (``get``: its ``default``; ``set``, ``add``, ``delete``, ...: False;
    ``get_many``: the keys it could read).

    Args:
        world: the simulation world.
        host: the component (or node name) the client runs on.
        servers: the memcached servers (each known by its name to the hasher).
        hasher: ``"rendezvous"`` (pymemcache's default), ``"ketama"``, ``"modulo"``, a hasher class or instance.
        weights: server name -> weight, for a hasher with weights (modulo, ketama as twemproxy weighs them).
        retry_attempts: failed retries before a server is marked dead.
        retry_timeout: seconds between retries of a failed server.
        dead_timeout: seconds before a dead server is put back.
        ignore_exc: return defaults instead of raising.
        connect_timeout, timeout, key_prefix, default_noreply, allow_unicode_keys, encoding, serde: as
            :class:`Client` (for every server).
    """

    client_class = Client

    def __init__(self, world: World, host: Component | str, servers: Iterable[MemcachedServer],
                 hasher: str | type | Hasher = "rendezvous", *, serde: Any = None,
                 connect_timeout: float | None = None, timeout: float | None = None, key_prefix: bytes = b"",
                 retry_attempts: int = 2, retry_timeout: float = 1.0, dead_timeout: float = 60.0,
                 ignore_exc: bool = False, allow_unicode_keys: bool = False, default_noreply: bool = True,
                 encoding: str = "ascii", weights: Mapping[str, int] | None = None) -> None:
        if int(retry_attempts) != retry_attempts:
            raise UsageError(f"retry_attempts must be an integer, got {retry_attempts!r}")
        for field, t in (("retry_timeout", retry_timeout), ("dead_timeout", dead_timeout)):
            if not t >= 0:
                raise UsageError(f"{field} must be >= 0 seconds, got {t!r}")
        self.world = world
        self.env = world.env
        self.host = host
        self.clients: dict[str, Client] = {}
        self.servers: dict[str, MemcachedServer] = {}
        self.retry_attempts = retry_attempts
        self.retry_timeout = retry_timeout
        self.dead_timeout = dead_timeout
        self.key_prefix = key_prefix
        self.ignore_exc = ignore_exc
        self.allow_unicode_keys = allow_unicode_keys
        self._failed_clients: dict[str, dict[str, float]] = {}
        self._dead_clients: dict[str, float] = {}
        self._last_dead_check_time = self.env.now
        self.hasher: Hasher = make_hasher(hasher)
        self.weights: dict[str, int] = dict(weights or {})
        self._client_kwargs: dict[str, Any] = {
            "serde": serde, "connect_timeout": connect_timeout, "timeout": timeout, "key_prefix": key_prefix,
            "default_noreply": default_noreply, "allow_unicode_keys": allow_unicode_keys, "encoding": encoding}
        for s in servers:
            self.add_server(s)

    # ------------------------------------------------------------ servers
    def add_server(self, server: MemcachedServer) -> None:
        """Put ``server`` in rotation, with a fresh client (a new connection)."""
        self.clients[server.name] = self.client_class(self.world, self.host, server, **self._client_kwargs)
        self.servers[server.name] = server
        w = self.weights.get(server.name, 1)
        if w != 1:
            if not isinstance(self.hasher, ModuloHash | KetamaHash):
                raise UsageError(f"server {server.name!r}: weight {w!r} needs a hasher with weights (modulo, ketama)")
            self.hasher.add_node(server.name, w)
        else:
            self.hasher.add_node(server.name)

    def remove_server(self, server: MemcachedServer | str) -> None:
        """Take a server out of rotation as dead (it is tried again after ``dead_timeout``)."""
        name = server if isinstance(server, str) else server.name
        self._failed_clients.pop(name, None)
        self._dead_clients[name] = self.env.now
        try:
            self.hasher.remove_node(name)
        except ValueError:
            pass  # already out: a concurrent request marked it dead first

    def _retry_dead(self) -> None:
        now = self.env.now
        if now - self._last_dead_check_time > self.dead_timeout:
            candidates = [s for s, t in self._dead_clients.items() if now - t > self.dead_timeout]
            for name in candidates:
                self.add_server(self.servers[name])
                del self._dead_clients[name]
            self._last_dead_check_time = now

    def _get_client(self, key: Key) -> Client | None:
        check_key_helper(key, self.allow_unicode_keys, self.key_prefix)
        if self._dead_clients:
            self._retry_dead()
        name = self.hasher.get_node(key)
        if name is None:  # no server left
            if self.ignore_exc:
                return None
            raise MemcacheError("All servers seem to be down right now")
        return self.clients[name]

    def _mark_failed_server(self, name: str) -> None:
        now = self.env.now
        if name not in self._failed_clients and self.retry_attempts > 0:
            self._failed_clients[name] = {"failed_time": now, "attempts": 0}
        elif name not in self._failed_clients and self.retry_attempts <= 0:
            # no retries allowed: dead at once
            self._failed_clients[name] = {"failed_time": now, "attempts": 0}
            self.remove_server(name)
        else:
            meta = self._failed_clients[name]
            meta["attempts"] += 1
            meta["failed_time"] = now

    def _safely_run(self, client: Client, fn: Callable[[], Gen], default: Any) -> Gen:
        name = client.server.name
        try:
            if name in self._failed_clients:
                meta = self._failed_clients[name]
                if meta["attempts"] < self.retry_attempts:
                    if self.env.now - meta["failed_time"] > self.retry_timeout:
                        result = yield from fn()
                        self._failed_clients.pop(name, None)  # it answered: no longer failing
                        return result
                    return default
                self.remove_server(name)
                # as pymemcache, the call that marks a server dead still goes to it
            result = yield from fn()
            return result
        except simpy.Interrupt:
            raise  # the caller was interrupted: not a server failure
        except (ConnectionError, TimeoutError):
            # pymemcache's OSError branch: the server is failing
            self._mark_failed_server(name)
            if not self.ignore_exc:
                raise
            return default
        except Exception:
            if not self.ignore_exc:
                raise
            return default

    def _run_cmd(self, key: Key, default: Any, fn: Callable[[Client], Gen]) -> Gen:
        client = self._get_client(key)
        if client is None:
            return default
        result = yield from self._safely_run(client, lambda: fn(client), default)
        return result

    # ----------------------------------------------------------- commands
    def set(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
            flags: int | None = None) -> Gen:
        """set on the key's server."""
        return self._run_cmd(key, False, lambda c: c.set(key, value, expire, noreply, flags))

    def add(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
            flags: int | None = None) -> Gen:
        """add on the key's server."""
        return self._run_cmd(key, False, lambda c: c.add(key, value, expire, noreply, flags))

    def replace(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
                flags: int | None = None) -> Gen:
        """replace on the key's server."""
        return self._run_cmd(key, False, lambda c: c.replace(key, value, expire, noreply, flags))

    def append(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
               flags: int | None = None) -> Gen:
        """append on the key's server."""
        return self._run_cmd(key, False, lambda c: c.append(key, value, expire, noreply, flags))

    def prepend(self, key: Key, value: Any, expire: int = 0, noreply: bool | None = None,
                flags: int | None = None) -> Gen:
        """prepend on the key's server."""
        return self._run_cmd(key, False, lambda c: c.prepend(key, value, expire, noreply, flags))

    def cas(self, key: Key, value: Any, cas: int | str | bytes, expire: int = 0, noreply: bool = False,
            flags: int | None = None) -> Gen:
        """cas on the key's server."""
        return self._run_cmd(key, False, lambda c: c.cas(key, value, cas, expire, noreply, flags))

    def get(self, key: Key, default: Any = None) -> Gen:
        """get from the key's server (``default`` on a miss, or on a failure with ignore_exc)."""
        return self._run_cmd(key, default, lambda c: c.get(key, default))

    def gets(self, key: Key, default: Any = None, cas_default: Any = None) -> Gen:
        """gets from the key's server."""
        return self._run_cmd(key, None, lambda c: c.gets(key, default, cas_default))

    def incr(self, key: Key, value: int, noreply: bool | None = False) -> Gen:
        """incr on the key's server."""
        return self._run_cmd(key, False, lambda c: c.incr(key, value, noreply))

    def decr(self, key: Key, value: int, noreply: bool | None = False) -> Gen:
        """decr on the key's server."""
        return self._run_cmd(key, False, lambda c: c.decr(key, value, noreply))

    def touch(self, key: Key, expire: int = 0, noreply: bool | None = None) -> Gen:
        """touch on the key's server."""
        return self._run_cmd(key, False, lambda c: c.touch(key, expire, noreply))

    def delete(self, key: Key, noreply: bool | None = None) -> Gen:
        """delete on the key's server."""
        return self._run_cmd(key, False, lambda c: c.delete(key, noreply))

    def delete_many(self, keys: Iterable[Key], noreply: bool | None = None) -> Gen:
        """delete each key on its server: True."""
        for key in keys:
            yield from self.delete(key, noreply)
        return True

    delete_multi = delete_many

    def _set_many(self, client: Client, values: dict[Key, Any], expire: int, noreply: bool | None,
                  flags: int | None) -> Gen:
        failed: list[Key] = []
        try:
            failed = yield from client.set_many(values, expire, noreply, flags)
        except simpy.Interrupt:
            raise
        except Exception as e:
            if not self.ignore_exc:
                return [], failed, e
        succeeded = [k for k in values if k not in failed]
        return succeeded, failed, None

    def _safely_run_set_many(self, client: Client, values: dict[Key, Any], expire: int, noreply: bool | None,
                             flags: int | None) -> Gen:
        name = client.server.name
        succeeded: list[Key] = []
        try:
            if name in self._failed_clients:
                meta = self._failed_clients[name]
                if meta["attempts"] < self.retry_attempts:
                    if self.env.now - meta["failed_time"] > self.retry_timeout:
                        succeeded, failed, err = yield from self._set_many(client, values, expire, noreply, flags)
                        if err is not None:
                            raise err
                        self._failed_clients.pop(name, None)
                        return failed
                    return list(values)
                self.remove_server(name)
            succeeded, failed, err = yield from self._set_many(client, values, expire, noreply, flags)
            if err is not None:
                raise err
            return failed
        except simpy.Interrupt:
            raise
        except (ConnectionError, TimeoutError):
            self._mark_failed_server(name)
            if not self.ignore_exc:
                raise
            return list(set(values) - set(succeeded))
        except Exception:
            if not self.ignore_exc:
                raise
            return list(set(values) - set(succeeded))

    def set_many(self, values: Mapping[Key, Any], expire: int = 0, noreply: bool | None = None,
                 flags: int | None = None) -> Gen:
        """set many keys, one write per server: the keys that failed."""
        batches: dict[str, dict[Key, Any]] = collections.defaultdict(dict)
        failed: list[Key] = []
        for key, value in values.items():
            client = self._get_client(key)
            if client is None:
                failed.append(key)
                continue
            batches[client.server.name][key] = value
        for name, vals in batches.items():
            failed += yield from self._safely_run_set_many(self.clients[name], vals, expire, noreply, flags)
        return failed

    set_multi = set_many

    def get_many(self, keys: Iterable[Key], gets: bool = False) -> Gen:
        """get many keys, one command per server: a dict of the keys found."""
        batches: dict[str, list[Key]] = collections.defaultdict(list)
        end: dict[Key, Any] = {}
        for key in keys:
            client = self._get_client(key)
            if client is None:
                continue
            batches[client.server.name].append(key)
        for name, ks in batches.items():
            client = self.clients[name]
            fn = partial(client.gets_many if gets else client.get_many, ks)
            result = yield from self._safely_run(client, fn, {})
            end.update(result)
        return end

    get_multi = get_many

    def gets_many(self, keys: Iterable[Key]) -> Gen:
        """gets many keys: a dict of ``(value, cas)``."""
        return self.get_many(keys, gets=True)

    gets_multi = gets_many

    def flush_all(self, delay: int = 0, noreply: bool | None = None) -> Gen:
        """flush_all on every server ever added."""
        for client in list(self.clients.values()):
            yield from self._safely_run(client, partial(client.flush_all, delay, noreply), False)

    def close(self) -> None:
        """Close every connection."""
        for client in self.clients.values():
            client.close()

    disconnect_all = close

    def quit(self) -> None:
        """Close every connection."""
        self.close()
