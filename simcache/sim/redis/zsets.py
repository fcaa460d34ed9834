"""Sorted-set commands, as ``t_zset.c`` (Redis 7.0) runs them.

ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZCARD, ZSCORE, ZRANK,
ZREVRANK, ZCOUNT, ZRANGE (by rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES),
ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREMRANGEBYSCORE,
ZREMRANGEBYRANK.  Elements are ordered by (score, member bytes) as the
skiplist orders them; scores are replied with ``%.17g``.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from simcache.sim.redis.core import ELEMENT_OVERHEAD, RedisCore, RObj, redis_command, value_bytes
from simcache.sim.redis.lists import parse_long
from simcache.sim.redis.proto import (
    SYNTAX,
    WRONGTYPE,
    format_double,
    index_range,
    parse_float,
    parse_lex_bound,
    parse_score_bound,
)
from simcache.sim.rpc import ReplyError

NOT_RANGE = "ERR min or max is not a float"
NOT_LEX = "ERR min or max not valid string range item"


class ZSet:
    """Members with scores: a dict for lookups and a sorted list of ``(score, member)`` for ranges."""

    __slots__ = ("scores", "order")

    def __init__(self) -> None:
        self.scores: dict[Any, float] = {}
        self.order: list[tuple[float, Any]] = []

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: Any, score: float) -> None:
        """Insert or move ``member`` to ``score``."""
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            del self.order[bisect.bisect_left(self.order, (old, member))]
        self.scores[member] = score
        bisect.insort(self.order, (score, member))

    def remove(self, member: Any) -> bool:
        """Remove ``member``; whether it was there."""
        old = self.scores.pop(member, None)
        if old is None:
            return False
        del self.order[bisect.bisect_left(self.order, (old, member))]
        return True

    def rank(self, member: Any) -> int | None:
        """0-based rank by ascending score."""
        s = self.scores.get(member)
        return None if s is None else bisect.bisect_left(self.order, (s, member))

    def score_span(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple[int, int]:
        """Indices ``[i, j)`` of the elements with a score in the range (``zslValueGteMin`` / ``LteMax``)."""
        order = self.order
        if lo_ex:
            i = len(order) if lo == math.inf else bisect.bisect_left(order, (math.nextafter(lo, math.inf),))
        else:
            i = bisect.bisect_left(order, (lo,))
        if hi_ex:
            j = bisect.bisect_left(order, (hi,))
        else:
            j = len(order) if hi == math.inf else bisect.bisect_left(order, (math.nextafter(hi, math.inf),))
        return i, max(i, j)


def _elem_bytes(member: Any) -> int:
    return value_bytes(member) + 8 + ELEMENT_OVERHEAD


def _score_range(lo_arg: Any, hi_arg: Any) -> tuple[float, bool, float, bool]:
    lo, hi = parse_score_bound(lo_arg), parse_score_bound(hi_arg)
    if lo is None or hi is None:
        raise ReplyError(NOT_RANGE)
    return lo[0], lo[1], hi[0], hi[1]


def _lex_range(lo_arg: Any, hi_arg: Any) -> tuple[tuple[bytes | None, bool, int], tuple[bytes | None, bool, int]]:
    lo, hi = parse_lex_bound(lo_arg), parse_lex_bound(hi_arg)
    if lo is None or hi is None:
        raise ReplyError(NOT_LEX)
    return lo, hi


def _lexcmp(a: tuple[bytes | None, bool, int], b: tuple[bytes | None, bool, int]) -> int:
    """``sdscmplex``: compare two lex bounds, ``-`` below and ``+`` above every string."""
    if a[2] and a[2] == b[2]:
        return 0
    if a[2] < 0 or b[2] > 0:
        return -1
    if a[2] > 0 or b[2] < 0:
        return 1
    x, y = a[0] or b"", b[0] or b""
    return (x > y) - (x < y)


def _lex_gte_min(m: bytes, lo: tuple[bytes | None, bool, int]) -> bool:
    c = _lexcmp((m, False, 0), lo)
    return c > 0 if lo[1] else c >= 0


def _lex_lte_max(m: bytes, hi: tuple[bytes | None, bool, int]) -> bool:
    c = _lexcmp((m, False, 0), hi)
    return c < 0 if hi[1] else c <= 0


class ZSetCommands(RedisCore):
    """The sorted-set command group."""

    def zset_reply(self, items: list[tuple[float, Any]], withscores: bool) -> list[Any]:
        """Members, or members and scores interleaved."""
        if not withscores:
            return [m for _, m in items]
        out: list[Any] = []
        for s, m in items:
            out += [m, format_double(s)]
        return out

    def zadd_generic(self, key: Any, args: tuple[Any, ...], incr: bool = False) -> Any:
        """``zaddGenericCommand``."""
        flags: set[bytes] = set()
        i = 0
        while i < len(args):
            o = args[i].upper() if isinstance(args[i], bytes) else b""
            if o in (b"NX", b"XX", b"CH", b"INCR", b"GT", b"LT"):
                flags.add(o)
                i += 1
            else:
                break
        incr = incr or b"INCR" in flags
        nx, xx, gt, lt = (b"NX" in flags), (b"XX" in flags), (b"GT" in flags), (b"LT" in flags)
        rest = args[i:]
        if len(rest) % 2 or not rest:
            raise ReplyError(SYNTAX)
        if nx and xx:
            raise ReplyError("ERR XX and NX options at the same time are not compatible")
        if (gt and nx) or (lt and nx) or (gt and lt):
            raise ReplyError("ERR GT, LT, and/or NX options at the same time are not compatible")
        if incr and len(rest) > 2:
            raise ReplyError("ERR INCR option supports a single increment-element pair")
        scores = [parse_float(rest[j]) for j in range(0, len(rest), 2)]
        obj = self.lookup_write(key, "zset")
        added = updated = processed = 0
        score = 0.0
        if obj is None:
            if xx:
                return None if incr else 0
            obj = RObj("zset", ZSet(), 0)
            self.db_add(key, obj)
        z: ZSet = obj.value
        for score, member in zip(scores, rest[1::2], strict=True):
            cur = z.scores.get(member)
            if cur is not None:
                if nx:
                    continue
                if incr:
                    score += cur
                    if math.isnan(score):
                        if added or updated:
                            self.modified(key)
                        raise ReplyError("ERR resulting score is not a number (NaN)")
                if (lt and score >= cur) or (gt and score <= cur):
                    continue
                processed += 1
                if score != cur:
                    z.add(member, score)
                    updated += 1
            elif not xx:
                z.add(member, score)
                obj.size += _elem_bytes(member)
                added += 1
                processed += 1
        self.modified(key)
        if incr:
            return format_double(score) if processed else None
        return added + updated if b"CH" in flags else added

    @redis_command("ZADD", -4, "write denyoom fast")
    def _zadd(self, key: Any, *args: Any) -> Any:
        return self.zadd_generic(key, args)

    @redis_command("ZINCRBY", 4, "write denyoom fast")
    def _zincrby(self, key: Any, incr: Any, member: Any) -> Any:
        return self.zadd_generic(key, (incr, member), incr=True)

    @redis_command("ZREM", -3, "write fast")
    def _zrem(self, key: Any, *members: Any) -> int:
        obj = self.lookup_write(key, "zset")
        if obj is None:
            return 0
        z: ZSet = obj.value
        deleted = 0
        for m in members:
            if z.remove(m):
                obj.size -= _elem_bytes(m)
                deleted += 1
            if not z:
                self.remove(key)
                break
        if deleted and z:
            self.modified(key)
        return deleted

    @redis_command("ZCARD", 2, "readonly fast")
    def _zcard(self, key: Any) -> int:
        obj = self.lookup_read(key, "zset")
        return 0 if obj is None else len(obj.value)

    @redis_command("ZSCORE", 3, "readonly fast")
    def _zscore(self, key: Any, member: Any) -> Any:
        obj = self.lookup_read(key, "zset")
        if obj is None:
            return None
        s = obj.value.scores.get(member)
        return None if s is None else format_double(s)

    @redis_command("ZMSCORE", -3, "readonly fast")
    def _zmscore(self, key: Any, *members: Any) -> list[Any]:
        obj = self.lookup_read(key, "zset")
        scores = {} if obj is None else obj.value.scores
        return [None if (s := scores.get(m)) is None else format_double(s) for m in members]

    def zrank_generic(self, key: Any, member: Any, reverse: bool) -> Any:
        """``zrankGenericCommand``."""
        obj = self.lookup_read(key, "zset")
        if obj is None:
            return None
        r = obj.value.rank(member)
        if r is None:
            return None
        return len(obj.value) - 1 - r if reverse else r

    @redis_command("ZRANK", 3, "readonly fast")
    def _zrank(self, key: Any, member: Any) -> Any:
        return self.zrank_generic(key, member, False)

    @redis_command("ZREVRANK", 3, "readonly fast")
    def _zrevrank(self, key: Any, member: Any) -> Any:
        return self.zrank_generic(key, member, True)

    @redis_command("ZCOUNT", 4, "readonly fast")
    def _zcount(self, key: Any, lo_arg: Any, hi_arg: Any) -> int:
        lo, lo_ex, hi, hi_ex = _score_range(lo_arg, hi_arg)
        obj = self.lookup_read(key, "zset")
        if obj is None:
            return 0
        i, j = obj.value.score_span(lo, lo_ex, hi, hi_ex)
        return j - i

    def zrange_generic(self, args: tuple[Any, ...], rangetype: str = "auto", direction: str = "auto") -> list[Any]:
        """``zrangeGenericCommand``: KEY MIN MAX [BYSCORE|BYLEX] [REV] [WITHSCORES] [LIMIT offset count]."""
        key, min_arg, max_arg = args[0], args[1], args[2]
        withscores = False
        offset, limit = 0, -1
        j = 3
        while j < len(args):
            o = args[j].upper() if isinstance(args[j], bytes) else b""
            left = len(args) - j - 1
            if o == b"WITHSCORES":
                withscores = True
            elif o == b"LIMIT" and left >= 2:
                offset, limit = parse_long(args[j + 1]), parse_long(args[j + 2])
                j += 2
            elif direction == "auto" and o == b"REV":
                direction = "reverse"
            elif rangetype == "auto" and o == b"BYLEX":
                rangetype = "lex"
            elif rangetype == "auto" and o == b"BYSCORE":
                rangetype = "score"
            else:
                raise ReplyError(SYNTAX)
            j += 1
        if direction == "auto":
            direction = "forward"
        if rangetype == "auto":
            rangetype = "rank"
        if limit != -1 and rangetype == "rank":
            raise ReplyError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        if withscores and rangetype == "lex":
            raise ReplyError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        reverse = direction == "reverse"
        if reverse and rangetype in ("score", "lex"):
            min_arg, max_arg = max_arg, min_arg  # the range is given as max, min
        start = end = 0
        lo, lo_ex, hi, hi_ex = 0.0, False, 0.0, False
        lex_lo: tuple[bytes | None, bool, int] = (None, False, 0)
        lex_hi: tuple[bytes | None, bool, int] = (None, False, 0)
        if rangetype == "rank":
            start, end = parse_long(min_arg), parse_long(max_arg)
        elif rangetype == "score":
            lo, lo_ex, hi, hi_ex = _score_range(min_arg, max_arg)
        else:
            lex_lo, lex_hi = _lex_range(min_arg, max_arg)
        obj = self.lookup_read(key)
        if obj is None:
            return []
        if obj.type != "zset":
            raise ReplyError(WRONGTYPE)
        z: ZSet = obj.value
        order = z.order
        if rangetype == "rank":
            n = len(order)
            ranks = index_range(start, end, n)
            if ranks is None:
                return []
            first, stop = ranks
            items = order[n - stop:n - first][::-1] if reverse else order[first:stop]
            return self.zset_reply(items, withscores)
        if rangetype == "score":
            i, k = z.score_span(lo, lo_ex, hi, hi_ex)
            span = order[i:k][::-1] if reverse else order[i:k]
        else:
            span = self._lex_span(order, lex_lo, lex_hi, reverse)
        if offset < 0 or (offset > 0 and offset >= len(z)):
            return []
        span = span[offset:] if limit < 0 else span[offset:offset + limit]
        return self.zset_reply(span, withscores and rangetype == "score")

    @staticmethod
    def _lex_span(order: list[tuple[float, Any]], lo: tuple[bytes | None, bool, int],
                  hi: tuple[bytes | None, bool, int], reverse: bool) -> list[tuple[float, Any]]:
        """Members in the lex range, walked as the listpack walk does (meaningful when all scores are equal)."""
        out: list[tuple[float, Any]] = []
        cmp = _lexcmp(lo, hi)
        if cmp > 0 or (cmp == 0 and (lo[1] or hi[1])):
            return out  # a range that is always empty
        if not order or not _lex_gte_min(order[-1][1], lo) or not _lex_lte_max(order[0][1], hi):
            return out  # zzlIsInLexRange: the last element below min, or the first above max
        if not reverse:
            started = False
            for item in order:
                if not started:
                    if not _lex_gte_min(item[1], lo):
                        continue
                    started = True
                if not _lex_lte_max(item[1], hi):
                    break
                out.append(item)
        else:
            started = False
            for item in reversed(order):
                if not started:
                    if not _lex_lte_max(item[1], hi):
                        continue
                    started = True
                if not _lex_gte_min(item[1], lo):
                    break
                out.append(item)
        return out

    @redis_command("ZRANGE", -4, "readonly")
    def _zrange(self, *args: Any) -> list[Any]:
        return self.zrange_generic(args)

    @redis_command("ZREVRANGE", -4, "readonly")
    def _zrevrange(self, *args: Any) -> list[Any]:
        return self.zrange_generic(args, "rank", "reverse")

    @redis_command("ZRANGEBYSCORE", -4, "readonly")
    def _zrangebyscore(self, *args: Any) -> list[Any]:
        return self.zrange_generic(args, "score", "forward")

    @redis_command("ZREVRANGEBYSCORE", -4, "readonly")
    def _zrevrangebyscore(self, *args: Any) -> list[Any]:
        return self.zrange_generic(args, "score", "reverse")

    def zremrange(self, key: Any, span: tuple[int, int], obj: RObj) -> int:
        """Delete the elements at indices ``[i, j)``."""
        z: ZSet = obj.value
        i, j = span
        gone = z.order[i:j]
        del z.order[i:j]
        for _, m in gone:
            del z.scores[m]
            obj.size -= _elem_bytes(m)
        if not z:
            self.remove(key)
        elif gone:
            self.modified(key)
        return len(gone)

    @redis_command("ZREMRANGEBYSCORE", 4, "write")
    def _zremrangebyscore(self, key: Any, lo_arg: Any, hi_arg: Any) -> int:
        lo, lo_ex, hi, hi_ex = _score_range(lo_arg, hi_arg)
        obj = self.lookup_write(key, "zset")
        if obj is None:
            return 0
        return self.zremrange(key, obj.value.score_span(lo, lo_ex, hi, hi_ex), obj)

    @redis_command("ZREMRANGEBYRANK", 4, "write")
    def _zremrangebyrank(self, key: Any, start_arg: Any, end_arg: Any) -> int:
        start, end = parse_long(start_arg), parse_long(end_arg)
        obj = self.lookup_write(key, "zset")
        if obj is None:
            return 0
        span = index_range(start, end, len(obj.value))
        return 0 if span is None else self.zremrange(key, span, obj)
