"""A simulated Redis: the server (command table over a typed keyspace) and a redis-py-like client."""

from simcache.sim.redis.client import Pipeline, PubSub, Redis, ReplicaReads, Script, SingleNode
from simcache.sim.redis.cluster import ClusterNode, create_cluster, key_hash_slot
from simcache.sim.redis.cluster_client import ClusterRouter, reshard
from simcache.sim.redis.scripting import SCRIPTS, ScriptError, register_lua
from simcache.sim.redis.sentinel import MasterNotFoundError, Sentinel, SentinelServer, SlaveNotFoundError
from simcache.sim.redis.server import RedisServer

__all__ = ["SCRIPTS", "MasterNotFoundError", "Pipeline", "PubSub", "Redis", "RedisServer", "ReplicaReads", "Script", "ScriptError",
           "Sentinel", "SentinelServer", "SingleNode", "SlaveNotFoundError", "register_lua",
           "ClusterNode", "ClusterRouter", "create_cluster", "key_hash_slot", "reshard"]
