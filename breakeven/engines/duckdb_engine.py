"""DuckDB: tables loaded into an in-memory database; SQL results fetched as Arrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.engines import Engine


class DuckDBEngine(Engine):
    name = "duckdb"
    modes = ("single",)
    packages = ("duckdb",)
    extra = "duckdb"
    order = 3
    colour = "#8c564b"
    speaks_sql = True

    def start(self) -> None:
        import duckdb

        config = {"threads": self.settings.cores}
        if self.settings.memory_budget:
            # Leave room for the Python process and the fetched result: DuckDB spills to disk
            # past memory_limit instead of being killed (https://duckdb.org/docs/stable/configuration/overview).
            config["memory_limit"] = f"{int(self.settings.memory_budget * 0.7) // 2**20}MiB"
        self.session = duckdb.connect(config=config)

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        self.session.execute(f"CREATE OR REPLACE TABLE {role} AS SELECT * FROM read_parquet('{path}/*.parquet')")
        return role

    def sql(self, text: str) -> Any:
        return self.session.sql(text)

    def materialise(self, result: Any) -> Any:
        return result.to_arrow_table()  # fetch_arrow_table() is deprecated in DuckDB 2

    def to_arrow(self, answer: Any) -> pa.Table:
        return answer

    def close(self) -> None:
        self.session.close()
