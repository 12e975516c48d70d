"""Reference answers, computed with pyarrow and NumPy (or, for a user's workload that names one,
by a single-machine engine: ``Workload.reference_engine``) in a process of their own and cached
as Parquet beside the data (``<data>/<set>/ref/<workload>-<key>.parquet``).

The key hashes the data's parameters and the source of the reference function with every
function and module of breakeven that it reaches: a changed question, or a changed helper of
its reference, computes a new answer instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import types
from dataclasses import asdict
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from breakeven import user_data, workload_file
from breakeven.data import DataSpec, dataset_paths
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
    return hashlib.sha256("\n".join(salt + _sources(fn, set())).encode()).hexdigest()[:12]


def reference_path(spec: DataSpec, workload: str, data_dir: Path) -> Path:
    """Where the reference answer of ``workload`` on ``spec`` is cached: a key per data and source."""
    key = hashlib.sha256(f"{json.dumps(asdict(spec), sort_keys=True)} {reference_key(workload)}".encode())
    return data_dir / spec.name / "ref" / f"{workload}-{key.hexdigest()[:12]}.parquet"


def compute(spec: DataSpec, workloads: list[str], data_dir: Path) -> None:
    """Compute and write the missing references (runs in the child process)."""
    paths = dataset_paths(spec, data_dir)
    for name in workloads:
        target = reference_path(spec, name, data_dir)
        if target.exists():
            continue
        wl = get_workload(name)
        if wl.reference_by is not None:
            answer = engine_answer(wl, spec, data_dir)
        else:
            assert wl.reference is not None, f"{name} has no reference"
            # Only the columns the question reads: at 1e8 rows all of G1 is 20 GB in Arrow, q1's two 3 GB.
            answer = wl.reference({role: pq.read_table(paths[role], columns=wl.reads(role)) for role in wl.tables})
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        pq.write_table(answer, tmp)
        tmp.replace(target)


def engine_answer(wl: Workload, spec: DataSpec, data_dir: Path) -> pa.Table:
    """The answer of the workload's reference engine (a single-machine one: its first mode, the
    default profile, every core of this process), as the worker makes an answer, untimed."""
    from breakeven.engines import Settings, engine_class
    from breakeven.worker import Tables, answer_table, produce

    assert wl.reference_by is not None
    cls = engine_class(wl.reference_by)
    paths, rows = dataset_paths(spec, data_dir), spec.table_rows()
    with tempfile.TemporaryDirectory(prefix="breakeven-reference-") as scratch:
        engine = cls(cls.modes[0], "default", Settings(os.cpu_count() or 1, None, Path(scratch), Path(scratch)))
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
) -> str | None:
    """Make sure the references exist; returns None, or why they could not be computed."""
    missing = [w for w in workloads if not reference_path(spec, w, data_dir).exists()]
    if not missing:
        return None
    job = {
        "data_dir": str(data_dir),
        "spec": asdict(spec),
        "workloads": missing,
        "plugins": list(plugins),
        "user_sets": user_data.registered(),
    }
    cmd = [sys.executable, "-m", "breakeven.reference", json.dumps(job)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"reference answers for {spec.name} took over {timeout:.0f}s"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"reference answers for {spec.name} failed (exit {done.returncode}): {tail}"
    return None


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    load_plugins(job["plugins"])
    user_data.restore(job["user_sets"])
    compute(DataSpec(**job["spec"]), job["workloads"], Path(job["data_dir"]))
