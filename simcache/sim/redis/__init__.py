"""A simulated Redis: the server (command table over a typed keyspace) and a redis-py-like client."""

from simcache.sim.redis.client import Pipeline, PubSub, Redis, Script, SingleNode
from simcache.sim.redis.scripting import SCRIPTS, ScriptError, register_lua
from simcache.sim.redis.server import RedisServer

__all__ = ["SCRIPTS", "Pipeline", "PubSub", "Redis", "RedisServer", "Script", "ScriptError", "SingleNode",
           "register_lua"]
