"""Reference answers, computed with pyarrow and NumPy (or, for a user's workload that names one,
by a single-machine engine: ``Workload.reference_engine``) in a process of their own and cached
as Parquet beside the data (``<data>/<set>/ref/<workload>-<key>.parquet``).

A reference whose peak (``REFERENCE_PEAK`` times the columns it reads, as Arrow) would pass
``MEMORY_SHARE`` of this machine's memory is made x a part at a time, the other tables whole:
a batch at a time where partial answers merge (``Workload.batched``: q1, q3, an aggregated
merge) or each row stands alone (``Workload.rowwise``), else a part of x per set of values of a
key whose groups stand alone (``Workload.parts_by``: every group-by, the running total). An
answer of about a row per row of x (``Workload.answer_per_row``) from ``DIGEST_ROWS`` rows, or
larger than memory, is kept as its digest (``verify.Digest``, ``<key>.digest2.json``): compared
whole, it and its reference would not fit beside the engine's tables. Any other question there
is refused with the reason.

The key hashes the data's parameters and the source of the reference function with every
function and module of breakeven that it reaches: a changed question, or a changed helper of
its reference, computes a new answer instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from breakeven import user_data, workload_file
from breakeven.data import DataSpec, arrow_bytes_per_row, dataset_paths
from breakeven.files import write_json_atomic
from breakeven.verify import DIGEST_SUFFIX, Digest, DigestBuilder
from breakeven.workload_file import load_plugins
from breakeven.workloads import Workload, get_workload


def _sources(fn: types.FunctionType, seen: set[object]) -> list[str]:
    """The source of ``fn`` and of the breakeven functions and modules it names, recursively."""
    if fn in seen:
        return []
    seen.add(fn)
    found = [f"{fn.__module__}.{fn.__qualname__}", inspect.getsource(fn)]
    code_names = set(fn.__code__.co_names)
    for const in fn.__code__.co_consts:  # names used by nested functions and comprehensions
        if isinstance(const, types.CodeType):
            code_names |= set(const.co_names)
    for name in sorted(code_names):
        value = fn.__globals__.get(name)
        if isinstance(value, types.FunctionType) and _ours(value.__module__):
            found += _sources(value, seen)
        elif isinstance(value, types.ModuleType) and value.__name__.startswith("breakeven") and value not in seen:
            seen.add(value)
            found.append(inspect.getsource(value))
    return found


def _ours(module: str) -> bool:
    """breakeven's modules, and users' workload files: what a reference's key hashes."""
    return module.startswith("breakeven") or module in workload_file.LOADED


@cache
def reference_key(workload: str) -> str:
    """A hash of the workload's reference function and everything of breakeven it calls."""
    wl = get_workload(workload)
    if wl.reference_by is not None:  # an engine's answer: its implementation, and the engine
        fn, salt = wl.impls[wl.reference_by], [f"engine {wl.reference_by}"]
    elif wl.reference is not None:
        fn, salt = wl.reference, []
    else:
        raise ValueError(f"{workload} has no reference")
    seen: set[object] = set()
    sources = _sources(fn, seen)
    for part in (wl.partial, wl.merge, wl.finish):  # how a batched reference is made
        if isinstance(part, types.FunctionType):
            sources += _sources(part, seen)
    return hashlib.sha256("\n".join(salt + sources).encode()).hexdigest()[:12]


def reference_path(spec: DataSpec, workload: str, data_dir: Path) -> Path:
    """Where the reference answer of ``workload`` on ``spec`` is cached: a key per data and source."""
    key = hashlib.sha256(f"{json.dumps(asdict(spec), sort_keys=True)} {reference_key(workload)}".encode())
    return data_dir / spec.name / "ref" / f"{workload}-{key.hexdigest()[:12]}.parquet"


def digest_path(spec: DataSpec, workload: str, data_dir: Path) -> Path:
    """Where the digest of a reference too large to hold is cached (beside ``reference_path``)."""
    return reference_path(spec, workload, data_dir).with_suffix(DIGEST_SUFFIX)


def found(spec: DataSpec, workload: str, data_dir: Path) -> Path | None:
    """The cached reference: the answer, or its digest; None before it is computed."""
    return next((p for p in (reference_path(spec, workload, data_dir), digest_path(spec, workload, data_dir))
                 if p.exists()), None)  # fmt: skip


