"""A user's own Parquet as a question's tables (``breakeven run --table x=path/to/parquet``).

The tables are described, never copied into a record: each table's path, rows, bytes on disk
and columns (names and types) make a :class:`UserSet`, named by the folder's name and a hash of
what it holds (each file's path, size and time of change), so that changed files are a new set.
At its own size (no ``--rows``) a question reads the user's files where they are. ``--rows N``
resizes the big table ``x`` deterministically, so that a size sweep runs on the user's data:
down, a sample of N rows drawn with a fixed seed, in the table's order; up, the table repeated,
and the rest a sample. The resized table is written once under the data folder, as generated
data is, and found there again. The other tables (a dimension, the right side of a merge) are
used whole at every size.

The sets a run uses are registered in the runner's process (:func:`register`); a reference job
gets them with its job (:func:`registered`, :func:`restore`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from breakeven.errors import UsageError

KIND = "U"  # the data kind of a user's set, beside the generated ones (G1, J1, D1, T1)
BIG = "x"  # the table a size sweep resizes
SEED = 0
ROWS_PER_FILE = 1_000_000


@dataclass(frozen=True)
class UserTable:
    """One table as the user gave it: where, how many rows and bytes, and its columns."""

    path: str
    rows: int
    bytes: int
    columns: dict[str, str]  # name -> Arrow type


@dataclass(frozen=True)
class UserSet:
    """The tables of one ``--table`` set, by role, and its name (``sales-1a2b3c4d``)."""

    id: str
    tables: dict[str, UserTable]

    def table_rows(self, rows: int) -> dict[str, int]:
        """Rows of each table when the set is resized to ``rows``: only ``x`` changes."""
        return {role: rows if role == BIG else t.rows for role, t in self.tables.items()}

    def describe(self) -> dict[str, Any]:
        """What a record keeps of the set: schema and size, never its content."""
        return {"id": self.id, "tables": {role: asdict(t) for role, t in self.tables.items()}}


SETS: dict[str, UserSet] = {}


def parse(specs: list[str]) -> dict[str, Path]:
    """``ROLE=PATH`` options, by role."""
    tables: dict[str, Path] = {}
    for spec in specs:
        role, sep, path = spec.partition("=")
        if not sep or not role or not path:
            raise UsageError(f"--table {spec!r}: write ROLE=PATH, e.g. --table x=data/sales.parquet")
        if role in tables:
            raise UsageError(f"--table {role} given twice")
        tables[role] = Path(path)
    if BIG not in tables:
        raise UsageError(f"--table: name the big table {BIG} (--table {BIG}=PATH); the others join it")
    return tables


def _files(path: Path) -> list[Path]:
    """The Parquet files of a table: the file itself, or a folder's ``*.parquet`` (what every
    engine here reads of a folder)."""
    if not path.exists():
        raise UsageError(f"--table: {path} does not exist")
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise UsageError(f"--table: {path} holds no *.parquet file (a folder of Parquet files, or one file)")
    return files


def describe_table(path: Path) -> UserTable:
    """A Parquet file or folder of files: its rows, bytes and columns (from the footers only)."""
    files = _files(path)
    try:
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        schema = pq.read_schema(files[0])
    except (pa.ArrowInvalid, OSError) as exc:
        raise UsageError(f"--table: {path} is not Parquet that pyarrow reads: {str(exc).splitlines()[0]}") from None
    columns = {field.name: str(field.type) for field in schema}
    return UserTable(str(path.resolve()), rows, sum(f.stat().st_size for f in files), columns)


def register(tables: dict[str, Path]) -> UserSet:
    """Describe the tables and register them as a set of this process; returns it."""
    described = {role: describe_table(path) for role, path in tables.items()}
    digest = hashlib.sha256()
    for role, path in sorted(tables.items()):
        for f in _files(path):
            stat = f.stat()
            digest.update(f"{role} {f.resolve()} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    stem = re.sub(r"[^A-Za-z0-9]+", "-", Path(tables[BIG]).resolve().name.removesuffix(".parquet")).strip("-")
    user_set = UserSet(f"{stem or 'data'}-{digest.hexdigest()[:8]}", described)
    SETS[user_set.id] = user_set
    return user_set


def registered() -> list[dict[str, Any]]:
    """The registered sets, for a job in another process (:func:`restore`)."""
    return [asdict(s) for s in SETS.values()]


def restore(sets: list[dict[str, Any]]) -> None:
    for raw in sets:
        tables = {role: UserTable(**t) for role, t in raw["tables"].items()}
        SETS[raw["id"]] = UserSet(raw["id"], tables)


def get(set_id: str) -> UserSet:
    try:
        return SETS[set_id]
    except KeyError:
        raise UsageError(f"user data {set_id!r} is not registered here: pass its --table options again") from None


def check_columns(workload: str, reads: dict[str, list[str]], user_set: UserSet) -> None:
    """Every table the workload reads is in the set, with the columns it reads (one line if not)."""
    if absent := [role for role in reads if role not in user_set.tables]:
        given = ", ".join(sorted(user_set.tables))
        raise UsageError(f"{workload} reads table {absent[0]}: pass --table {absent[0]}=PATH too (given: {given})")
    for role, columns in reads.items():
        table = user_set.tables[role]
        if missing := [c for c in columns if c not in table.columns]:
            raise UsageError(
                f"{workload} reads column(s) {', '.join(missing)} of table {role}, which {table.path} lacks "
                f"(it has: {', '.join(table.columns)})"
            )


def paths(user_set: UserSet, name: str, rows: int, data_dir: Path) -> dict[str, Path]:
    """The folder of each table of the set at ``rows``: the user's folder; for a table given as
    one file, a folder under the data folder that links to it (engines read ``FOLDER/*.parquet``);
    ``x`` resized, under the data folder too (``<data>/<name>/x``)."""
    out = {}
    for role, table in user_set.tables.items():
        given = Path(table.path)
        out[role] = given if given.is_dir() else data_dir / f"{KIND}_{user_set.id}" / role
    if rows != user_set.tables[BIG].rows:
        out[BIG] = data_dir / name / BIG
    return out


def ready(user_set: UserSet, name: str, rows: int, data_dir: Path) -> bool:
    """Whether every folder of :func:`paths` is there (a resized ``x`` complete)."""
    return all(path.is_dir() for path in paths(user_set, name, rows, data_dir).values())


def prepare(user_set: UserSet, name: str, rows: int, data_dir: Path) -> dict[str, Path]:
    """Make what :func:`paths` names: links to single files, and ``x`` resized (written under a
    temporary name and renamed when complete)."""
    found = paths(user_set, name, rows, data_dir)
    for role, folder in found.items():
        given = Path(user_set.tables[role].path)
        if folder.is_dir():
            continue
        tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            if role == BIG and rows != user_set.tables[BIG].rows:
                resize(user_set, rows, tmp)
            else:
                tmp.mkdir(parents=True)
                (tmp / "part-00000.parquet").symlink_to(given)
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return found


def resize(user_set: UserSet, rows: int, folder: Path) -> None:
    """Write ``x`` at ``rows`` rows into ``folder`` (which must not exist): a deterministic sample
    down, or repeats and a sample up, in the table's order."""
    table = pq.read_table(user_set.tables[BIG].path)
    have = table.num_rows
    rng = np.random.default_rng(SEED)
    whole, rest = divmod(rows, have)
    pick = np.sort(rng.choice(have, size=rest, replace=False)) if rest else np.array([], dtype=np.int64)
    parts = [table] * whole + ([table.take(pa.array(pick))] if rest else [])
    out = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    folder.mkdir(parents=True)
    for index, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        n = min(ROWS_PER_FILE, rows - start)
        pq.write_table(out.slice(start, n), folder / f"part-{index:05d}.parquet", row_group_size=n)
