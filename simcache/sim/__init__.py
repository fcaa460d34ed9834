"""SimPy system models: the world, the network, servers (Redis, Memcached, a database), clients, app servers running
caching strategies, faults, and the measurements they produce (see docs/simulation.md).

Where to start:

* :mod:`simcache.sim.world` -- the ``World``: the SimPy environment, seeded random streams, the recorder.
* :mod:`simcache.sim.runner` -- ``simulate_system``: run a built system with a fault schedule.
* :mod:`simcache.sim.report` -- ``SimResult`` (summary, time series, ``summary_frame()``,
  ``timeseries_frame()``) and ``run_model_full(name, params, seed, faults)``.
* :mod:`simcache.sim.metrics` -- the ``Recorder``: latency histograms, windowed counters, markers.
* :mod:`simcache.sim.faults` -- crash, pause, partition, latency and loss faults (``parse_fault``).
* :mod:`simcache.sim.redis`, :mod:`simcache.sim.memcached`, :mod:`simcache.sim.database` -- the servers.
* :mod:`simcache.sim.strategies`, :mod:`simcache.sim.seed` -- caching strategies, the seed's code line for line.

Figures of a run: :mod:`simcache.plots` (``timeline``, ``latency_over_time``, ``latency_cdf_figure``).
"""
