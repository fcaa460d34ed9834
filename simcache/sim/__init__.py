"""SimPy system models: the world, the network, servers (Redis, Memcached, a database), clients, app servers running
caching strategies, faults, and the measurements they produce (see docs/simulation.md)."""
