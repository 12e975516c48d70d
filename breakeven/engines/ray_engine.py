"""Ray Data on a single-node Ray started by ``ray.init()``: one Ray instance per worker session,
datasets read with ``ray.data.read_parquet`` and materialised in the object store, answers
fetched as Arrow blocks (``Dataset.to_arrow_refs``).

Profiles: ``default`` is what a newcomer gets (Ray's own block count at read, the default
``shuffle_v2`` strategy and its 200 shuffle partitions; a join, which has no default partition
count, gets that same 200). ``tuned`` sizes blocks and shuffle partitions to the data and the
cores, broadcasts small right sides of merges, pre-reduces per block where a function runs per
group, and picks the shuffle strategy by data size (see :meth:`RayEngine.load`). The batch size
of ``map_batches`` is the workload's ``chunk_rows`` in both profiles, as Spark's Arrow batch size.

Ray binds to 127.0.0.1, with the dashboard and usage stats off; its session directory lives in
the runner's scratch folder, a short path (Unix socket paths are limited to 107 bytes), whose
``logs`` the runner moves to the run's folder when the session ends.

From files (``--from files``) a question starts from ``read_parquet`` without ``materialize()``:
the read streams into the question's operators, and Ray Data's optimizer pushes projections and
filters into the read (``ProjectionPushdown``, ``PredicatePushdown`` in
``ray/data/_internal/logical/rules``); the tuned profile reads the same block count and picks the
same shuffle strategy as in memory.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa

from breakeven.engines import PARQUET_CODEC, ClusterKind, Engine, chunk_count, memory_estimate
from breakeven.workloads import Ctx, Workload, rayops

# Below this in-memory size the tuned profile uses the task-based sort shuffle: the default hash
# shuffle starts a pool of aggregator actors for every shuffle, a fixed cost of seconds that only
# pays off on larger data (https://github.com/ray-project/ray/issues/61016; measured here: a
# 100-group sum of 1e6 rows takes 4.3 s with the hash shuffle, 0.35 s with the sort shuffle,
# while 1e5 groups of 1e7 rows take 5 s with the hash shuffle and 19 s with the sort shuffle).
SORT_SHUFFLE_BELOW_BYTES = 256 * 2**20
MIN_OBJECT_STORE = 256 * 2**20
# Nodes of fewer CPUs cannot run Ray's actor-based join: its aggregators hold a share of a CPU
# each, and its map tasks a whole one (``rayops.task_shuffle``).
ACTOR_JOIN_MIN_CPUS = 2
SETTLE_SECONDS = 120.0  # the most a run waits for the last one's tasks and actors to let go (settle)


@dataclass
class RayPlan:
    """What Ray workloads need besides the datasets: shuffle partitions (None: Ray's default)."""

    partitions: int | None = None
    default_partitions: int = 200
    hash_shuffle: bool = True  # False under the sort shuffle, which cannot repartition by key
    # Whether a join may run as Ray's actor-based JoinOperator: only if every node has a CPU for
    # a map task beside its aggregators' share (see ``rayops.task_shuffle``).
    actor_join: bool = True

    @property
    def strategy(self) -> str:
        """The session's shuffle strategy, as ``DataContext.shuffle_strategy`` names it."""
        return rayops.HASH_SHUFFLE if self.hash_shuffle else rayops.SORT_SHUFFLE

    @property
    def join_partitions(self) -> int:
        """``Dataset.join`` requires a partition count: the tuned one, or Ray's shuffle default."""
        return self.partitions or self.default_partitions


def _check_bound_as_told() -> None:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is first imported
    (``ray._private.ray_constants.ENABLE_RAY_CLUSTER``): where something imported Ray before
    :meth:`RayEngine.start` set it, Ray would bind to the machine's outward address. Refuse
    rather than listen beyond what the environment says."""
    from ray._private import ray_constants

    # read as Ray reads it (ray._common.utils.env_bool, with Ray's default)
    wanted = ray_constants.env_bool(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, not ray_constants.IS_WINDOWS_OR_OSX)
    if wanted != ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(
            f"Ray was imported before {ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR} was set for this session, and "
            "would bind beyond 127.0.0.1: set it (breakeven.cluster.access.ray_env) before importing ray"
        )


class RayEngine(Engine):
    name = "ray"
    modes = ("local", "cluster")
    profiles = ("default", "tuned")
    distributed = True
    pickler = "ray.cloudpickle"
    packages = ("ray",)
    extra = "ray"
    order = 6
    colour = "#9467bd"
    cluster_kind = ClusterKind("", (6379, 8265), ("ray-head", "ray-worker"), "ray")

    def start(self) -> None:
        from breakeven.cluster.access import on_loopback, ray_env

        self._told: set[Path] = set()
        # Set before Ray is imported (it reads them once): no usage report
        # (https://docs.ray.io/en/latest/cluster/usage-stats.html), the cluster's token, and on
        # loopback RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0. Without it Ray replaces 127.0.0.1 by the
        # machine's outward address and binds its GCS, raylet and workers on every interface
        # (``resolve_ip_for_localhost``; seen with ``ss -ltn``), whatever ``_node_ip_address`` says.
        cluster = self.settings.cluster
        if cluster is None:
            os.environ.update(ray_env(None, loopback=True))
        else:
            secret = cluster.get("secret_file")
            os.environ.update(ray_env(Path(secret) if secret else None, on_loopback(cluster["address"])))
        import ray
        import ray.data

        _check_bound_as_told()
        if self.mode == "cluster":
            self._connect()
        else:
            self._start_local()
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        self.session = RayPlan(
            default_partitions=context.default_hash_shuffle_parallelism,
            actor_join=min(self._node_cpus()) >= ACTOR_JOIN_MIN_CPUS,
        )

    def _connect(self) -> None:
        """A driver of a running cluster (its token is in the environment, see :meth:`start`).

        A Ray driver runs on a node of its cluster: ``ray.init(address=...)`` attaches to a raylet
        of this machine (https://docs.ray.io/en/latest/ray-core/starting-ray.html), the head's
        where there is one. It must be a node that outlives the driver: Ray Data pins its detached
        actors (``AutoscalingCoordinator``, ``_StatsActor``) to the first driver's node with a hard
        ``NodeAffinitySchedulingStrategy``: once that node has left, they cannot be scheduled
        (tried: a node without CPUs joining per session in the compose ``bench`` container; the
        session after the one that made the coordinator hung in its merge until the timeout)."""
        import ray

        assert self.settings.cluster is not None
        if not _raylet_here():
            raise RuntimeError(
                "no Ray node runs on this machine, and a Ray driver runs on a node of its cluster: run "
                "breakeven on the head node (compose: breakeven cluster compose run, or docker compose exec ray-head)"
            )
        ray.init(address=self.settings.cluster["address"], log_to_driver=False, logging_level=logging.WARNING)

    def _start_local(self) -> None:
        import ray

        budget = self.settings.memory_budget or 8 * 2**30
        scratch = self.settings.scratch_dir or Path(tempfile.mkdtemp(prefix="breakeven-"))
        ray.init(
            num_cpus=self.settings.cores,
            # The object store holds the materialised tables and shuffle blocks: 30% of the
            # budget, Ray's own default share of memory, taken from the budget instead.
            object_store_memory=max(MIN_OBJECT_STORE, int(budget * 0.3)),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _node_ip_address="127.0.0.1",
            _temp_dir=str(scratch / "ray"),
        )

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        frame = self.scan(role, path, rows, chunk_rows, None)
        if chunk_rows:  # held in blocks of the workload's chunk size (adjacent blocks split or combined)
            frame = frame.repartition(chunk_count(rows, chunk_rows))
        return frame.materialize()

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        import ray.data

        context = ray.data.DataContext.get_current()
        if self.tuned:
            size = memory_estimate(path)
            blocks = self.partitions(size)
            if role == "x":
                self.session.partitions = blocks
                # A dataset keeps the DataContext it was created with, so the strategy is set
                # here, before the read (https://docs.ray.io/en/latest/data/shuffling-data.html).
                self.session.hash_shuffle = size >= SORT_SHUFFLE_BELOW_BYTES
                context.shuffle_strategy = self.session.strategy
            # At least two blocks per core, so every core works, and blocks of about 128 MiB
            # (https://docs.ray.io/en/latest/data/performance-tips.html#tuning-read-parallelism).
            frame = ray.data.read_parquet(str(path), override_num_blocks=blocks)
        else:
            frame = ray.data.read_parquet(str(path))
        if role == "x" and path not in self._told:  # to the session log, once: what the profile chose
            self._told.add(path)
            strategy = context.shuffle_strategy.value
            print(f"ray: {path.name} shuffle strategy {strategy}, partitions {self.session.partitions}", flush=True)
        # Streamed in the reader's blocks, whatever the chunk size: the chunk a Python function
        # sees is its batch (map_batches' batch_size, which the workload sets). repartition(n) is
        # an all-to-all operator: it waits for every block of the read before the first batch
        # goes on, "incompatible with streaming" (https://github.com/ray-project/ray/issues/36724).
        # At 1e7 rows of T1 in chunks of 1e6: 5.4 s with repartition(10), 3.9 s without
        # (scripts/chunked_read.py).
        return frame

    def build(self, wl: Workload, ctx: Ctx) -> Any:
        # A loaded dataset keeps its own DataContext, shared by every dataset made from it: a
        # question may change its shuffle strategy (rayops.aggregate), so each starts from the
        # session's.
        if self.tuned:
            for table in ctx.tables.values():
                table.context.shuffle_strategy = self.session.strategy
        return super().build(wl, ctx)

    def settle(self) -> None:
        """Wait, untimed, until no task or actor of an earlier run holds a CPU: the hash shuffle's
        aggregator actors of one run may still hold the cores when the next starts (q1 tuned at
        1e7 rows took 3.5 to 4 s a run while they did, 0.3 s once they had let go)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while (busy := _busy_cpus()) > 1e-6:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray's tasks and actors still hold {busy:g} CPUs after {SETTLE_SECONDS:.0f} s")
            time.sleep(0.05)

    def materialise(self, result: Any) -> Any:
        return rayops.fetch(result)

    def to_arrow(self, answer: Any) -> pa.Table:
        return answer

    def write(self, result: Any, folder: Path) -> None:
        # Dataset.write_parquet runs the dataset and writes its blocks from the tasks that hold
        # them (https://docs.ray.io/en/latest/data/saving-data.html#writing-data-to-files).
        result.write_parquet(str(folder), compression=PARQUET_CODEC)  # passed to pyarrow's writer

    def topology(self) -> dict[str, Any] | None:
        if self.mode != "cluster":
            return None
        nodes = _worker_nodes()
        return {
            "workers": len(nodes),
            "cores_per_worker": sorted(int(n["Resources"]["CPU"]) for n in nodes),
            "memory_per_worker": sorted(int(n["Resources"].get("memory", 0)) for n in nodes),
        }

    def _node_cpus(self) -> list[float]:
        """The CPUs of each node that runs tasks: the cluster's workers, or the local node."""
        if self.mode != "cluster":
            return [float(self.settings.cores)]
        return [n["Resources"]["CPU"] for n in _worker_nodes()] or [0.0]

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()


def _busy_cpus() -> float:
    """The CPUs that tasks and actors hold now, over the whole cluster (Ray's view of resources)."""
    import ray

    return ray.cluster_resources().get("CPU", 0.0) - ray.available_resources().get("CPU", 0.0)


def _worker_nodes() -> list[dict[str, Any]]:
    """The live nodes of the connected cluster that have CPUs (a head without CPUs is left out)."""
    import ray

    return [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]


def _raylet_here() -> bool:
    """Whether a Ray node (its raylet) runs on this machine, visible to this process."""
    return any(proc.info["name"] == "raylet" for proc in psutil.process_iter(["name"]))
