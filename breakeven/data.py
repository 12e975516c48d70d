"""Deterministic test data, generated from a seed into Parquet and cached by its parameters.

Four kinds of table set, each a folder of Parquet files per table (one row group per file, so
every engine can read the files in parallel):

- ``G1``: db-benchmark's group-by table (string keys id1..id3, integer keys id4..id6 of
  cardinality K, K and N/K; integer v1 in [1,5], v2 in [1,15]; float v3 in [0,100)).
- ``J1``: db-benchmark's join tables: a left table ``x`` of N rows (integer keys id1..id3,
  their strings id4..id6, v1) and right tables ``small`` (id1, id4, v2), ``medium`` (id1, id2,
  id4, id5, v2) and ``big`` (id1..id6, v2) of N/1e6, N/1e3 and N rows, unique on their own key
  (small id1, medium id2, big id3), which matches about 90% of x's.
- ``D1``: a fact table of N rows and a dimension table of ``dim_rows`` rows, for the sweep of
  the small side of a merge across each engine's broadcast threshold.
- ``T1``: a G1-like table with a row id ``rid``, for chunked transforms that depend on order.

Every chunk draws from its own generator seeded by (seed, table, chunk), so chunks are
generated in parallel threads and the data never depends on scheduling.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from breakeven import user_data
from breakeven.errors import UsageError
from breakeven.units import fmt_num

MAX_CHUNK_ROWS = 1_000_000
CHUNKS_TARGET = 8  # at least this many files per table above 8e4 rows, for parallel reads
JOIN_MATCH = 1.1  # left keys drawn from 1.1x the right table's keys: ~91% of rows match


@dataclass(frozen=True)
class DataKind:
    """A kind of table set: its name, the parameters that vary it beyond rows and seed, the rows
    of each of its tables, and how its sets and questions are labelled."""

    name: str
    seed_index: int  # mixed into every chunk's seed: fixed once data was published with it
    params: tuple[str, ...]  # of DataSpec: ``k``, ``nas``, ``sorted``, ``dim_rows``
    tables: Callable[[int, int], dict[str, int]]  # (rows, dim_rows) -> rows of each table, by role
    keyed: bool = False  # string and integer key columns of cardinality k (G1-like)
    group_keys: tuple[str, ...] = ()  # string columns the questions group by (see string_keys)
    merge_keys: tuple[str, ...] = ()  # columns the merges join on (see merge_types)
    # Raised when the generator of this kind changes what it writes: a set cached by an older
    # generator is then made again (its marker, ``_COMPLETE``, names the version).
    version: int = 1

    def label(self, spec: DataSpec) -> str:
        """db-benchmark style: ``G1_1e7_1e2_0_0`` is N, K, percent nulls, sorted."""
        parts = [self.name, fmt_num(spec.rows)]
        if "dim_rows" in self.params:
            parts.append(fmt_num(spec.dim_rows))
        if "k" in self.params:
            parts += [fmt_num(spec.k), str(spec.nas), str(int(spec.sorted))]
        return "_".join(parts)

    def describe(self, case: Any) -> list[str]:
        """A question's data parameters other than rows, where they differ from the usual:
        ``k=1e5``, ``nas=5%``, ``sorted``, ``dim=1e4``; ``case`` has them as attributes."""
        parts = []
        if "k" in self.params:
            if case.k != 100:
                parts.append(f"k={fmt_num(case.k)}")
            if case.nas:
                parts.append(f"nas={case.nas}%")
            if case.sorted:
                parts.append("sorted")
        if "dim_rows" in self.params:
            parts.append(f"dim={fmt_num(case.dim_rows or 0)}")
        return parts


KINDS: dict[str, DataKind] = {
    kind.name: kind
    for kind in (
        DataKind("G1", 0, ("k", "nas", "sorted"), lambda n, d: {"x": n}, keyed=True, group_keys=("id1", "id2", "id3")),
        DataKind(
            "J1",
            1,
            (),
            lambda n, d: {"x": n, "small": max(n // 10**6, 10), "medium": max(n // 10**3, 10), "big": n},
            version=2,  # 2: db-benchmark's columns (x: id5, id6; medium: id1, id4, id5; big: id1, id2, id4..id6)
            merge_keys=("id1", "id2", "id3", "id5"),
        ),
        DataKind("D1", 2, ("dim_rows",), lambda n, d: {"x": n, "dim": d}, merge_keys=("fk", "key")),
        DataKind("T1", 3, ("k", "nas", "sorted"), lambda n, d: {"x": n}, keyed=True),
        # A user's own Parquet (``--table``, breakeven.user_data): its tables are the user set's.
        DataKind(user_data.KIND, 4, (), lambda n, d: {user_data.BIG: n}),
    )
}


def get_kind(name: str) -> DataKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UsageError(f"unknown data kind {name!r}: use one of {', '.join(KINDS)}") from None


@dataclass(frozen=True)
class DataSpec:
    """One table set: its kind and the parameters that determine every value in it."""

    kind: str
    rows: int
    k: int = 100
    nas: int = 0
    sorted: bool = False
    dim_rows: int = 0
    seed: int = 0
    user: str = ""  # kind U: the user set's id (breakeven.user_data)

    def __post_init__(self) -> None:
        kind = get_kind(self.kind)
        if (self.kind == user_data.KIND) != bool(self.user):
            raise UsageError(f"a user set is data of kind {user_data.KIND} only (kind {self.kind}, set {self.user!r})")
        if self.rows <= 0:
            raise UsageError(f"rows must be positive, got {self.rows}")
        if self.k <= 0:
            raise UsageError(f"key cardinality k must be positive, got {self.k}")
        if not 0 <= self.nas <= 100:
            raise UsageError(f"nas is a percentage of nulls from 0 to 100, got {self.nas}")
        if "dim_rows" in kind.params and self.dim_rows <= 0:
            raise UsageError(f"the {self.kind} merge sweep needs dim_rows > 0")
        if "nas" not in kind.params and (self.nas or self.sorted):
            raise UsageError(f"{self.kind} tables have no nulls and are not sorted")

    @property
    def name(self) -> str:
        """db-benchmark style: G1_1e7_1e2_0_0 is N, K, percent nulls, sorted."""
        if self.user:  # U_sales-1a2b3c4d_1e6
            return f"{self.kind}_{self.user}_{fmt_num(self.rows)}"
        base = get_kind(self.kind).label(self)
        return base if self.seed == 0 else f"{base}_s{self.seed}"

    def table_rows(self) -> dict[str, int]:
        """Rows of each table in the set, by role."""
        if self.user:
            return user_data.get(self.user).table_rows(self.rows)
        return get_kind(self.kind).tables(self.rows, self.dim_rows)


def _sample(kind: str, role: str, rows: int) -> pa.Table:
    """The first ``rows`` rows of a generated table of this kind and role, with 1e7 rows' key
    widths, made for the purpose (not written)."""
    spec = DataSpec(kind, 10**7, dim_rows=10 if "dim_rows" in get_kind(kind).params else 0)
    return _Generator(spec, role, rows).chunk(0, 0, rows)


@cache
def kind_columns(kind: str, role: str) -> list[str]:
    """The columns of a generated table of this kind and role (a workload that names none reads
    them all)."""
    return _sample(kind, role, 10).column_names


@cache
def arrow_bytes_per_row(kind: str, role: str = "x", columns: tuple[str, ...] | None = None) -> float:
    """Bytes a row of the kind's table (the big one by default; of ``columns``, or all) takes in
    memory (Arrow) as read from its files (plain strings), from 10,000 rows: what ``--bytes`` is
    converted with. The generator's key columns are dictionaries of every label of the size: a
    sample's id3 counted as 164 bytes a row, its strings are 16."""
    sample = _sample(kind, role, 10_000)
    sample = sample.select(list(columns)) if columns else sample
    plain = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in sample.columns]
    return sum(c.nbytes for c in plain) / 10_000