# The reference runs alone (before the engines of its data), so its peak may take half the memory.
MEMORY_SHARE = 0.5
# Its peak over its tables' size (``table_bytes``), measured at 1e7 rows: 1.5 to 1.8 for q1 to q5
# and q7, 2.5 to 4.8 for the transforms and merges, 5.8 for q6, q10 and the running total, 8.3 for
# q8 (the sorts' index arrays). q10 made whole at 1e8 rows was killed at 22 GiB.
REFERENCE_PEAK = 10
# An answer of a row per row of x is checked by digest from here: compared whole at 1e8 rows the
# worker would hold the answer, the reference and both sorted (4 to 8 GB each) beside the tables.
DIGEST_ROWS = 50_000_000
MERGE_ROWS = 8_000_000  # partial answers merged whenever they hold this many rows


def table_bytes(spec: DataSpec, wl: Workload) -> int:
    """The Arrow size of the columns ``wl`` reads of each table, from a generated sample; 0 for
    a user's data (read whole)."""
    if spec.kind == user_data.KIND:
        return 0
    rows = spec.table_rows()
    return int(sum(rows[r] * arrow_bytes_per_row(spec.kind, r, tuple(wl.reads(r) or ())) for r in wl.tables))


def parts_needed(spec: DataSpec, wl: Workload) -> int:
    """Into how many parts x must be split for the reference's peak to fit (1: it is made whole;
    ``BREAKEVEN_REFERENCE_MEMORY``, bytes, stands for this machine's memory: the tests make small
    data large with it)."""
    import psutil

    memory = int(os.environ.get("BREAKEVEN_REFERENCE_MEMORY", 0)) or psutil.virtual_memory().total
    return max(1, math.ceil(REFERENCE_PEAK * table_bytes(spec, wl) / (MEMORY_SHARE * memory)))


def in_batches(spec: DataSpec, wl: Workload) -> bool:
    """Whether the reference must be made a part (or batch) of x at a time."""
    return parts_needed(spec, wl) > 1


def by_digest(spec: DataSpec, wl: Workload) -> bool:
    """Whether the answer is kept, and checked, as its digest: about a row per row of x, from
    ``DIGEST_ROWS`` rows or where the tables do not fit whole."""
    return (wl.answer_per_row or wl.rowwise) and (spec.rows >= DIGEST_ROWS or in_batches(spec, wl))


def _others(wl: Workload, paths: dict[str, Path]) -> dict[str, pa.Table]:
    """The tables other than x, whole, with only the columns the question reads."""
    return {role: pq.read_table(paths[role], columns=wl.reads(role)) for role in wl.tables if role != "x"}


def batches(wl: Workload, paths: dict[str, Path], count: int) -> Iterator[dict[str, pa.Table]]:
    """The tables by role, x in ``count`` batches of consecutive rows, the others whole. As few
    as fit: a merge builds its hash table of the other table once per batch, and with Arrow's
    own batches (up to 131,072 rows, 763 at 1e8) join_big_inner_agg's reference at 1e8 rows had
    done a sixth of x in 50 minutes."""
    others = _others(wl, paths)
    dataset = ds.dataset(paths["x"], format="parquet")
    size = math.ceil(dataset.count_rows() / count)
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in dataset.to_batches(columns=wl.reads("x")):
        held.append(batch)
        rows += batch.num_rows
        if rows >= size:
            yield {"x": pa.Table.from_batches(held), **others}
            held, rows = [], 0
    if held:
        yield {"x": pa.Table.from_batches(held), **others}


def parts(wl: Workload, paths: dict[str, Path], count: int) -> Iterator[dict[str, pa.Table]]:
    """The tables by role, x in ``count`` parts by the values of ``wl.parts_by`` (every row of a
    value in one part, nulls in the first), the others whole; one part: x whole. Only the columns
    the question reads: at 1e8 rows all of G1 is 6.2 GB in Arrow, q1's two 1.3 GB."""
    others = _others(wl, paths)
    dataset = ds.dataset(paths["x"], format="parquet")
    if count == 1:
        yield {"x": dataset.to_table(columns=wl.reads("x")), **others}
        return
    key = wl.parts_by
    assert key is not None, f"{wl.name} declares no key to split it by"
    values: set[object] = set()
    for batch in dataset.to_batches(columns=[key]):
        values.update(pc.unique(batch.column(0)).to_pylist())
    nulls = None in values
    ordered = sorted(v for v in values if v is not None)
    count = max(1, min(count, len(ordered)))
    for i in range(count):
        where = pc.field(key).isin(ordered[i::count])
        if i == 0 and nulls:
            where = where | pc.field(key).is_null()
        yield {"x": dataset.to_table(columns=wl.reads("x"), filter=where), **others}


