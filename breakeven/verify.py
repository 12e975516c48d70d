"""Check an engine's answer against the reference: same columns, same rows, same values.

Rows are compared after sorting by the workload's key columns (no engine promises an order);
numbers are compared as float64 with a relative tolerance (summation order differs between
engines); null and NaN are the same missing value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RTOL = 1e-6
ATOL = 1e-9


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None


def _normalise(table: pa.Table, keys: list[str]) -> pa.Table:
    cols = {}
    for name in table.column_names:
        col = table[name].combine_chunks() if table.num_rows else table[name]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
            col = col.cast(pa.string())
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
            col = pc.cast(col, pa.float64())
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, pa.float64()), col)
        cols[name] = col
    out = pa.table(cols)
    return out.sort_by([(k, "ascending") for k in keys]) if keys else out


def checksum(table: pa.Table) -> dict[str, float]:
    """Sum of each numeric column, db-benchmark style: a quick fingerprint stored with results."""
    sums = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
            value = pc.sum(pc.cast(col, pa.float64())).as_py()
            sums[name] = float(value) if value is not None else 0.0
    return sums


def compare(answer: pa.Table, reference: pa.Table, keys: list[str]) -> Verdict:
    """Whether ``answer`` equals ``reference``; the reason names the first difference."""
    want = reference.column_names
    missing = [c for c in want if c not in answer.column_names]
    if missing:
        return Verdict(False, f"columns {missing} missing (answer has {answer.column_names})")
    if answer.num_rows != reference.num_rows:
        return Verdict(False, f"{answer.num_rows} rows, reference has {reference.num_rows}")
    got = _normalise(answer.select(want), keys)
    ref = _normalise(reference, keys)
    for name in want:
        a, b = got[name], ref[name]
        if a.type != b.type:
            return Verdict(False, f"column {name}: type {a.type}, reference {b.type}")
        a_null = a.is_null().to_numpy(zero_copy_only=False)
        b_null = b.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_floating(a.type):
            av = a.to_numpy(zero_copy_only=False).astype(float)
            bv = b.to_numpy(zero_copy_only=False).astype(float)
            bad = (a_null != b_null) | (~a_null & ~b_null & ~np.isclose(av, bv, rtol=RTOL, atol=ATOL))
        else:
            same = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
            bad = (a_null != b_null) | (~a_null & ~b_null & ~same)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row = {k: got[k][i].as_py() for k in keys}
            return Verdict(
                False,
                f"column {name}: {int(bad.sum())} of {len(bad)} values differ; first at {row}: "
                f"{a[i].as_py()!r} != reference {b[i].as_py()!r}",
            )
    return Verdict(True)