def chunk_rows_for(rows: int) -> int:
    """Rows per file: about CHUNKS_TARGET files, at most 1M rows and at least 10k per file."""
    return max(min(MAX_CHUNK_ROWS, math.ceil(rows / CHUNKS_TARGET)), min(rows, 10_000))


def _labels(count: int, width: int) -> pa.Array:
    """'id001', 'id002', ...: the string keys db-benchmark uses."""
    nums = pc.cast(pa.array(np.arange(1, count + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise("id", pc.utf8_lpad(nums, width, "0"), "")


def _id_strings(ids: np.ndarray) -> pa.Array:
    """'id' and the number: db-benchmark's string form of the J1 keys."""
    return pc.binary_join_element_wise("id", pc.cast(pa.array(ids), pa.string()), "")


def _with_nulls(arr: pa.Array, rng: np.random.Generator, nas: int) -> pa.Array:
    if not nas:
        return arr
    mask = rng.random(len(arr)) < nas / 100
    if isinstance(arr, pa.DictionaryArray):
        idx = pa.array(arr.indices.to_numpy(zero_copy_only=False), mask=mask)
        return pa.DictionaryArray.from_arrays(idx, arr.dictionary)
    return pa.array(arr.to_numpy(zero_copy_only=False), mask=mask)


class _Generator:
    """Makes the chunks of one table; labels are built once per table."""

    def __init__(self, spec: DataSpec, role: str, rows: int) -> None:
        self.spec, self.role, self.rows = spec, role, rows
        k = spec.k
        self.groups = max(spec.rows // k, 1)  # cardinality of id3 and id6: N/K
        if get_kind(spec.kind).keyed:
            self.small_labels = _labels(k, 3)
            self.big_labels = _labels(self.groups, 10)

    def chunk(self, index: int, start: int, n: int) -> pa.Table:
        rng = np.random.default_rng([self.spec.seed, get_kind(self.spec.kind).seed_index, hash_role(self.role), index])
        make: Callable[[np.random.Generator, int, int], dict[str, pa.Array]] = getattr(
            self, f"_{self.spec.kind.lower()}_{self.role}"
        )
        cols = make(rng, start, n)
        return pa.table(cols)

    def _codes(self, rng: np.random.Generator, high: int, n: int) -> np.ndarray:
        return rng.integers(0, high, n, dtype=np.int32)

    def _g1_x(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        k, g, nas = self.spec.k, self.groups, self.spec.nas

        def strings(labels: pa.Array, high: int) -> pa.Array:
            return pa.DictionaryArray.from_arrays(pa.array(self._codes(rng, high, n)), labels)

        cols = {
            "id1": strings(self.small_labels, k),
            "id2": strings(self.small_labels, k),
            "id3": strings(self.big_labels, g),
            "id4": pa.array(self._codes(rng, k, n) + 1),
            "id5": pa.array(self._codes(rng, k, n) + 1),
            "id6": pa.array(self._codes(rng, g, n) + 1),
            "v1": pa.array(rng.integers(1, 6, n, dtype=np.int32)),
            "v2": pa.array(rng.integers(1, 16, n, dtype=np.int32)),
            "v3": pa.array(np.round(rng.random(n) * 100, 6)),
        }
        return {name: _with_nulls(arr, rng, nas) for name, arr in cols.items()}

    def _t1_x(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        cols = self._g1_x(rng, start, n)
        keep = ("id1", "id3", "id4", "v1", "v2", "v3")
        return {"rid": pa.array(np.arange(start, start + n, dtype=np.int64))} | {c: cols[c] for c in keep}

    def _j1_keys(self, rng: np.random.Generator, n: int, roles: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Foreign keys into the right tables ``roles``: id1 (small), id2 (medium), id3 (big), each
        drawn from 1 to about 1.1 times that table's rows, so about 90% of them match."""
        sizes = self.spec.table_rows()
        number = {"small": 1, "medium": 2, "big": 3}
        return {
            f"id{number[role]}": rng.integers(1, math.ceil(sizes[role] * JOIN_MATCH) + 1, n, dtype=np.int64)
            for role in roles
        }

    def _j1_x(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        ids = self._j1_keys(rng, n, ("small", "medium", "big"))
        return {name: pa.array(v) for name, v in ids.items()} | {
            "id4": _id_strings(ids["id1"]),
            "v1": pa.array(np.round(rng.random(n) * 100, 6)),
            "id5": _id_strings(ids["id2"]),
            "id6": _id_strings(ids["id3"]),
        }

    def _right_keys(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """Unique keys 1..rows in a scrambled order: row i gets (a*i + c) mod rows + 1 with a
        coprime to rows, a permutation that each chunk computes for its own slice (O(chunk))."""
        if not hasattr(self, "_affine"):
            seeded = np.random.default_rng([self.spec.seed, hash_role(self.role)])
            a = int(seeded.integers(1, 2**31)) | 1
            while math.gcd(a, self.rows) != 1:
                a += 2
            self._affine = (a % self.rows or 1, int(seeded.integers(0, self.rows)))
        a, c = self._affine
        i = np.arange(start, start + n, dtype=np.int64)
        return (i * a + c) % self.rows + 1

    def _j1_small(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        keys = self._right_keys(rng, start, n)
        return {"id1": pa.array(keys), "id4": _id_strings(keys), "v2": pa.array(np.round(rng.random(n) * 100, 6))}

    def _j1_medium(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        keys = self._right_keys(rng, start, n)
        v2 = np.round(rng.random(n) * 100, 6)
        ids = self._j1_keys(rng, n, ("small",))
        return {
            "id1": pa.array(ids["id1"]),
            "id2": pa.array(keys),
            "id4": _id_strings(ids["id1"]),
            "id5": _id_strings(keys),
            "v2": pa.array(v2),
        }

    def _j1_big(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        keys = self._right_keys(rng, start, n)
        v2 = np.round(rng.random(n) * 100, 6)
        ids = self._j1_keys(rng, n, ("small", "medium")) | {"id3": keys}
        return (
            {f"id{i}": pa.array(ids[f"id{i}"]) for i in (1, 2, 3)}
            | {f"id{i + 3}": _id_strings(ids[f"id{i}"]) for i in (1, 2, 3)}
            | {"v2": pa.array(v2)}
        )

    def _d1_x(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        high = math.ceil(self.spec.dim_rows * JOIN_MATCH)
        return {
            "fk": pa.array(rng.integers(1, high + 1, n, dtype=np.int64)),
            "v1": pa.array(np.round(rng.random(n) * 100, 6)),
        }

    def _d1_dim(self, rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Array]:
        keys = self._right_keys(rng, start, n)
        return {
            "key": pa.array(keys),
            "grp": pa.array((keys % 100).astype(np.int32)),
            "weight": pa.array(np.round(rng.random(n), 6)),
        }


def hash_role(role: str) -> int:
    """A stable small integer per table role (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(role))


def _chunks(rows: int) -> Iterator[tuple[int, int, int]]:
    size = chunk_rows_for(rows)
    for index, start in enumerate(range(0, rows, size)):
        yield index, start, min(size, rows - start)


def _write_table(spec: DataSpec, role: str, rows: int, folder: Path, threads: int) -> None:
    gen = _Generator(spec, role, rows)
    folder.mkdir(parents=True)

    def write(chunk: tuple[int, int, int]) -> int:
        index, start, n = chunk
        table = _used_dictionaries(gen.chunk(index, start, n))
        # store_schema=False: readers see plain strings, not Arrow dictionaries, in every engine.
        pq.write_table(table, folder / f"part-{index:05d}.parquet", row_group_size=n, store_schema=False)
        return n

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(write, _chunks(rows)):
            pass


def _used_dictionaries(table: pa.Table) -> pa.Table:
    """Each string key's dictionary cut to the values the chunk uses: Parquet stores an Arrow
    dictionary whole in every file, and at 1e9 rows id3's 1e7 labels made 49 of a file's 66 MB
    (G1 would have been 69 GB; 25 GB so). The values, and what readers see, are the same."""
    columns = [
        pc.dictionary_encode(col.combine_chunks().dictionary_decode()) if pa.types.is_dictionary(col.type) else col
        for col in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def _sort_table(folder: Path) -> None:
    """Sort a written table by all its id columns, as db-benchmark's sorted variant (in memory)."""
    table = pq.read_table(folder)
    keys = [c for c in table.column_names if c.startswith("id")]
    table = table.sort_by([(c, "ascending") for c in keys])
    shutil.rmtree(folder)
    folder.mkdir()
    for index, start, n in _chunks(table.num_rows):
        pq.write_table(
            table.slice(start, n), folder / f"part-{index:05d}.parquet", row_group_size=n, store_schema=False
        )


def dataset_paths(spec: DataSpec, data_dir: Path) -> dict[str, Path]:
    """Folder of each table of the set, by role (a user's tables: their own, see user_data.paths)."""
    if spec.user:
        return user_data.paths(user_data.get(spec.user), spec.name, spec.rows, data_dir)
    return {role: data_dir / spec.name / role for role in spec.table_rows()}


def _marker(spec: DataSpec) -> str:
    """What a complete set's ``_COMPLETE`` holds: its name, and its kind's generator version from 2 on."""
    version = get_kind(spec.kind).version
    return spec.name + (f" v{version}" if version > 1 else "") + "\n"


def is_generated(spec: DataSpec, data_dir: Path) -> bool:
    """Whether the set is cached, written by this generator version (an older one is made again)."""
    if spec.user:
        return user_data.ready(user_data.get(spec.user), spec.name, spec.rows, data_dir)
    marker = data_dir / spec.name / "_COMPLETE"
    return marker.exists() and marker.read_text() == _marker(spec)


def generate(spec: DataSpec, data_dir: Path, threads: int | None = None) -> tuple[dict[str, Path], float]:
    """Write the table set unless cached; returns the table folders and seconds spent (0 if cached).

    A set is written under a temporary name and renamed when complete, so an interrupted
    generation never leaves a half-written set that looks cached.
    """
    final = data_dir / spec.name
    if is_generated(spec, data_dir):
        return dataset_paths(spec, data_dir), 0.0
    if spec.user:  # a user's tables: linked, and x resized
        start = time.perf_counter()
        found = user_data.prepare(user_data.get(spec.user), spec.name, spec.rows, data_dir)
        return found, time.perf_counter() - start
    threads = threads or os.cpu_count() or 1
    tmp = data_dir / f".{spec.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    try:
        for role, rows in spec.table_rows().items():
            _write_table(spec, role, rows, tmp / role, threads)
            if spec.sorted:
                _sort_table(tmp / role)
        (tmp / "_COMPLETE").write_text(_marker(spec))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dataset_paths(spec, data_dir), time.perf_counter() - start