def batched_answer(wl: Workload, paths: dict[str, Path], count: int) -> pa.Table:
    """The answer from partial answers of ``count`` batches, merged as they come (``Workload.batched``)."""
    assert wl.merge is not None
    partial = wl.partial or wl.reference
    assert partial is not None
    merged: list[pa.Table] = []
    for tables in batches(wl, paths, count):
        merged.append(partial(tables))
        if sum(t.num_rows for t in merged) > MERGE_ROWS:
            merged = [wl.merge(pa.concat_tables(merged, promote_options="default"))]
    answer = wl.merge(pa.concat_tables(merged, promote_options="default"))
    return wl.finish(answer) if wl.finish else answer


def digest_of(wl: Workload, pieces: Iterable[dict[str, pa.Table]]) -> Digest:
    """The digest of an answer made a piece at a time: batches of a row-wise question, parts."""
    assert wl.reference is not None, f"{wl.name} has no reference"
    builder = DigestBuilder()
    for tables in pieces:
        builder.add(wl.reference(tables))
    return builder.digest()


def compute(spec: DataSpec, workloads: list[str], data_dir: Path) -> None:
    """Compute and write the missing references (runs in the child process)."""
    paths = dataset_paths(spec, data_dir)
    for name in workloads:
        target = reference_path(spec, name, data_dir)
        if found(spec, name, data_dir) is not None:
            continue
        wl = get_workload(name)
        count, digest = parts_needed(spec, wl), by_digest(spec, wl)
        ways = (wl.rowwise or wl.parts_by) if digest else (wl.merge or wl.parts_by)
        if wl.reference_by is None and count > 1 and not ways:
            gb = table_bytes(spec, wl) / 1e9
            raise SystemExit(
                f"{name} at {spec.rows:,} rows: its tables are {gb:.0f} GB in memory, and it declares no way to "
                "make its reference a part at a time (Workload.batched, Workload.rowwise, Workload.parts_by)"
            )
        if wl.reference_by is not None:
            answer = engine_answer(wl, spec, data_dir)
        elif digest:
            pieces = batches(wl, paths, count) if wl.rowwise and count > 1 else parts(wl, paths, count)
            write_json_atomic(digest_path(spec, name, data_dir), digest_of(wl, pieces).to_dict())
            continue
        elif count > 1 and wl.merge is not None:
            answer = batched_answer(wl, paths, count)
        else:  # whole (one part), or a part at a time
            assert wl.reference is not None, f"{name} has no reference"
            answer = pa.concat_tables([wl.reference(tables) for tables in parts(wl, paths, count)])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        pq.write_table(answer, tmp)
        tmp.replace(target)


def engine_answer(wl: Workload, spec: DataSpec, data_dir: Path) -> pa.Table:
    """The answer of the workload's reference engine (a single-machine one: its first mode, the
    default profile, every core of this process), as the worker makes an answer, untimed."""
    from breakeven.engines import SessionSettings, engine_class
    from breakeven.worker import Tables, answer_table, produce

    assert wl.reference_by is not None
    cls = engine_class(wl.reference_by)
    paths, rows = dataset_paths(spec, data_dir), spec.table_rows()
    with tempfile.TemporaryDirectory(prefix="breakeven-reference-") as scratch:
        engine = cls(cls.modes[0], "default", SessionSettings(os.cpu_count() or 1, None, Path(scratch), Path(scratch)))
        engine.start()
        try:
            tables = Tables("memory", {r: paths[r] for r in wl.tables}, {r: rows[r] for r in wl.tables})
            tables.load(engine, None)
            answer = produce(engine, wl, tables.context(engine, wl, None), None, Path(scratch) / "answer")
            return answer_table(engine, answer, None)
        finally:
            engine.close()


def ensure(
    spec: DataSpec, workloads: list[str], data_dir: Path, timeout: float | None = None, plugins: tuple[str, ...] = ()
) -> dict[str, str]:
    """Make sure the references exist, each made in a process of its own (one killed for memory
    takes no other with it); returns why, for each workload whose reference could not be made."""
    failed = {}
    for name in workloads:
        if found(spec, name, data_dir) is not None:
            continue
        job = {
            "data_dir": str(data_dir),
            "spec": asdict(spec),
            "workloads": [name],
            "plugins": list(plugins),
            "user_sets": user_data.registered(),
        }
        cmd = [sys.executable, "-m", "breakeven.reference", json.dumps(job)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            failed[name] = f"reference answer of {name} for {spec.name} took over {timeout:.0f}s"
            continue
        if done.returncode == -signal.SIGKILL:
            tail = "killed (SIGKILL: most likely out of memory)"
        else:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if done.returncode != 0:
            failed[name] = f"reference answer of {name} for {spec.name} failed (exit {done.returncode}): {tail}"
    return failed


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    load_plugins(job["plugins"])
    user_data.restore(job["user_sets"])
    compute(DataSpec(**job["spec"]), job["workloads"], Path(job["data_dir"]))
