"""Helpers for the reference answers: pyarrow and NumPy only, none of the engines under test."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def group_ids(table: pa.Table, keys: list[str]) -> tuple[np.ndarray, int]:
    """Dense group number of each row (nulls form their own group) and the number of groups."""
    code = np.zeros(table.num_rows, dtype=np.int64)
    for key in keys:
        enc = pc.dictionary_encode(table[key], null_encoding="encode").combine_chunks()
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        code = code * len(enc.dictionary) + idx
        _, code = np.unique(code, return_inverse=True)  # keep codes dense: no overflow
    groups = int(code.max()) + 1 if len(code) else 0
    return code, groups


def floats(table: pa.Table, column: str) -> np.ndarray:
    """A column as float64 with NaN for null."""
    return pc.cast(table[column], pa.float64()).to_numpy(zero_copy_only=False)


def first_keys(table: pa.Table, keys: list[str], gid: np.ndarray, groups: int) -> pa.Table:
    """The key values of each group, in group-number order."""
    first = np.full(groups, len(gid), dtype=np.int64)
    np.minimum.at(first, gid, np.arange(len(gid)))
    return table.select(keys).take(pa.array(first))


def grouped_median_sd(table: pa.Table, keys: list[str], column: str) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Exact median and sample standard deviation of ``column`` per group, nulls skipped
    (NaN where a group has no value, or fewer than two for the deviation)."""
    gid, groups = group_ids(table, keys)
    values = floats(table, column)
    present = ~np.isnan(values)
    order = np.lexsort((values, gid))  # NaN sorts last within each group
    sorted_vals = values[order]
    starts = np.searchsorted(gid[order], np.arange(groups))
    valid = np.bincount(gid[present], minlength=groups)
    lo = starts + np.maximum(valid - 1, 0) // 2
    hi = starts + valid // 2
    hi = np.where(valid > 0, hi, lo)
    median = np.where(valid > 0, (sorted_vals[lo] + sorted_vals[np.minimum(hi, len(values) - 1)]) / 2, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(gid[present], weights=values[present], minlength=groups) / valid
        dev = values[present] - mean[gid[present]]
        sd = np.sqrt(np.bincount(gid[present], weights=dev * dev, minlength=groups) / (valid - 1))
    sd[valid < 2] = np.nan
    return first_keys(table, keys, gid, groups), median, sd


def grouped_moments(table: pa.Table, keys: list[str], x: str, y: str) -> tuple[pa.Table, np.ndarray]:
    """Squared Pearson correlation of x and y per group, over rows where both are present."""
    gid, groups = group_ids(table, keys)
    a, b = floats(table, x), floats(table, y)
    both = ~(np.isnan(a) | np.isnan(b))
    g, a, b = gid[both], a[both], b[both]

    def total(w: np.ndarray | None) -> np.ndarray:
        return np.bincount(g, weights=w, minlength=groups)

    n, sa, sb = total(None), total(a), total(b)
    saa, sbb, sab = total(a * a), total(b * b), total(a * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = n * sab - sa * sb
        r = cov / np.sqrt((n * saa - sa * sa) * (n * sbb - sb * sb))
    return first_keys(table, keys, gid, groups), r * r


def grouped_top(table: pa.Table, key: str, column: str, count: int) -> pa.Table:
    """The ``count`` largest non-null values of ``column`` per ``key``."""
    present = table.select([key, column]).filter(pc.is_valid(table[column]))
    gid, groups = group_ids(present, [key])
    values = floats(present, column)
    order = np.lexsort((-values, gid))
    sorted_gid = gid[order]
    starts = np.searchsorted(sorted_gid, np.arange(groups))
    rank = np.arange(len(order)) - starts[sorted_gid]
    return present.take(pa.array(order[rank < count]))


def running_sum(table: pa.Table, key: str, order_col: str, column: str) -> np.ndarray:
    """Running total of ``column`` (nulls as 0) per ``key`` in ``order_col`` order, per row."""
    gid, groups = group_ids(table, [key])
    order = np.lexsort((table[order_col].to_numpy(), gid))
    values = np.nan_to_num(floats(table, column))[order]
    totals = np.cumsum(values)
    sorted_gid = gid[order]
    starts = np.searchsorted(sorted_gid, np.arange(groups))
    before = np.concatenate(([0.0], totals))[starts][sorted_gid]
    out = np.empty(len(order))
    out[order] = totals - before
    return out
