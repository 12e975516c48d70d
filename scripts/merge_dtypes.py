"""Merges on one machine with the dtypes an expert picks: the measurement behind the tuned
profiles of pandas, Polars and DuckDB on J1 and D1 (issue 38, item 11).

For each engine, the five merges that keep their rows (db-benchmark's join questions on J1) and
the dimension merge (D1, a 10,000-row dimension), at ``--rows``, the answer collected: with the
tables as read (``as read``), string columns as categorical (``category``: pandas ``category``
with the union of both sides' categories for a string key, Polars ``Categorical``, DuckDB
``ENUM``), integer keys in the narrowest exact type (``int32``), and both. Every answer is
checked against pyarrow's. Prints the median of ``--repeats`` runs and each variant over
``as read``.

    python scripts/merge_dtypes.py [--rows 1e7] [--repeats 3] [--data data] [--engine pandas ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq

from breakeven.data import DataSpec, dataset_paths, generate
from breakeven.machine import provenance
from breakeven.units import parse_rows

MERGES = {  # name: (data kind, right table, key, how)
    "small_inner": ("J1", "small", "id1", "inner"),
    "medium_inner": ("J1", "medium", "id2", "inner"),
    "medium_left": ("J1", "medium", "id2", "left"),
    "medium_inner_str": ("J1", "medium", "id5", "inner"),
    "big_inner": ("J1", "big", "id3", "inner"),
    "dim_inner": ("D1", "dim", "fk", "inner"),
}
VARIANTS = ("as read", "category", "int32", "both")


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        out = None
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def typed(table: pa.Table, variant: str) -> pa.Table:
    """The table with the variant's dtypes, as Arrow: strings dictionary-encoded, integer keys int32."""
    for i, field in enumerate(table.schema):
        if variant in ("category", "both") and pa.types.is_string(field.type):
            table = table.set_column(i, field.name, table[field.name].dictionary_encode())
        if variant in ("int32", "both") and field.name in ("id1", "id2", "id3", "fk", "key"):
            table = table.set_column(i, field.name, table[field.name].cast(pa.int32()))
    return table


def pandas_merge(left: pa.Table, right: pa.Table, key: str, how: str) -> Callable[[], Any]:
    import pandas as pd

    x, r = left.to_pandas(), right.to_pandas()
    if isinstance(x[key].dtype, pd.CategoricalDtype):  # a string key: one set of categories on both sides
        both = pd.api.types.union_categoricals([x[key], r[key]]).categories
        x[key], r[key] = x[key].cat.set_categories(both), r[key].cat.set_categories(both)
    on = {"on": key} if key != "fk" else {"left_on": "fk", "right_on": "key"}
    return lambda: x.merge(r, how=how, suffixes=("", "_r"), **on)


def polars_merge(left: pa.Table, right: pa.Table, key: str, how: str) -> Callable[[], Any]:
    import polars as pl

    x, r = pl.from_arrow(left), pl.from_arrow(right)
    x, r = (f.with_columns(pl.col(pl.Categorical).cast(pl.Categorical)) for f in (x, r))
    on = {"on": key} if key != "fk" else {"left_on": "fk", "right_on": "key"}
    return lambda: x.join(r, how=how, suffix="_r", **on)


def duckdb_merge(left: pa.Table, right: pa.Table, key: str, how: str) -> Callable[[], Any]:
    """DuckDB reads a dictionary-encoded Arrow column as an ENUM; a column both tables have gets
    one dictionary, so that a string key compares as one ENUM type."""
    import duckdb

    con = duckdb.connect()
    left, right = _one_dictionary(left, right)
    con.register("x_arrow", left)
    con.register("r_arrow", right)
    con.execute("CREATE TABLE x AS SELECT * FROM x_arrow")
    con.execute("CREATE TABLE r AS SELECT * FROM r_arrow")
    right_key = "key" if key == "fk" else key
    picked = ", ".join(
        f"r.{c} AS {c}{'_r' if c in left.schema.names else ''}" for c in right.schema.names if c != right_key
    )
    sql = f"SELECT x.*, {picked} FROM x {how.upper()} JOIN r ON x.{key} = r.{right_key}"
    return lambda: con.sql(sql).to_arrow_table()


def _one_dictionary(left: pa.Table, right: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The dictionary columns of both tables' names with one dictionary (the union of values)."""
    for name in set(left.schema.names) & set(right.schema.names):
        if not pa.types.is_dictionary(left.schema.field(name).type):
            continue
        values = pa.chunked_array(
            [left[name].combine_chunks().dictionary_decode(), right[name].combine_chunks().dictionary_decode()]
        ).unique()
        for side in ("left", "right"):
            table = left if side == "left" else right
            column = table[name].combine_chunks().dictionary_decode()
            encoded = pa.DictionaryArray.from_arrays(
                pa.compute.index_in(column, value_set=values).cast(pa.int32()), values
            )
            table = table.set_column(table.schema.get_field_index(name), name, encoded)
            left, right = (table, right) if side == "left" else (left, table)
    return left, right


ENGINES = {"pandas": pandas_merge, "polars": polars_merge, "duckdb": duckdb_merge}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--engine", action="append", choices=list(ENGINES))
    parser.add_argument("--merge", action="append", choices=list(MERGES))
    args = parser.parse_args()
    print(provenance(), flush=True)
    rows = parse_rows(args.rows)
    specs = {"J1": DataSpec("J1", rows), "D1": DataSpec("D1", rows, dim_rows=10**4)}
    for spec in specs.values():
        generate(spec, args.data)
    for engine in args.engine or list(ENGINES):
        ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for name in args.merge or list(MERGES):
            kind, right, key, how = MERGES[name]
            paths = dataset_paths(specs[kind], args.data)
            tables = pq.read_table(paths["x"]), pq.read_table(paths[right])
            arrow_how = {"inner": "inner", "left": "left outer"}[how]
            right_key = "key" if key == "fk" else key
            want = tables[0].join(tables[1], key, right_keys=right_key, join_type=arrow_how, right_suffix="_r")
            found = {}
            for variant in VARIANTS:
                fn = ENGINES[engine](*(typed(t, variant) for t in tables), key, how)
                seconds, answer = median_seconds(fn, args.repeats)
                rows_out = len(answer) if not isinstance(answer, pa.Table) else answer.num_rows
                assert rows_out == want.num_rows, (engine, name, variant, rows_out, want.num_rows)
                found[variant] = seconds
            base = found["as read"]
            for variant, seconds in found.items():
                ratios[variant].append(seconds / base)
            said = ", ".join(f"{v} {s:.3f} s ({s / base:.2f})" for v, s in found.items())
            print(f"{engine} {name}: {said}", flush=True)
        geo = {v: math.exp(statistics.fmean(math.log(r) for r in rs)) for v, rs in ratios.items()}
        print(f"{engine} geometric mean over as read: " + ", ".join(f"{v} {g:.2f}" for v, g in geo.items()), flush=True)


if __name__ == "__main__":
    main()
