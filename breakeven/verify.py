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

from dataclasses import dataclass
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
class Verdict:
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


def compare(answer: pa.Table, reference: pa.Table, keys: list[str]) -> Verdict:
    """Whether ``answer`` equals ``reference``; the reason names the first difference."""
    want = reference.column_names
    missing = [c for c in want if c not in answer.column_names]
    if missing:
        return Verdict(False, f"columns {missing} missing (answer has {answer.column_names})")
    extra = [c for c in answer.column_names if c not in want]
    if extra:
        return Verdict(False, f"extra columns {extra} (reference has {want})")
    if answer.num_rows != reference.num_rows:
        return Verdict(False, f"{answer.num_rows} rows, reference has {reference.num_rows}")
    got = _sorted(answer.select(want), keys)
    ref = _sorted(reference, keys)
    for name in want:
        bad, why = _column_diff(got[name].combine_chunks(), ref[name].combine_chunks())
        if bad is None:
            return Verdict(False, f"column {name}: {why}")
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row = {k: got[k][i].as_py() for k in keys}
            return Verdict(
                False,
                f"column {name}: {int(bad.sum())} of {len(bad)} values differ; first at {row}: "
                f"{got[name][i].as_py()!r} != reference {ref[name][i].as_py()!r}",
            )
    return Verdict(True)


def checksum(table: pa.Table) -> dict[str, float]:
    """Sum of each numeric column, db-benchmark style: a quick fingerprint stored with results."""
    sums = {}
    for name in table.column_names:
        col = table[name]
        if _is_number(col.type):
            value = pc.sum(pc.cast(col, pa.float64())).as_py()
            sums[name] = float(value) if value is not None else 0.0
    return sums


@dataclass(frozen=True)
class Digest:
    """An answer too large to hold (a row per row of 1e9), as numbers that do not depend on its
    order: its rows, and per column the count of values, their sum and the sum of their squares
    (of a string column: of its lengths; NaN is missing, as above). A dropped or repeated row
    changes the counts exactly; a wrong value changes the sums beyond ``RTOL``."""

    rows: int
    columns: dict[str, tuple[int, float, float]]

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "columns": {k: list(v) for k, v in self.columns.items()}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Digest:
        return cls(int(raw["rows"]), {k: (int(v[0]), float(v[1]), float(v[2])) for k, v in raw["columns"].items()})


class DigestBuilder:
    """A ``Digest`` built one batch (a table or record batch) at a time."""

    def __init__(self) -> None:
        self.rows = 0
        self.columns: dict[str, list[float]] = {}

    def add(self, batch: pa.Table | pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            values = _digestible(col)
            found = self.columns.setdefault(name, [0, 0.0, 0.0])
            if values is None:
                continue
            found[0] += len(values) - values.null_count
            found[1] += pc.sum(values).as_py() or 0.0
            found[2] += pc.sum(pc.multiply(values, values)).as_py() or 0.0

    def digest(self) -> Digest:
        return Digest(self.rows, {k: (int(v[0]), v[1], v[2]) for k, v in self.columns.items()})


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


def compare_digests(answer: Digest, reference: Digest) -> Verdict:
    """Whether two digests are of the same answer: the same columns, rows and counts exactly,
    sums within ``RTOL`` (``ATOL`` near zero)."""
    want, got = set(reference.columns), set(answer.columns)
    if want - got:
        return Verdict(False, f"columns {sorted(want - got)} missing (answer has {sorted(got)})")
    if got - want:
        return Verdict(False, f"extra columns {sorted(got - want)} (reference has {sorted(want)})")
    if answer.rows != reference.rows:
        return Verdict(False, f"{answer.rows} rows, reference has {reference.rows}")
    for name in sorted(want):
        (n, s, q), (rn, rs, rq) = answer.columns[name], reference.columns[name]
        if n != rn:
            return Verdict(False, f"column {name}: {n} values, reference has {rn}")
        for what, a, b in (("sum", s, rs), ("sum of squares", q, rq)):
            if abs(a - b) > max(ATOL, RTOL * max(abs(a), abs(b))):
                why = f"column {name}: {what} {a!r} != reference {b!r} (compared by digest: the rows are too many)"
                return Verdict(False, why)
    return Verdict(True)
