"""Sizes and row counts as people write them (``4GiB``, ``500MB``, ``1e7``), read and written."""

from __future__ import annotations

import math
import re

from breakeven.errors import UsageError

SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 10**3,
    "kib": 2**10,
    "m": 2**20,
    "mb": 10**6,
    "mib": 2**20,
    "g": 2**30,
    "gb": 10**9,
    "gib": 2**30,
    "t": 2**40,
    "tb": 10**12,
    "tib": 2**40,
}


def parse_size(text: str) -> int:
    """'4GiB', '500MB', '2g' -> bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in SIZE_UNITS:
        raise UsageError(f"bad size {text!r}: write e.g. 4GiB, 500MB or 2G")
    value = int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])
    if value <= 0:
        raise UsageError(f"size must be positive, got {text!r}")
    return value


def parse_rows(text: str) -> int:
    """'1e7' or '10000000' -> 10000000; must be positive."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"bad row count {text!r}: write e.g. 1e6 or 1000000") from None
    if value <= 0 or value != int(value):
        raise UsageError(f"rows must be a positive whole number, got {text!r}")
    return int(value)


def fmt_num(n: int) -> str:
    """1e7 -> '1e7', 5000 -> '5e3', 12345 -> '12345' (db-benchmark's naming)."""
    if n > 0:
        exp = int(math.floor(math.log10(n)))
        mant = n / 10**exp
        if mant == int(mant) and (exp > 0 or n >= 10):
            return f"{int(mant)}e{exp}"
    return str(n)


def fmt_approx(n: float) -> str:
    """A size between two measured ones, to two digits: ``7.0e6``."""
    exponent = math.floor(math.log10(n))
    return f"{n / 10**exponent:.1f}e{exponent}"
