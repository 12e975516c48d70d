"""Check an engine's answer against the reference: the same columns, rows and values.

Rows are compared after sorting by the workload's key columns (no engine promises an order).
The reference's column types decide how a column is compared:

- integers (counts, integer sums, integer keys) exactly, as int64: an answer may hold them in
  any integer type, or in floats whose values are whole numbers (an engine that sums integers
  in float64 is exact below 2**53, far above any sum of the data here); one count off by one
  is a wrong answer;
- floats (means, medians, deviations, correlations) with a relative tolerance, see ``RTOL``;
- everything else (strings, booleans, dates) exactly.

Null and NaN are the same missing value. A column the reference lacks is a wrong answer too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Floats are sums (or functions of sums) whose order of summation differs between engines. The
# rounding error of a float64 sum of n values is at most about n * 2**-53 of the sum of their
# magnitudes (pairwise and blocked summation, which every engine here uses, far less): 1.1e-7
# at 1e9 rows. 1e-6 leaves a margin for the two-pass and one-pass variance formulas, whose
# results differ more than sums do. A real error that hides under it (one row dropped from a
# mean of 1e8 values) is caught by the integer columns of the same answer, compared exactly.
RTOL = 1e-6
# Below this, values are equal whatever their relative difference: a correlation of about 0
# (q9's r2 of independent columns) is a difference of two near-equal sums, and its relative
# error is unbounded where its absolute error is not.
ATOL = 1e-9


@dataclass(frozen=True)
class Match:
    """Whether an answer matches its reference, and where not, the first difference."""

    ok: bool
    reason: str | None = None


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _plain(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One chunk; dictionaries decoded and string kinds unified, so that types compare by kind."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
        col = col.cast(pa.string())
    return col


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    table = pa.table({name: _plain(table[name]) for name in table.column_names})
    return table.sort_by([(k, "ascending") for k in keys]) if keys else table


def _missing(col: pa.Array) -> np.ndarray:
    """Null or NaN, per value."""
    missing = col.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(col.type):
        missing |= pc.fill_null(pc.is_nan(col), False).to_numpy(zero_copy_only=False)
    return missing


def _as_integers(col: pa.Array, missing: np.ndarray) -> np.ndarray | str:
    """The column's values as int64 (missing ones as 0), or why they are not integers."""
    if pa.types.is_integer(col.type):
        return pc.fill_null(col, 0).cast(pa.int64()).to_numpy(zero_copy_only=False)
    if _is_number(col.type):
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        values = np.where(missing, 0.0, values)
        if not np.all(np.isfinite(values) & (values == np.round(values))):
            return f"type {col.type} with values that are not whole numbers, reference is integer"
        return values.astype(np.int64)
    return f"type {col.type}, reference is integer"


def _column_diff(a: pa.Array, b: pa.Array) -> tuple[np.ndarray, None] | tuple[None, str]:
    """Per row, whether answer ``a`` differs from reference ``b``; or why they cannot be compared."""
    a_miss, b_miss = _missing(a), _missing(b)
    if pa.types.is_integer(b.type):
        got = _as_integers(a, a_miss)
        if isinstance(got, str):
            return None, got
        want = pc.fill_null(b, 0).cast(pa.int64()).to_numpy(zero_copy_only=False)
        return (a_miss != b_miss) | (~a_miss & (got != want)), None
    if pa.types.is_floating(b.type) or pa.types.is_decimal(b.type):
        if not _is_number(a.type):
            return None, f"type {a.type}, reference {b.type}"
        av = np.where(a_miss, 0.0, pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False))
        bv = np.where(b_miss, 0.0, pc.cast(b, pa.float64()).to_numpy(zero_copy_only=False))
        return (a_miss != b_miss) | (~a_miss & ~np.isclose(av, bv, rtol=RTOL, atol=ATOL)), None
    if a.type != b.type:
        return None, f"type {a.type}, reference {b.type}"
    same = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    return (a_miss != b_miss) | (~a_miss & ~b_miss & ~same), None


def compare(answer: pa.Table, reference: pa.Table, keys: list[str]) -> Match:
    """Whether ``answer`` equals ``reference``; the reason names the first difference."""
    want = reference.column_names
    missing = [c for c in want if c not in answer.column_names]
    if missing:
        return Match(False, f"columns {missing} missing (answer has {answer.column_names})")
    extra = [c for c in answer.column_names if c not in want]
    if extra:
        return Match(False, f"extra columns {extra} (reference has {want})")
    if answer.num_rows != reference.num_rows:
        return Match(False, f"{answer.num_rows} rows, reference has {reference.num_rows}")
    got = _sorted(answer.select(want), keys)
    ref = _sorted(reference, keys)
    for name in want:
        bad, why = _column_diff(got[name].combine_chunks(), ref[name].combine_chunks())
        if bad is None:
            return Match(False, f"column {name}: {why}")
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row = {k: got[k][i].as_py() for k in keys}
            return Match(
                False,
                f"column {name}: {int(bad.sum())} of {len(bad)} values differ; first at {row}: "
                f"{got[name][i].as_py()!r} != reference {ref[name][i].as_py()!r}",
            )
    return Match(True)


