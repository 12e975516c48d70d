"""pandas: the single-machine baseline, in one process.

``default`` is what ``pd.read_parquet`` gives (pandas 3: the ``str`` dtype, backed by pyarrow,
for string columns). ``tuned`` is what db-benchmark's pandas scripts and pandas' own scaling
guide do: string key columns converted to ``category`` once, at load, so that a group-by
hashes small integer codes instead of strings
(https://pandas.pydata.org/docs/user_guide/scale.html#use-efficient-datatypes,
https://github.com/duckdblabs/db-benchmark/blob/main/pandas/groupby-pandas.py).
On the merges' tables (J1, D1) it types them as db-benchmark's pandas join script does:
integer keys as ``int32`` where they fit and strings as ``category`` (``_merge_types``).
Implementations group with ``observed=True`` (only the categories present) and
``sort=False``, in both profiles.

From files (``--from files``) the query reads only the workload's columns
(``pd.read_parquet(columns=...)``); the tuned profile reads its string keys straight into
``category`` from Parquet's dictionary pages (pyarrow's ``read_dictionary``, which
``read_parquet`` passes on: https://arrow.apache.org/docs/python/generated/pyarrow.parquet.read_table.html).
Measured at 1e7 rows, read and grouped (``scripts/pandas_read_dictionary.py``): q1 0.198 s
against 0.254 s, q3 0.654 s against 1.602 s, q10 3.57 s against 6.13 s. A chunked job reads
its chunks as it goes, ``chunk_rows`` rows at a time (``ParquetFile.iter_batches``: https://arrow.apache.org/docs/python/generated/pyarrow.parquet.ParquetFile.html).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.columns import merge_types, shared_categories, string_keys
from breakeven.engines import PARQUET_CODEC, Engine
from breakeven.workloads import Chunks


class PandasEngine(Engine):
    name = "pandas"
    modes = ("single",)
    profiles = ("default", "tuned")
    packages = ("pandas",)
    extra = "pandas"
    tuned_kinds = ("G1", "J1", "D1")  # the group-by keys (and q9's idiom), the merges' dtypes; T1: twins

    @classmethod
    def tunes(cls, data_kind: str, source: str = "memory") -> bool:
        """From files only the group-by keys are read as categories (from the dictionary pages):
        a merge's conversions would run inside every query."""
        return super().tunes(data_kind, source) and (source == "memory" or data_kind == "G1")

    order = 1
    colour = "#1f77b4"

    def start(self) -> None:
        self._keys: dict[Path, list[str]] = {}
        import pandas  # noqa: F401  (the import is the session's startup)

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        import pandas as pd

        frame = pd.read_parquet(path)
        if self.tuned:
            # The standard suite ran q6 (grouped by the integer keys id4, id5) 1.44x slower in
            # this profile (0.053 s against 0.035 s at 1e6 rows; 1.48x again with 9 repeats), but
            # not because of this conversion, which q6 does not read: in one process the two
            # profiles' sessions take 0.050-0.057 s alike, and the default's 0.035 s is that
            # worker's alone (recorded in the closing note of issue 15).
            for key in string_keys(path):
                frame[key] = frame[key].astype("category")
            self._merge_types(frame, path)
        return frame

    @staticmethod
    def _merge_types(frame: Any, path: Path) -> None:
        """A merge's tables typed as db-benchmark's pandas join script types them: integer keys as
        int32 where they fit, strings as ``category`` (a string key's categories the same on both
        sides: else the merge falls back to comparing strings). Measured at 1e7 rows on J1 and
        D1 (``scripts/merge_dtypes.py``, the answer collected, median of 3), as read and so typed:
        small inner 0.466 -> 0.218 s, medium inner 0.858 -> 0.252, medium left 0.401 -> 0.159,
        medium inner on the string key 1.921 -> 0.292, big inner 5.54 -> 3.00, the dimension
        merge 0.332 -> 0.242 (D1 has no strings); geometric mean 0.39. Each alone: category 0.50,
        int32 0.80."""
        import pandas as pd

        types = merge_types(path)
        for name in types.narrow:
            frame[name] = frame[name].astype("int32")
        for name in types.strings:
            shared = shared_categories(path, name) if name in types.shared else None
            dtype = pd.CategoricalDtype(pd.Index(shared.to_pylist())) if shared is not None else "category"
            frame[name] = frame[name].astype(dtype)

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        import pandas as pd

        if chunk_rows:
            return _read_chunks(path, chunk_rows, columns)
        keys = [k for k in self._string_keys(path) if columns is None or k in columns] if self.tuned else []
        return pd.read_parquet(path, columns=columns, read_dictionary=keys or None)

    def _string_keys(self, path: Path) -> list[str]:
        """``string_keys``, read from the files' schema once per table (as a script names them)."""
        if path not in self._keys:
            self._keys[path] = string_keys(path)
        return self._keys[path]

    def materialise(self, result: Any) -> Any:
        if isinstance(result, Chunks):  # a chunked job's answer, whole
            import pandas as pd

            return pd.concat(result, ignore_index=True)
        return result  # eager: already computed in the driver

    def to_arrow(self, answer: Any) -> pa.Table:
        return pa.Table.from_pandas(answer, preserve_index=False)

    def write(self, result: Any, folder: Path) -> None:
        # DataFrame.to_parquet with its default engine, pyarrow, and without the index
        # (https://pandas.pydata.org/docs/reference/api/pandas.DataFrame.to_parquet.html).
        # A chunked job writes each chunk's answer as it goes, one file each: the chunk is read,
        # transformed and written before the next is read (``Chunks``).
        folder.mkdir(parents=True)
        for i, part in enumerate(result if isinstance(result, Chunks) else [result]):
            part.to_parquet(folder / f"part-{i}.parquet", index=False, compression=PARQUET_CODEC)


def _read_chunks(path: Path, chunk_rows: int, columns: list[str] | None) -> Iterator[Any]:
    """The table's files in order, as pandas frames of at most ``chunk_rows`` rows."""
    import pyarrow.parquet as pq

    for file in sorted(path.glob("*.parquet")):
        for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
