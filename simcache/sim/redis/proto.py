"""Redis's argument parsers and reply formatters, ported so that edge cases answer as a real server does.

Each function names the Redis 7.0 routine it follows: integers are parsed
as ``string2ll`` does (``util.c``: no sign but ``-``, no leading zeros, no
spaces, at most 20 characters), floats as ``string2d`` (the whole argument
must be a ``strtod`` number, no leading space, no overflow or underflow to
zero), score ranges as ``zslParseRange`` (``t_zset.c``: a bare ``strtod``
prefix, so leading spaces and even an empty string pass), glob patterns as
``stringmatchlen``, memory values as ``memtoull``, and doubles are replied
with ``%.17g`` (``networking.c`` ``addReplyDouble`` in 7.0).
"""

from __future__ import annotations

import math
import re
from typing import Any

from simcache.sim.rpc import ReplyError

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INT = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."

LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1
#: ``LONG_STR_SIZE`` in util.h: a longer string is never an integer
_LONG_STR_SIZE = 21
_INT_RE = re.compile(rb"-?[1-9][0-9]*\Z")

# strtod's grammar (glibc): optional space, sign, then inf[inity], nan[(...)], a hex float or a decimal
_SPACE = b" \t\n\v\f\r"
_STRTOD_RE = re.compile(
    rb"[+-]?(?:(?P<inf>(?i:inf(?:inity)?))|(?P<nan>(?i:nan)(?:\([0-9A-Za-z_]*\))?)"
    rb"|(?P<hex>0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    rb"|(?P<dec>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))"
)


def as_bytes(x: Any) -> bytes:
    """An argument as the bytes Redis sees (str as UTF-8, numbers as their decimal text)."""
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode()
    if isinstance(x, bytearray | memoryview):
        return bytes(x)
    if isinstance(x, bool):
        return b"1" if x else b"0"
    if isinstance(x, int):
        return str(x).encode()
    if isinstance(x, float):
        return repr(x).encode()
    # a simulation Value or any other opaque object: Redis would only see its bytes, which have no text
    return repr(x).encode()


def string2ll(b: Any) -> int | None:
    """``string2ll``: the integer the whole argument spells, or None."""
    if isinstance(b, int) and not isinstance(b, bool):
        return b if LLONG_MIN <= b <= LLONG_MAX else None
    if not isinstance(b, bytes | bytearray | str):
        return None
    s = b.encode() if isinstance(b, str) else bytes(b)
    if not s or len(s) >= _LONG_STR_SIZE:
        return None
    if s == b"0":
        return 0
    if not _INT_RE.match(s):
        return None
    n = int(s)
    return n if LLONG_MIN <= n <= LLONG_MAX else None


def parse_int(b: Any, msg: str = NOT_INT) -> int:
    """``getLongLongFromObjectOrReply``: the integer, or the error reply ``msg``."""
    n = string2ll(b)
    if n is None:
        raise ReplyError(msg)
    return n


def parse_range_long(b: Any, lo: int, hi: int, msg: str | None = None) -> int:
    """``getRangeLongFromObjectOrReply``: an integer in ``[lo, hi]``."""
    n = parse_int(b, msg or NOT_INT)
    if not lo <= n <= hi:
        raise ReplyError(msg or f"ERR value is out of range, value must between {lo} and {hi}")
    return n


def parse_positive_long(b: Any) -> int:
    """``getPositiveLongFromObjectOrReply``."""
    return parse_range_long(b, 0, LLONG_MAX, "ERR value is out of range, must be positive")


def strtod_prefix(s: bytes) -> tuple[float, int]:
    """C's ``strtod``: the value of the longest number at the start of ``s`` and how many bytes it used (0: none)."""
    v, used, _ = _strtod(s)
    return v, used


def _strtod(s: bytes) -> tuple[float, int, bool]:
    """``strtod`` plus whether it would set ``errno = ERANGE`` with a result of HUGE_VAL or zero."""
    i = 0
    while i < len(s) and s[i] in _SPACE:
        i += 1
    m = _STRTOD_RE.match(s, i)
    if m is None:
        return 0.0, 0, False
    neg = m.group(0).startswith(b"-")
    erange = False
    if m.group("inf"):
        v = math.inf
    elif m.group("nan"):
        v = math.nan
    elif m.group("hex"):
        text = m.group("hex")
        mant = re.split(rb"[pP]", text)[0][2:]
        try:
            v = float.fromhex(text.decode())
        except OverflowError:
            v, erange = math.inf, True
        erange = erange or (v == 0.0 and re.search(rb"[1-9a-fA-F]", mant) is not None)
    else:
        text = m.group("dec")
        v = float(text)
        mant = re.split(rb"[eE]", text)[0]
        erange = math.isinf(v) or (v == 0.0 and re.search(rb"[1-9]", mant) is not None)
    return (-v if neg else v), m.end(), erange


def _c_string(s: bytes) -> bytes:
    """What C code that reads ``argv[i]->ptr`` as a NUL-terminated string sees."""
    z = s.find(b"\0")
    return s if z < 0 else s[:z]


def string2d(b: Any) -> float | None:
    """``string2d``: the double the whole argument spells (no leading space, no overflow), or None."""
    if isinstance(b, int | float) and not isinstance(b, bool):
        return float(b)
    if not isinstance(b, bytes | bytearray | str):
        return None
    s = b.encode() if isinstance(b, str) else bytes(b)
    if not s or s[0] in _SPACE:
        return None
    v, used, erange = _strtod(s)
    if used != len(s) or erange or math.isnan(v):
        return None
    return v


