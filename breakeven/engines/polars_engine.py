"""Polars: ``eager`` (DataFrame read into memory at load) and ``streaming`` (LazyFrame scanned
from Parquet inside the timed compute, run by the streaming engine: its load phase only plans
the scan, so compare its end-to-end time, not its compute time alone)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.engines import Engine


class PolarsEngine(Engine):
    name = "polars"
    modes = ("eager", "streaming")
    packages = ("polars",)
    extra = "polars"
    order = 2
    colour = "#2ca02c"

    def start(self) -> None:
        # The thread pool size is read once, at import
        # (https://docs.pola.rs/api/python/stable/reference/api/polars.thread_pool_size.html).
        os.environ["POLARS_MAX_THREADS"] = str(self.settings.cores)
        import polars  # noqa: F401

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        import polars as pl

        source = str(path / "*.parquet")
        return pl.scan_parquet(source) if self.mode == "streaming" else pl.read_parquet(source)

    def materialise(self, result: Any) -> Any:
        import polars as pl

        if isinstance(result, pl.LazyFrame):
            return result.collect(engine="streaming")
        return result

    def to_arrow(self, answer: Any) -> pa.Table:
        return answer.to_arrow()
