"""DuckDB: tables loaded into an in-memory database; SQL results fetched as Arrow.

``default`` is what DuckDB's Python guide shows: ``CREATE TABLE ... AS SELECT * FROM
read_parquet(...)``. ``tuned`` adds what db-benchmark's DuckDB script and DuckDB's guides do:
string group-by keys as ``ENUM`` types, converted once at load (an enum column stores a number
per row that refers to its dictionary: https://duckdb.org/docs/stable/sql/data_types/enum), and
``preserve_insertion_order = false``, which lets a result without ``ORDER BY`` come in any
order and so can take less memory for large results
(https://duckdb.org/docs/stable/guides/performance/how_to_tune_workloads).

A merge's tables stay as read in both profiles: typed as pandas' and Polars' tuned profiles type
them (strings as ``ENUM``, integer keys as ``INTEGER``), the five merges of J1 and the dimension
merge at 1e7 rows took 0.95x, 0.92x and 1.00x (category, int32, both; geometric means over the
six, median of 3, ``scripts/merge_dtypes.py``) of their time as read: within the noise, so no
setting earned its place.

From files (``--from files``) each table is a view over ``read_parquet``, so a query reads the
files itself, reading only the columns it needs and pushing its filters into the scan
(https://duckdb.org/docs/stable/guides/file_formats/query_parquet); the tuned profile
keeps its settings but has no ``ENUM`` keys there (the conversion would run in every query).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.columns import string_keys
from breakeven.engines import PARQUET_CODEC, Engine


class DuckDBEngine(Engine):
    name = "duckdb"
    modes = ("single",)
    profiles = ("default", "tuned")
    packages = ("duckdb",)
    extra = "duckdb"
    order = 3
    colour = "#8c564b"
    speaks_sql = True

    def start(self) -> None:
        import duckdb

        config: dict[str, Any] = {"threads": self.settings.cores}
        if self.settings.memory_budget:
            # Leave room for the Python process and the fetched result: DuckDB spills to disk
            # past memory_limit instead of being killed (https://duckdb.org/docs/stable/configuration/overview).
            config["memory_limit"] = f"{int(self.settings.memory_budget * 0.7) // 2**20}MiB"
        if self.tuned:
            config["preserve_insertion_order"] = False
        self.session = duckdb.connect(config=config)

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        self.session.execute(f"CREATE OR REPLACE TABLE {role} AS SELECT * FROM read_parquet('{path}/*.parquet')")
        if self.tuned:
            for key in string_keys(path):
                kind = f"{role}_{key}_enum"
                self.session.execute(f"DROP TYPE IF EXISTS {kind}")  # a table loaded again in the session
                self.session.execute(
                    f"CREATE TYPE {kind} AS ENUM (SELECT DISTINCT {key} FROM {role} WHERE {key} IS NOT NULL)"
                )
                self.session.execute(f"ALTER TABLE {role} ALTER {key} TYPE {kind}")
        return role

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        self.session.execute(f"CREATE OR REPLACE VIEW {role} AS SELECT * FROM read_parquet('{path}/*.parquet')")
        return role

    def release(self, tables: dict[str, Any]) -> None:
        """The part's tables, views and enum types dropped: the next part's have the same names."""
        for name, kind in self.session.execute(
            "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT internal AND NOT temporary UNION ALL "
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal AND NOT temporary"
        ).fetchall():
            self.session.execute(f"DROP {kind} {name}")
        types = "SELECT type_name FROM duckdb_types() WHERE NOT internal AND schema_name = 'main'"
        for (name,) in self.session.execute(types).fetchall():
            self.session.execute(f"DROP TYPE {name}")
        super().release(tables)

    def sql(self, text: str) -> Any:
        return self.session.sql(text)

    def materialise(self, result: Any) -> Any:
        return result.to_arrow_table()  # fetch_arrow_table() is deprecated in DuckDB 2

    def to_arrow(self, answer: Any) -> pa.Table:
        return answer

    def write(self, result: Any, folder: Path) -> None:
        # COPY ... TO: DuckDB's own Parquet writer, fed by the query as it runs
        # (https://duckdb.org/docs/stable/sql/statements/copy#copy--to).
        folder.mkdir(parents=True)
        target = folder / "part-0.parquet"
        self.session.execute(f"COPY ({result.sql_query()}) TO '{target}' (FORMAT parquet, COMPRESSION {PARQUET_CODEC})")

    def close(self) -> None:
        self.session.close()