def parse_float(b: Any, msg: str = NOT_FLOAT) -> float:
    """``getDoubleFromObjectOrReply``."""
    v = string2d(b)
    if v is None:
        raise ReplyError(msg)
    return v


def parse_score_bound(b: Any) -> tuple[float, bool] | None:
    """One bound of ``zslParseRange``: (value, exclusive), or None when it is not a float.

    As in Redis this is a bare ``strtod`` that must reach the end of the C string, so ``" 1"``
    and ``""`` (which is 0) are accepted.
    """
    s = _c_string(as_bytes(b))
    excl = s[:1] == b"("
    if excl:
        s = s[1:]
    v, used = strtod_prefix(s)
    if used != len(s) or math.isnan(v):
        return None
    return v, excl


def parse_lex_bound(b: Any) -> tuple[bytes | None, bool, int] | None:
    """One bound of ``zslParseLexRangeItem``: (value, exclusive, infinity -1/0/+1), or None when malformed."""
    s = as_bytes(b)
    if s == b"+":
        return None, False, 1
    if s == b"-":
        return None, False, -1
    if s[:1] == b"(":
        return s[1:], True, 0
    if s[:1] == b"[":
        return s[1:], False, 0
    return None


def format_double(d: float) -> bytes:
    """``addReplyDouble`` on a RESP2 connection (Redis 7.0: ``%.17g``; infinities as ``inf``/``-inf``)."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    return (b"%.17g" % d)


def stringmatch(pattern: bytes, s: bytes, nocase: bool = False) -> bool:
    """``stringmatchlen``: Redis's glob (``*``, ``?``, ``[...]`` with ``^`` and ranges, ``\\`` escapes)."""
    skip = [False]
    return _match(pattern, 0, s, 0, nocase, skip)


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def _match(p: bytes, pi: int, s: bytes, si: int, nocase: bool, skip: list[bool]) -> bool:
    plen, slen = len(p), len(s)

    def pat(i: int) -> int:  # C reads the NUL terminator past the end
        return p[i] if i < plen else 0

    while pi < plen and si < slen:
        c = p[pi]
        if c == 42:  # '*'
            while pi + 1 < plen and p[pi + 1] == 42:
                pi += 1
            if pi + 1 == plen:
                return True
            while si < slen:
                if _match(p, pi + 1, s, si, nocase, skip):
                    return True
                if skip[0]:
                    return False
                si += 1
            skip[0] = True
            return False
        if c == 63:  # '?'
            si += 1
        elif c == 91:  # '['
            pi += 1
            negate = pat(pi) == 94
            if negate:
                pi += 1
            matched = False
            sc = s[si]
            while True:
                if pat(pi) == 92 and plen - pi >= 2:
                    pi += 1
                    if pat(pi) == sc:
                        matched = True
                elif pat(pi) == 93:
                    break
                elif pi >= plen:
                    pi -= 1
                    break
                elif plen - pi >= 3 and pat(pi + 1) == 45:
                    start, end, cc = pat(pi), pat(pi + 2), sc
                    if start > end:
                        start, end = end, start
                    if nocase:
                        start, end, cc = _lower(start), _lower(end), _lower(cc)
                    pi += 2
                    if start <= cc <= end:
                        matched = True
                elif (_lower(pat(pi)) == _lower(sc)) if nocase else (pat(pi) == sc):
                    matched = True
                pi += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            si += 1
        else:
            if c == 92 and plen - pi >= 2:  # '\\' escapes the next byte
                pi += 1
                c = p[pi]
            if (_lower(c) != _lower(s[si])) if nocase else (c != s[si]):
                return False
            si += 1
        pi += 1
        if si == slen:
            while pat(pi) == 42:
                pi += 1
            break
    return pi >= plen and si == slen


_MEM_UNITS = {b"": 1, b"b": 1, b"k": 1000, b"kb": 1024, b"m": 1000**2, b"mb": 1024**2, b"g": 1000**3,
              b"gb": 1024**3}
_MEM_RE = re.compile(rb"([0-9]+)([a-zA-Z]*)\Z")


def memtoull(b: Any) -> int | None:
    """``memtoull``: ``100``, ``1kb``, ``2mb``, ``1gb`` (case-insensitive) as bytes, or None."""
    m = _MEM_RE.match(as_bytes(b))
    if m is None:
        return None
    mul = _MEM_UNITS.get(m.group(2).lower())
    if mul is None:
        return None
    n = int(m.group(1)) * mul
    return n if n < 2**64 else None


def upper_name(name: Any) -> str:
    """A command name as the upper-case text the command table is keyed by."""
    if isinstance(name, bytes | bytearray):
        return bytes(name).decode(errors="replace").upper()
    return str(name).upper()


def index_range(start: int, end: int, n: int) -> tuple[int, int] | None:
    """Redis's inclusive index range over ``n`` elements (negative counts from the end), as a half-open
    ``(first, stop)`` slice, or None when it is empty (``t_list.c`` ``lrangeGenericCommand``, ``t_zset.c``)."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = max(start, 0)
    if start > end or start >= n:
        return None
    return start, min(end, n - 1) + 1
