"""A simulated Memcached: the server (slab classes, per-class LRU, expiry, CAS) and pymemcache-like clients."""

from simcache.sim.memcached.client import (
    Client,
    HashClient,
    MemcacheClientError,
    MemcacheError,
    MemcacheIllegalInputError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)
from simcache.sim.memcached.hashing import Hasher, KetamaHash, ModuloHash, RendezvousHash, make_hasher
from simcache.sim.memcached.proxy import TwemproxyServer
from simcache.sim.memcached.server import MemcachedServer

__all__ = [
    "Client",
    "HashClient",
    "Hasher",
    "KetamaHash",
    "MemcacheClientError",
    "MemcacheError",
    "MemcacheIllegalInputError",
    "MemcacheServerError",
    "MemcacheUnexpectedCloseError",
    "MemcacheUnknownCommandError",
    "MemcacheUnknownError",
    "MemcachedServer",
    "ModuloHash",
    "RendezvousHash",
    "TwemproxyServer",
    "make_hasher",
]
