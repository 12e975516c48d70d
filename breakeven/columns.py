"""What an expert reads of a data set's columns before typing them at load, from the files'
schema and statistics alone: the string group-by keys (categorical in the tuned profiles), the
merge keys that fit in ``int32``, and the categories both sides of a merge on a string share."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from breakeven.data import KINDS


def string_keys(path: Path) -> list[str]:
    """The string group-by keys of the table at ``path`` (``<data>/<set name>/<role>``): what the
    tuned single-machine profiles store as categorical, converted once at load, as db-benchmark's
    group-by scripts do. Only a kind's declared ``group_keys`` (G1's ``id1``-``id3``): the
    transforms work on their strings, and the merges' keys are compared across two tables."""
    kind = KINDS.get(path.parent.name.split("_")[0])
    if kind is None or not kind.group_keys:  # a user's own table (--table) has none declared
        return []
    schema = pq.read_schema(next(path.glob("*.parquet")))
    return [f.name for f in schema if f.name in kind.group_keys and pa.types.is_string(f.type)]


INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class MergeTypes:
    """What the tuned single-machine profiles store, at load, of a table that the merges read, as
    an expert types a merge's tables (db-benchmark's join scripts read J1's integer keys as
    ``int32`` and its strings as ``category``): ``narrow``, the integer merge keys whose values
    fit in int32 (the narrowest exact type); ``strings``, the string columns (categorical);
    ``shared``, those of them that are merge keys, whose categories must be the same on both
    sides of a merge (``shared_categories``)."""

    narrow: list[str]
    strings: list[str]
    shared: list[str]


def merge_types(path: Path) -> MergeTypes:
    """The ``MergeTypes`` of the table at ``path`` (``<data>/<set name>/<role>``), from the files'
    schema and statistics: nothing for a kind without merge keys (or a user's own table)."""
    kind = KINDS.get(path.parent.name.split("_")[0])
    if kind is None or not kind.merge_keys:
        return MergeTypes([], [], [])
    files = sorted(path.glob("*.parquet"))
    schema = pq.read_schema(files[0])
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    narrow = []
    for field in schema:
        if field.name in kind.merge_keys and pa.types.is_integer(field.type) and _fits(files, field.name, INT32):
            narrow.append(field.name)
    return MergeTypes(narrow, strings, [name for name in strings if name in kind.merge_keys])


def _fits(files: list[Path], column: str, bounds: tuple[int, int]) -> bool:
    """Whether every value of ``column`` lies within ``bounds``, by the row groups' statistics."""
    for file in files:
        meta = pq.read_metadata(file)
        index = meta.schema.names.index(column)
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max or stats.min < bounds[0] or stats.max > bounds[1]:
                return False
    return True


def shared_categories(path: Path, column: str) -> pa.Array:
    """The values of ``column`` in every table of the set at ``path``'s that has it, sorted: the
    categories both sides of a merge on it share."""
    return _set_values(path.parent, column)


@cache
def _set_values(folder: Path, column: str) -> pa.Array:
    """``shared_categories`` of a data set's folder, read once: each side's load asks for them."""
    found = []
    for table in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(table.glob("*.parquet"))
        if files and column in pq.read_schema(files[0]).names:
            found.append(pq.read_table(table, columns=[column])[column].unique())
    return pc.unique(pa.chunked_array(found)).drop_null().sort()
