"""Numbers for people: byte sizes with binary units (``64 MiB``), counts with thousands separators."""

from __future__ import annotations

__all__ = ["format_bytes", "format_count", "format_size"]

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: float) -> str:
    """``67108864`` -> ``"64 MiB"``, ``1536`` -> ``"1.5 KiB"``, ``999`` -> ``"999 B"`` (three significant digits)."""
    value = float(n)
    for unit in _BINARY:
        if abs(value) < 1024 or unit == _BINARY[-1]:
            if unit == "B":
                return f"{int(value):,} B"
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_count(n: float) -> str:
    """``1234567`` -> ``"1,234,567"`` (floats that are whole numbers as integers)."""
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.4g}"


def format_size(n: float, bytes_mode: bool) -> str:
    """A cache size: bytes with their unit in bytes mode, else a count of entries."""
    return format_bytes(n) if bytes_mode else format_count(n)
