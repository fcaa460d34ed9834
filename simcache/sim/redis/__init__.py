"""A simulated Redis: the server (command table over a typed keyspace) and a redis-py-like client."""

from simcache.sim.redis.client import Pipeline, Redis, Script, SingleNode
from simcache.sim.redis.server import RedisServer

__all__ = ["Pipeline", "Redis", "RedisServer", "Script", "SingleNode"]
