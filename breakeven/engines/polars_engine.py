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

``tuned`` (eager and lazy, in memory) stores string key columns as ``Categorical``, converted
once at load as db-benchmark's script does
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

from breakeven.data import string_keys
from breakeven.engines import PARQUET_CODEC, Engine


class PolarsEngine(Engine):
    name = "polars"
    modes = ("eager", "lazy", "streaming")
    profiles = ("default", "tuned")
    default_only = ("streaming",)
    packages = ("polars",)
    extra = "polars"
    tuned_kinds = ("G1",)  # its tuning is the string group-by keys: on the other kinds, twins
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
