"""The CPUs a session may use. ``--cores N`` below what the runner may use is enforced, not
only passed to the engine as its thread count: the worker process and every process it starts
(the JVM, Ray's raylet and workers, Dask's worker processes), and a local cluster's servers, run
with their CPU affinity set to N of the runner's CPUs, so that no thread of an engine, of its
runtime or of a helper process uses more (measured before: Spark ``local[1]`` kept 1.46 to 1.91
cores busy, Ray 1.19 to 1.28, Dask processes 1.11 to 1.18). Affinity is inherited by every child
process and needs no control group, so it holds in containers too; each record says the cores
its timed runs kept busy (``cores_used``)."""

from __future__ import annotations

import os
import sys


def cpu_set(cores: int) -> list[int] | None:
    """The first ``cores`` CPUs the runner may use; None where that is all of them (nothing to limit)."""
    mine = sorted(os.sched_getaffinity(0))
    return mine[:cores] if cores < len(mine) else None


def pinned(cpus: list[int] | None) -> list[str]:
    """A command prefix that runs the command with its CPU affinity set to ``cpus`` (none: as is)."""
    if not cpus:
        return []
    code = (
        "import os, sys; os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')}); "
        "os.execvp(sys.argv[2], sys.argv[2:])"
    )
    return [sys.executable, "-c", code, ",".join(map(str, cpus))]
