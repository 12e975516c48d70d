"""Reference answers, computed with pyarrow and NumPy in a process of their own and cached
as Parquet beside the data (``<data>/<set>/ref/<workload>.parquet``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq

from breakeven.data import DataSpec, dataset_paths
from breakeven.workloads import get_workload, load_plugins


def reference_path(spec: DataSpec, workload: str, data_dir: Path) -> Path:
    return data_dir / spec.name / "ref" / f"{workload}.parquet"


def compute(spec: DataSpec, workloads: list[str], data_dir: Path) -> None:
    """Compute and write the missing references (runs in the child process)."""
    tables = {role: pq.read_table(path) for role, path in dataset_paths(spec, data_dir).items()}
    for name in workloads:
        target = reference_path(spec, name, data_dir)
        if target.exists():
            continue
        wl = get_workload(name)
        assert wl.reference is not None, f"{name} has no reference"
        answer = wl.reference({role: tables[role] for role in wl.tables})
        target.parent.mkdir(exist_ok=True)
        tmp = target.with_suffix(".tmp")
        pq.write_table(answer, tmp)
        tmp.replace(target)


def ensure(
    spec: DataSpec, workloads: list[str], data_dir: Path, timeout: float | None = None, plugins: tuple[str, ...] = ()
) -> str | None:
    """Make sure the references exist; returns None, or why they could not be computed."""
    missing = [w for w in workloads if not reference_path(spec, w, data_dir).exists()]
    if not missing:
        return None
    job = {"data_dir": str(data_dir), "spec": asdict(spec), "workloads": missing, "plugins": list(plugins)}
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
    compute(DataSpec(**job["spec"]), job["workloads"], Path(job["data_dir"]))
