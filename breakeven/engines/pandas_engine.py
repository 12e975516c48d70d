"""pandas: the single-machine baseline, in one process with the default (pyarrow-backed) dtypes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.engines import Engine


class PandasEngine(Engine):
    name = "pandas"
    modes = ("single",)
    packages = ("pandas",)
    extra = "pandas"
    order = 1
    colour = "#1f77b4"

    def start(self) -> None:
        import pandas  # noqa: F401  (the import is the session's startup)

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        import pandas as pd

        return pd.read_parquet(path)

    def materialise(self, result: Any) -> Any:
        return result  # eager: already computed in the driver

    def to_arrow(self, answer: Any) -> pa.Table:
        return pa.Table.from_pandas(answer, preserve_index=False)