def checksum(table: pa.Table) -> dict[str, float]:
    """Sum of each numeric column, db-benchmark style: a quick fingerprint stored with results."""
    sums = {}
    for name in table.column_names:
        col = table[name]
        if _is_number(col.type):
            value = pc.sum(pc.cast(col, pa.float64())).as_py()
            sums[name] = float(value) if value is not None else 0.0
    return sums


MASK = 2**64 - 1
DIGEST_VERSION = 2  # 2: exact integer sums and a hash of whole rows (1 compared sums as floats)
DIGEST_SUFFIX = f".digest{DIGEST_VERSION}.json"  # a reference kept as its digest (an older one is made again)


def is_digest(path: Path) -> bool:
    """Whether a reference file is a digest rather than the answer."""
    return path.name.endswith(DIGEST_SUFFIX)


def _exact_kind(kind: pa.DataType) -> bool:
    """Integers, booleans and strings: their digest is integer arithmetic, compared exactly."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
    )


@dataclass(frozen=True)
class Digest:
    """An answer too large to hold (a row per row of 1e9), as numbers that do not depend on its
    order: its rows; per column the count of values, their sum and the sum of their squares (of
    a string column: of its lengths; NaN is missing, as above); for the exact columns (integers,
    booleans, strings) the same sums in integer arithmetic modulo 2**64; and the sum over rows
    of a 64-bit hash of each row's exact values. A dropped or repeated row changes the counts,
    a wrong integer the exact sums, a dropped row with another repeated (or values moved between
    rows) the row hash, exactly; a wrong float changes its sums beyond ``RTOL``. Floats are not
    in the row hash: engines round them differently."""

    rows: int
    columns: dict[str, tuple[int, float, float]]
    exact: dict[str, tuple[int, int]] = field(default_factory=dict)
    row_hash: int = 0
    not_whole: tuple[str, ...] = ()  # columns the reference holds as integers, here not whole numbers

    def to_dict(self) -> dict[str, object]:
        return {
            "version": DIGEST_VERSION,
            "rows": self.rows,
            "columns": {k: list(v) for k, v in self.columns.items()},
            "exact": {k: [str(s), str(q)] for k, (s, q) in self.exact.items()},  # JSON readers lose bits past 2**53
            "row_hash": str(self.row_hash),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Digest:
        if raw.get("version") != DIGEST_VERSION:
            raise ValueError(f"a digest of version {raw.get('version', 1)}, this breakeven reads {DIGEST_VERSION}")
        return cls(
            int(raw["rows"]),
            {k: (int(v[0]), float(v[1]), float(v[2])) for k, v in raw["columns"].items()},
            {k: (int(v[0]), int(v[1])) for k, v in raw["exact"].items()},
            int(raw["row_hash"]),
        )


class DigestBuilder:
    """A ``Digest`` built one batch (a table or record batch) at a time. ``exact`` names the
    columns digested in integer arithmetic (an answer's: the reference's exact columns, so that
    an integer sum an engine returns as whole floats compares exactly); None: every column of an
    exact type (``_exact_kind``), as the reference's own digest is made."""

    def __init__(self, exact: Iterable[str] | None = None) -> None:
        self.rows = 0
        self.columns: dict[str, list[float]] = {}
        self.wanted = None if exact is None else sorted(exact)
        self.exact: dict[str, list[int]] = {}
        self.row_hash = 0
        self.not_whole: set[str] = set()

    def add(self, batch: pa.Table | pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        names = batch.schema.names
        if self.wanted is None:
            self.wanted = sorted(n for n in names if _exact_kind(batch.schema.field(n).type))
        row = np.zeros(batch.num_rows, dtype=np.uint64)
        for name in self.wanted:
            if name in names:
                hashes = _value_hashes(batch.column(name), name, self)
                if hashes is not None:
                    row = (row + hashes) * ROW_FACTOR
        row = _mix(row)
        self.row_hash = (self.row_hash + int(row.sum(dtype=np.uint64))) & MASK
        for name, col in zip(names, batch.columns, strict=True):
            values = _digestible(col)
            found = self.columns.setdefault(name, [0, 0.0, 0.0])
            if values is None:
                continue
            found[0] += len(values) - values.null_count
            found[1] += pc.sum(values).as_py() or 0.0
            found[2] += pc.sum(pc.multiply(values, values)).as_py() or 0.0

    def digest(self) -> Digest:
        return Digest(
            self.rows,
            {k: (int(v[0]), v[1], v[2]) for k, v in self.columns.items()},
            {k: (v[0], v[1]) for k, v in self.exact.items()},
            self.row_hash,
            tuple(sorted(self.not_whole)),
        )


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every bit of the input moves every bit of the output."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


NULL_HASH = np.uint64(0x9E3779B97F4A7C15)  # a missing value's hash
ROW_FACTOR = np.uint64(0xD6E8FEB86659FD93)  # odd: a row's values combined in order, then mixed once


def _value_hashes(col: pa.Array | pa.ChunkedArray, name: str, into: DigestBuilder) -> np.ndarray | None:
    """A 64-bit value per value of an exact column (an integer itself, a string's hash), adding
    its exact sums to ``into``; None for a column that is not exact here (a float column of
    numbers that are not whole, recorded as such)."""
    col = _plain(col)
    missing = _missing(col)
    if pa.types.is_string(col.type):
        lengths = pc.fill_null(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        values, hashed = lengths, _string_hashes(col) ^ lengths.astype(np.uint64)
    else:
        if pa.types.is_boolean(col.type):
            col = pc.cast(col, pa.int8())
        found = _as_integers(col, missing)
        if isinstance(found, str):
            into.not_whole.add(name)
            return None
        values = hashed = found
    values = np.where(missing, 0, values).astype(np.uint64)
    sums = into.exact.setdefault(name, [0, 0])
    sums[0] = (sums[0] + int(values.sum(dtype=np.uint64))) & MASK
    sums[1] = (sums[1] + int((values * values).sum(dtype=np.uint64))) & MASK
    return np.where(missing, NULL_HASH, np.asarray(hashed).astype(np.uint64))


def _string_hashes(col: pa.Array) -> np.ndarray:
    """A polynomial hash of each string's bytes modulo 2**64: of each distinct string, over its
    bytes at once (a null's is left to the caller)."""
    encoded = pc.dictionary_encode(col)
    unique = encoded.dictionary
    offsets = np.frombuffer(unique.buffers()[1], dtype=np.int32)[unique.offset : unique.offset + len(unique) + 1]
    offsets = offsets.astype(np.int64)
    data = unique.buffers()[2]
    start, end = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(data, np.uint8)[start:end].astype(np.uint64) if data is not None else np.zeros(0, np.uint64)
    lengths = np.diff(offsets)
    position = np.arange(end - start, dtype=np.int64) - np.repeat(offsets[:-1] - start, lengths)
    powers = np.cumprod(np.full(int(lengths.max(initial=0)) + 1, 1099511628211, dtype=np.uint64), dtype=np.uint64)
    totals = np.concatenate(([np.uint64(0)], np.cumsum((raw + np.uint64(1)) * powers[position], dtype=np.uint64)))
    per_unique = totals[offsets[1:] - start] - totals[offsets[:-1] - start]
    return per_unique[pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)]


def _digestible(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """A column as float64 with NaN as null: numbers, booleans, string lengths; None otherwise."""
    kind = col.type
    if pa.types.is_dictionary(kind):
        col, kind = col.cast(kind.value_type), kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        col = pc.utf8_length(col)
    elif pa.types.is_boolean(kind):
        col = pc.cast(col, pa.int8())
    elif not _is_number(kind):
        return None
    values = pc.cast(col, pa.float64())
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)


def compare_digests(answer: Digest, reference: Digest) -> Match:
    """Whether two digests are of the same answer: the same columns, rows and counts, the exact
    columns' sums and the row hash equal, the other sums within ``RTOL`` (``ATOL`` near zero)."""
    want, got = set(reference.columns), set(answer.columns)
    if want - got:
        return Match(False, f"columns {sorted(want - got)} missing (answer has {sorted(got)})")
    if got - want:
        return Match(False, f"extra columns {sorted(got - want)} (reference has {sorted(want)})")
    if answer.rows != reference.rows:
        return Match(False, f"{answer.rows} rows, reference has {reference.rows}")
    if answer.not_whole:
        why = f"columns {list(answer.not_whole)}: values that are not whole numbers, reference is integer"
        return Match(False, why)
    by_digest = "(compared by digest: the rows are too many)"
    for name in sorted(want):
        (n, s, q), (rn, rs, rq) = answer.columns[name], reference.columns[name]
        if n != rn:
            return Match(False, f"column {name}: {n} values, reference has {rn}")
        if name in reference.exact:
            if answer.exact.get(name) != reference.exact[name]:
                why = f"column {name}: its sums in integer arithmetic differ from the reference's {by_digest}"
                return Match(False, why)
            continue
        for what, a, b in (("sum", s, rs), ("sum of squares", q, rq)):
            if abs(a - b) > max(ATOL, RTOL * max(abs(a), abs(b))):
                return Match(False, f"column {name}: {what} {a!r} != reference {b!r} {by_digest}")
    if answer.row_hash != reference.row_hash:
        exact = ", ".join(sorted(reference.exact))
        return Match(
            False,
            f"the same counts and sums, but not the same rows: a row dropped and another repeated, or values moved "
            f"between rows (the hash of each row's {exact}) {by_digest}",
        )
    return Match(True)
