"""MULTI/EXEC and scripts worked by hand: queueing, EXECABORT, atomicity, EVAL/EVALSHA and the script cache."""

from __future__ import annotations

from typing import Any

from simcache.sim.redis import Redis, RedisServer, ScriptError, register_lua
from simcache.sim.redis.client import ExecAbortError, NoScriptError, OutOfMemoryError
from simcache.sim.rpc import Call, ResponseError
from simcache.sim.world import World
from tests.sim.redis.helpers import run, wait_until, world

RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
else
    return 0
end"""


@register_lua(RELEASE)
def release(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    if redis.call("get", keys[0]) == args[0]:
        return redis.call("del", keys[0])
    return 0


def batch(srv: RedisServer, *cmds: tuple[Any, ...], conn: Any = "conn") -> Any:
    """Execute commands as one pipelined message from connection ``conn``: the list of raw replies."""
    ev = srv.env.event()
    return srv.execute(Call([tuple(c) for c in cmds], "app", ev, batch=True, conn=conn))


def test_multi_queues_and_exec_returns_the_replies() -> None:
    w, srv, _ = world()
    replies = batch(srv, ("MULTI",), ("SET", "k", "1"), ("INCR", "k"), ("LPUSH", "k", "x"), ("GET", "k"), ("EXEC",))
    assert replies[:5] == ["OK", "QUEUED", "QUEUED", "QUEUED", "QUEUED"]
    exec_reply = replies[5]
    assert exec_reply[:2] == ["OK", 2]
    assert str(exec_reply[2]) == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert exec_reply[3] == b"2"  # a runtime error does not stop the transaction


def test_an_arity_or_unknown_command_error_aborts_exec_but_a_syntax_error_does_not() -> None:
    w, srv, _ = world()
    replies = batch(srv, ("MULTI",), ("SET", "k", "1"), ("SET", "k"), ("INCR", "k"), ("EXEC",))
    assert str(replies[2]) == "ERR wrong number of arguments for 'set' command"
    assert str(replies[4]) == "EXECABORT Transaction discarded because of previous errors."
    assert srv.data == {}
    replies = batch(srv, ("MULTI",), ("NOSUCH",), ("EXEC",))
    assert str(replies[2]).startswith("EXECABORT")
    # an option error is found when the command runs: it is one of EXEC's replies
    replies = batch(srv, ("MULTI",), ("SET", "k", "v", "BADOPT"), ("SET", "j", "1"), ("EXEC",))
    assert replies[1] == "QUEUED"
    assert [str(x) for x in replies[3]] == ["ERR syntax error", "OK"]


def test_multi_errors_and_discard() -> None:
    w, srv, _ = world()
    r = batch(srv, ("EXEC",), ("DISCARD",), ("MULTI",), ("MULTI",), ("SET", "k", "v"), ("DISCARD",), ("GET", "k"))
    assert [str(x) for x in r] == ["ERR EXEC without MULTI", "ERR DISCARD without MULTI", "OK",
                                   "ERR MULTI calls can not be nested", "QUEUED", "OK", "None"]


def test_transactions_are_per_connection() -> None:
    w, srv, _ = world()
    assert batch(srv, ("MULTI",), ("SET", "k", "a"), conn="A") == ["OK", "QUEUED"]
    assert batch(srv, ("SET", "k", "b"), ("GET", "k"), conn="B") == ["OK", b"b"]
    assert batch(srv, ("EXEC",), conn="A") == [["OK"]]
    assert batch(srv, ("GET", "k"), conn="B") == [b"a"]


def test_a_transaction_runs_without_interleaving() -> None:
    w = World(0)
    for n in ("a", "b"):
        w.network.add_link(n, "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.001")
    ra, rb = Redis(w, "a", srv), Redis(w, "b", srv)

    def tx() -> Any:
        p = ra.pipeline()
        p.set("n", 0).incr("n").incr("n").get("n")
        return (yield from p.execute())

    def other() -> Any:
        yield from wait_until(w, 0.0005)  # arrives while the transaction is in service
        return (yield from rb.get("n"))

    t, o = w.process(tx()), w.process(other())
    w.env.run(until=1.0)
    assert t.value == [True, 1, 2, b"2"]
    assert o.value == b"2"  # it saw all of the transaction or none of it: here all


def test_client_pipeline_errors_read_as_redis_py_reports_them() -> None:
    w, srv, r = world()

    def body() -> Any:
        out = []
        p = r.pipeline()
        p.set("a", 1).lpush("a", "x").incr("a")
        try:
            yield from p.execute()
        except ResponseError as e:
            out.append(str(e))
        p.set("a", 1).execute_command("SET", "a").incr("a")
        try:
            yield from p.execute()
        except ResponseError as e:
            out.append((type(e).__name__, str(e)))
        p = r.pipeline(transaction=False)
        p.set("a", 1).lpush("a", "x").incr("a")
        res = yield from p.execute(raise_on_error=False)
        out.append([type(x).__name__ if isinstance(x, Exception) else x for x in res])
        return out

    out = run(w, body)
    assert out[0] == ("Command # 2 (LPUSH a x) of pipeline caused error: WRONGTYPE Operation against a key "
                      "holding the wrong kind of value")
    assert out[1] == ("ResponseError", "Command # 2 (SET a) of pipeline caused error: wrong number of arguments "
                                       "for 'set' command")
    assert out[2] == [True, "ResponseError", 2]


# ------------------------------------------------------------------- scripts
def test_eval_runs_the_registered_python_equivalent_of_a_lua_script() -> None:
    w, srv, r = world()

    def body() -> Any:
        yield from r.set("lock", "me")
        wrong = yield from r.eval(RELEASE, 1, "lock", "you")
        right = yield from r.eval(RELEASE, 1, "lock", "me")
        return wrong, right, (yield from r.exists("lock"))

    assert run(w, body) == (0, 1, 0)
    assert srv.scripts  # EVAL loaded it into this server's cache


def test_register_script_with_evalsha_reloads_after_a_restart() -> None:
    w, srv, r = world()
    script = r.register_script(RELEASE)
    import hashlib

    assert script.sha == hashlib.sha1(RELEASE.encode()).hexdigest()  # the SHA a real server computes

    def body() -> Any:
        yield from r.set("lock", "me")
        first = yield from script(keys=["lock"], args=["me"])
        srv.crash(warm=True)
        srv.restart()  # the dataset survives a warm restart, the script cache does not
        yield from r.set("lock", "me")
        try:
            yield from r.evalsha(script.sha, 1, "lock", "me")
        except NoScriptError as e:
            missing = str(e)
        second = yield from script(keys=["lock"], args=["me"])  # NOSCRIPT, SCRIPT LOAD, EVALSHA
        return first, missing, second

    assert run(w, body) == (1, "No matching script. Please use EVAL.", 1)


def test_a_python_function_is_a_script_too() -> None:
    w, srv, r = world()

    def bump(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        n = redis.call("incrby", keys[0], args[0])
        redis.call("expire", keys[0], 60)
        return [n, redis.call("ttl", keys[0]), 2.9, True, False, redis.status_reply("FINE")]

    s = r.register_script(bump)

    def body() -> Any:
        return (yield from s(keys=["n"], args=[5]))

    assert run(w, body) == [5, 60, 2, 1, None, b"FINE"]


def test_script_errors_carry_the_lua_error_suffix_and_pcall_returns_them() -> None:
    w, srv, r = world()
    src = "redis.call('set', KEYS[1], 'x')\nreturn redis.call('lpush', KEYS[1], 'y')"

    @register_lua(src)
    def fails(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        redis.call("set", keys[0], "x")
        return redis.call("lpush", keys[0], "y")

    src2 = "return redis.pcall('lpush', KEYS[1], 'y')"

    @register_lua(src2)
    def caught(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        return redis.pcall("lpush", keys[0], "y")

    def body() -> Any:
        out = []
        for s in (src, src2):
            try:
                yield from r.eval(s, 1, "k")
            except ResponseError as e:
                out.append(str(e))
        return out

    import hashlib

    sha = hashlib.sha1(src.encode()).hexdigest()
    assert run(w, body) == [
        f"WRONGTYPE Operation against a key holding the wrong kind of value script: {sha}, on @user_script:2.",
        "WRONGTYPE Operation against a key holding the wrong kind of value"]
    assert srv.data[b"k"].value == b"x"  # a script is not rolled back


def test_scripts_may_not_call_blocking_or_unknown_commands() -> None:
    w, srv, r = world()

    def bad(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        out = []
        for cmd in (("brpop", "q", 0), ("nosuch",), ("get",), ("multi",)):
            r = redis.pcall(*cmd)
            out.append(str(r))
        try:
            redis.call("subscribe", "ch")
        except ScriptError as e:
            out.append(str(e))
        return out

    def body() -> Any:
        return (yield from r.eval(bad, 0))

    assert run(w, body) == [b"ERR This Redis command is not allowed from script",
                            b"ERR Unknown Redis command called from script",
                            b"ERR Wrong number of args calling Redis command from script",
                            b"ERR This Redis command is not allowed from script",
                            b"ERR This Redis command is not allowed from script"]


def test_unknown_script_source_and_bad_numkeys() -> None:
    w, srv, r = world()

    def body() -> Any:
        out = []
        for args in (("return 42", 0), (RELEASE, 2, "k"), (RELEASE, -1)):
            try:
                yield from r.eval(*args)
            except ResponseError as e:
                out.append(str(e))
        return out

    out = run(w, body)
    assert out[0].startswith("Error compiling script (new function)")
    assert out[1:] == ["Number of keys can't be greater than number of args", "Number of keys can't be negative"]


def test_a_script_is_one_atomic_command_and_blocked_clients_are_served_after_it() -> None:
    w = World(0)
    for n in ("a", "b"):
        w.network.add_link(n, "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.0001")
    ra, rb = Redis(w, "a", srv), Redis(w, "b", srv)

    def push_and_count(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        redis.call("rpush", keys[0], "x")
        return redis.call("llen", keys[0])

    def waiter() -> Any:
        return (yield from rb.brpop("q"))

    def body() -> Any:
        yield from wait_until(w, 0.5)
        return (yield from ra.eval(push_and_count, 1, "q"))

    wt, b = w.process(waiter()), w.process(body())
    w.env.run(until=1.0)
    assert b.value == 1  # the element was still there inside the script
    assert wt.value == (b"q", b"x")


def test_a_script_over_maxmemory_fails_its_first_write() -> None:
    w, srv, r = world(maxmemory=1000, maxmemory_policy="noeviction")

    def fill(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        redis.call("get", keys[0])
        return redis.call("set", keys[0], "v")

    def body() -> Any:
        yield from r.set("big", "x" * 2000)  # over the limit once it is stored
        try:
            yield from r.eval(fill, 1, "k")
        except OutOfMemoryError as e:
            return str(e)

    msg = run(w, body)
    assert msg.startswith("command not allowed when used memory > 'maxmemory'. script: ")


def test_over_maxmemory_queueing_is_refused_and_exec_aborts() -> None:
    w, srv, r = world(maxmemory=1000, maxmemory_policy="noeviction")

    def body() -> Any:
        yield from r.set("big", "x" * 2000)
        p = r.pipeline()
        p.get("big").set("k", "v")
        try:
            yield from p.execute()
        except OutOfMemoryError as e:
            # every command queued was refused (queueing may take unbounded memory), so EXEC aborts and
            # redis-py raises the first refusal
            return str(e)

    assert run(w, body) == ("Command # 1 (GET big) of pipeline caused error: "
                            "command not allowed when used memory > 'maxmemory'.")


def test_exec_of_a_denyoom_transaction_that_goes_over_maxmemory_meanwhile_aborts() -> None:
    w, srv, _ = world(maxmemory=1000, maxmemory_policy="noeviction")
    assert batch(srv, ("MULTI",), ("SET", "k", "v"), conn="A") == ["OK", "QUEUED"]
    batch(srv, ("SET", "big", "x" * 2000), conn="B")
    (reply,) = batch(srv, ("EXEC",), conn="A")
    assert str(reply) == ("EXECABORT Transaction discarded because of: OOM command not allowed when used memory > "
                          "'maxmemory'.")
    assert isinstance(reply, ResponseError) and b"k" not in srv.data
    assert ExecAbortError.__mro__[1] is ResponseError


def _blocking_pipelines(queueing: str) -> list[Any]:
    w = World(3)
    for n in ("a", "b"):
        w.network.add_link(n, "redis", "exp:0.001")
    srv = RedisServer(w, "redis", service="exp:0.0002", queueing=queueing)  # type: ignore[arg-type]
    ra, rb = Redis(w, "a", srv), Redis(w, "b", srv)
    log: list[Any] = []

    def a() -> Any:
        for i in range(5):
            p = ra.pipeline(transaction=False)
            p.brpop("q", timeout=0).incr("n")
            log.append(("a", i, (yield from p.execute()), round(w.env.now, 9)))

    def b() -> Any:
        for i in range(5):
            yield w.env.timeout(0.01)
            log.append(("b", i, (yield from rb.rpush("q", i)), round(w.env.now, 9)))

    w.process(a())
    w.process(b())
    w.env.run(until=1.0)
    return log


def test_the_two_queueing_engines_agree_on_blocking_pipelines() -> None:
    fast = _blocking_pipelines("fast")
    assert len(fast) == 10
    assert [x[2] for x in fast if x[0] == "a"] == [[(b"q", str(i).encode()), i + 1] for i in range(5)]
    assert fast == _blocking_pipelines("events")
