"""Polars in three modes:

- ``eager``: a ``DataFrame``, each operation run as it is called (what many users write);
- ``lazy``: a ``LazyFrame``; a question is a query plan that the optimizer rewrites and
  ``collect()`` runs with the default in-memory engine, as Polars' own guide recommends
  (https://docs.pola.rs/user-guide/lazy/using/) and db-benchmark's Polars script does;
- ``streaming``: the same plan run by the streaming engine (``collect(engine="streaming")``),
  which processes the data in morsels and can run past memory
  (https://docs.pola.rs/user-guide/concepts/streaming/).

In memory (``--from memory``) every mode starts from the table read at load; from files
(``--from files``) the eager mode reads the workload's columns (``read_parquet(columns=...)``)
and the lazy modes scan the files inside the query (``scan_parquet``), whose optimizer reads only
the columns and row groups the query needs.

``tuned`` (eager and lazy, in memory) stores string key columns as ``Categorical``, and a
merge's tables with integer keys as ``Int32`` and strings as ``Categorical``, converted once at
load as db-benchmark's scripts do
(https://docs.pola.rs/user-guide/expressions/categorical-data-and-enums/). Streaming has no
tuned profile, and from files neither mode has one: the conversion would run inside every query.
Before breakeven had sources (records of schema 5 and older), the streaming mode always scanned
the files inside the query: those records are the ``files`` source's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.columns import merge_types, string_keys
from breakeven.engines import PARQUET_CODEC, Engine


class PolarsEngine(Engine):
    name = "polars"
    modes = ("eager", "lazy", "streaming")
    profiles = ("default", "tuned")
    default_only = ("streaming",)
    packages = ("polars",)
    extra = "polars"
    tuned_kinds = ("G1", "J1", "D1")  # the string group-by keys, the merges' dtypes: on T1, twins
    tuned_sources = ("memory",)  # ... converted at load
    order = 2
    colour = "#2ca02c"

    def start(self) -> None:
        # The thread pool size is read once, at import
        # (https://docs.pola.rs/api/python/stable/reference/api/polars.thread_pool_size.html).
        os.environ["POLARS_MAX_THREADS"] = str(self.settings.cores)
        import polars  # noqa: F401

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        import polars as pl

        frame = pl.read_parquet(_files(path))
        if self.tuned:
            # One exception, kept: in the eager mode q1 (100 groups) is slower on Categorical keys,
            # 0.100 s against 0.040 s on strings at 1e7 rows (standard suite: 2.4x at 1e6 and
            # 1e7), while q3 (1e5 groups) is faster, 0.198 s against 0.366 s. The cause is
            # Polars' eager group-by (DataFrame.group_by runs with QueryOptFlags._eager(); the
            # same query collected from a LazyFrame with no optimizations takes 0.022 s).
            frame = frame.with_columns(pl.col(string_keys(path)).cast(pl.Categorical))
            # A merge's tables as an expert types them: integer keys as Int32 where they fit,
            # strings as Categorical (Polars' categories are global: a key compares across
            # frames). Measured at 1e7 rows on J1 and D1, eager, answer collected, median of 3
            # (scripts/merge_dtypes.py): small inner 0.642 -> 0.353 s, medium inner 1.188 -> 0.305,
            # medium left 0.154 -> 0.165, medium inner on the string key 1.050 -> 0.331, big inner
            # 4.45 -> 2.85, the dimension merge 0.166 -> 0.181; geometric mean 0.57 (each alone:
            # Categorical 0.64, Int32 0.84).
            types = merge_types(path)
            frame = frame.with_columns(pl.col(types.narrow).cast(pl.Int32), pl.col(types.strings).cast(pl.Categorical))
        return frame if self.mode == "eager" else frame.lazy()

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        import polars as pl

        if self.mode == "eager":
            return pl.read_parquet(_files(path), columns=columns)
        return pl.scan_parquet(_files(path))

    def materialise(self, result: Any) -> Any:
        import polars as pl

        if isinstance(result, pl.LazyFrame):
            return result.collect(engine="streaming" if self.mode == "streaming" else "auto")
        return result

    def to_arrow(self, answer: Any) -> pa.Table:
        return answer.to_arrow()

    def write(self, result: Any, folder: Path) -> None:
        import polars as pl

        folder.mkdir(parents=True)
        path = folder / "part-0.parquet"
        if isinstance(result, pl.LazyFrame):
            # A query's answer goes to a file with sink_parquet, which runs the query on the
            # streaming engine and writes as it goes, in the lazy mode too
            # (https://docs.pola.rs/user-guide/lazy/sources_sinks/).
            result.sink_parquet(path, compression=PARQUET_CODEC)
        else:
            result.write_parquet(path, compression=PARQUET_CODEC)


def _files(path: Path) -> str:
    """The table's Parquet files, as a glob Polars expands."""
    return str(path / "*.parquet")
