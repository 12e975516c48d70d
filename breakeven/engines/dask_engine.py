"""Dask DataFrame: ``threads`` (the threaded scheduler in one process), ``processes`` (a
LocalCluster of single-threaded worker processes on 127.0.0.1 with a distributed Client) and
``cluster`` (a distributed Client of a scheduler started with ``dask scheduler``/``dask worker``,
locally by breakeven or elsewhere).

Profiles: ``default`` is what a newcomer gets from ``dd.read_parquet`` (one partition per
file); ``tuned`` stores string keys of few values as ``category`` and sizes partitions (see
:meth:`DaskEngine.load`), forces broadcast joins for small right sides, sets ``split_out`` by
the answer's estimated size (see ``workloads/groupby.py``) and, in ``threads``, shuffles in
memory (tasks) instead of on disk when the table fits in memory (see
:meth:`DaskEngine._shuffle_in_memory`).

From files (``--from files``) ``dd.read_parquet`` is the first step of the question's graph,
not persisted: Dask's optimizer reads only the columns the question uses
(https://docs.dask.org/en/stable/dataframe-optimizer.html, "Projection Pushdown") and squashes
the files' partitions by the share of columns read
(https://docs.dask.org/en/stable/generated/dask.dataframe.read_parquet.html). The tuned
profile keeps that partitioning (no ``repartition`` of its own, which would run in every query).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa

from breakeven.columns import string_keys
from breakeven.engines import PARQUET_CODEC, ClusterKind, Engine, chunk_count, memory_estimate

# The tuned load stores a string group-by key as ``category`` where its distinct values are at
# most this share of a file's rows: G1's id1 and id2 (100 values), not id3 (N/100 values).
FEW_VALUES = 0.01


class DaskEngine(Engine):
    name = "dask"
    modes = ("threads", "processes", "cluster")
    profiles = ("default", "tuned")
    distributed = True
    pickler = "cloudpickle"
    packages = ("dask", "distributed")
    imports = ("dask.dataframe", "distributed")
    extra = "dask"
    order = 4
    colour = "#ff7f0e"
    cluster_kind = ClusterKind("tcp://", (8786, 8787), ("dask-scheduler", "dask-worker"), "distributed")

    client: Any = None
    cluster: Any = None
    held: frozenset[Any] = frozenset()  # the scheduler's keys of the loaded tables' persisted partitions
    SETTLE_SECONDS = 30.0

    def start(self) -> None:
        import dask
        import dask.dataframe  # noqa: F401

        self._told: set[Path] = set()
        self._shuffle_method = dask.config.get("dataframe.shuffle.method", None)
        cores = self.settings.cores
        scratch = self.settings.scratch_dir
        if scratch is not None:  # spills, disk shuffles and workers' folders in the session's scratch, not /tmp
            (scratch / "dask").mkdir(parents=True, exist_ok=True)
            dask.config.set({"temporary-directory": str(scratch / "dask")})
        if self.mode == "threads":
            dask.config.set(scheduler="threads", num_workers=cores)
            return
        from distributed import Client, LocalCluster

        if self.mode == "cluster":
            assert self.settings.cluster is not None
            self.client = Client(self.settings.cluster["address"], timeout="30s")
            self.session = self.client
            return
        budget = self.settings.memory_budget
        self.cluster = LocalCluster(
            n_workers=cores,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # With a budget, give each worker its share so Dask spills to disk before the
            # runner's limit is hit (https://distributed.dask.org/en/stable/worker-memory.html).
            memory_limit=budget // cores if budget else "auto",
            local_directory=str(scratch / "dask") if scratch is not None else None,
        )
        self.client = Client(self.cluster)
        self.session = self.client  # the workloads' split_out tells worker processes from threads

    def begin(self, chunk_rows: int | None) -> None:
        import dask

        dask.config.set({"dataframe.shuffle.method": self._shuffle_method})  # as the session started

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        import dask.dataframe as dd

        frame = dd.read_parquet(str(path))
        if chunk_rows:  # the workload's chunk size decides the partitions
            frame = frame.repartition(npartitions=chunk_count(rows, chunk_rows))
        if role == "x":
            self._shuffle_in_memory(path, True)
        if self.tuned and (keys := few_valued(path, string_keys(path))):
            # String keys of few values as category, with known categories, converted once here,
            # as db-benchmark's pandas and Dask scripts and pandas' tuned profile do
            # (https://docs.dask.org/en/stable/dataframe-categoricals.html). Measured at 1e7 rows
            # in threads (median of 3): q1 0.180 -> 0.108 s, q2 0.471 -> 0.260, q10 8.26 -> 6.09;
            # id3 (1e5 values) as category too made q3 0.76 -> 1.59 s and q7 0.58 -> 2.13 s, so
            # a key of many values stays a string.
            frame = frame.astype(dict.fromkeys(keys, "category")).categorize(columns=keys)
        if self.tuned and role == "x" and not chunk_rows:
            # Partitions sized from the files, before the one persist: a persisted table
            # repartitioned and persisted again held two copies at the peak (at 1e8 rows the J1
            # merges failed loading where the default loaded).
            wanted = self.partitions(memory_estimate(path), per_core=1)
            if wanted != frame.npartitions:
                frame = frame.repartition(npartitions=wanted)
        frame = self._persist(frame)
        if self.client is not None:  # (the collection's own key names differ from the scheduler's)
            self.held = self._wanted()
        return frame

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        import dask.dataframe as dd

        frame = dd.read_parquet(str(path))
        if chunk_rows:  # the workload's chunk size decides the partitions
            frame = frame.repartition(npartitions=chunk_count(rows, chunk_rows))
        if role == "x":
            self._shuffle_in_memory(path, memory_estimate(path) <= self._memory() // 2)
        return frame

    def _memory(self) -> int:
        return self.settings.memory_budget or psutil.virtual_memory().total

    def _shuffle_in_memory(self, path: Path, fits: bool) -> None:
        """The tuned threads profile's shuffle method, chosen by the question's table. Without a
        distributed Client, Dask shuffles through files on disk (partd), its choice for data
        larger than memory on one machine
        (https://docs.dask.org/en/stable/dataframe-groupby.html#shuffle-methods). A table that
        fits in memory (loaded, or from files within half the session's memory, the other half
        for the shuffle's copies) is shuffled in memory (tasks). Measured at 1e7 rows in memory:
        q6 0.63 s (tasks) against 1.37 s (disk), q10 4.3 s against 7.0 s; q8, which shuffles
        only each partition's top two per group, 0.61 s against 0.50 s. At 1e9 rows from files
        (62 GB in memory) q3's tasks shuffle ran out of an 18.8 GiB budget in 4 minutes."""
        if not (self.tuned and self.mode == "threads"):
            return
        import dask

        method = "tasks" if fits else "disk"
        dask.config.set({"dataframe.shuffle.method": method})
        if path not in self._told:  # to the session log, once: what the profile chose
            self._told.add(path)
            print(f"dask: {path.name} shuffle method {method}", flush=True)

    def upload(self, files: list[Path]) -> None:
        # Dask's way to give its workers a module of the client's
        # (https://distributed.dask.org/en/stable/api.html#distributed.Client.upload_file).
        if self.client is not None:
            for path in files:
                self.client.upload_file(str(path))

    def _persist(self, frame: Any) -> Any:
        frame = frame.persist()
        if self.client is not None:
            from distributed import wait

            wait(frame)
        return frame

    def release(self, tables: dict[str, Any]) -> None:
        """The tables' persisted partitions let go: the client releases their keys asynchronously,
        so wait, untimed, until the scheduler wants none (the next part's ``held`` are its own)."""
        super().release(tables)
        self.held = frozenset()
        if self.client is not None:
            self._wait(lambda: len(self._wanted()), "keys of the last tables")

    def _wanted(self) -> frozenset[Any]:
        """The scheduler's keys that a client wants (the loaded tables' persisted partitions)."""

        def wanted(dask_scheduler: Any) -> list[Any]:  # by value: the scheduler may lack breakeven
            return [key for key, ts in dask_scheduler.tasks.items() if ts.who_wants]

        return frozenset(self.client.run_on_scheduler(wanted))

    def _wait(self, left: Callable[[], int], what: str) -> None:
        """Poll, untimed, until ``left()`` is 0; raise after ``SETTLE_SECONDS``."""
        deadline = time.monotonic() + self.SETTLE_SECONDS
        while count := left():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler still holds {count} {what} after {self.SETTLE_SECONDS:.0f} s")
            time.sleep(0.01)

    def materialise(self, result: Any) -> Any:
        return result.compute()

    def leftover(self) -> int:
        """Tasks the scheduler has of anything but the loaded tables, in any state but released
        (a released task is only a persisted partition's lineage: it holds no data)."""
        held = self.held

        def count(dask_scheduler: Any) -> int:
            return sum(1 for key, ts in dask_scheduler.tasks.items() if key not in held and ts.state != "released")

        return int(self.client.run_on_scheduler(count))

    def settle(self) -> None:
        """The client releases a run's result keys after it has the answer, asynchronously; a run
        submitted before the scheduler has forgotten them gets the results still in memory
        (distributed does not recompute a key it holds) and times nothing. Seen once: q8's
        groupby-apply at 1e6 rows, two repeats of 18 ms between runs of 4.8 and 6.7 s. So wait,
        untimed, until the scheduler holds nothing but the loaded tables (``held``)."""
        if self.client is not None:
            self._wait(self.leftover, "tasks of the last run")

    def to_arrow(self, answer: Any) -> pa.Table:
        return pa.Table.from_pandas(answer, preserve_index=False)

    def write(self, result: Any, folder: Path) -> None:
        # DataFrame.to_parquet computes the graph; each partition's file is written by the
        # worker that holds it, without the index
        # (https://docs.dask.org/en/stable/generated/dask.dataframe.to_parquet.html).
        result.to_parquet(str(folder), write_index=False, compression=PARQUET_CODEC)

    def topology(self) -> dict[str, Any] | None:
        if self.mode != "cluster":
            return None
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return {
            "workers": len(workers),
            "cores_per_worker": sorted(w["nthreads"] for w in workers),
            "memory_per_worker": sorted(w["memory_limit"] for w in workers),
        }

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def few_valued(path: Path, keys: list[str]) -> list[str]:
    """The keys whose distinct values are at most ``FEW_VALUES`` of the rows of the table's first
    file, as one looks before choosing a dtype (``nunique``)."""
    if not keys:
        return []
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sample = pq.read_table(min(path.glob("*.parquet")), columns=keys)
    return [k for k in keys if pc.count_distinct(sample[k]).as_py() <= FEW_VALUES * sample.num_rows]
