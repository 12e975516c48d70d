"""PySpark in ``local[N]`` mode, or as a client of a standalone cluster (``cluster``: a Master
and Workers started with ``spark-class``, locally by breakeven or elsewhere): one SparkSession per
worker, DataFrame API, answers fetched as Arrow (``DataFrame.toArrow``).

Profiles: ``default`` is what ``SparkSession.builder.getOrCreate()`` gives (200 shuffle
partitions, adaptive execution on, 10 MB auto-broadcast threshold); ``tuned`` sizes shuffle
partitions to the data and cores, caches at least one partition per core, broadcasts small
right sides explicitly (see the join workloads) and runs the Python function per chunk on Arrow
batches (``mapInArrow``). Both bind to 127.0.0.1 with the web UI off, and
both size the driver's heap from the memory budget: in local mode the driver JVM does all the
work, and its 1 GiB default is a resource limit, not a tuning choice.

From files (``--from files``) a question reads ``spark.read.parquet`` without ``cache()``: the
scan is part of its plan, with Spark's column pruning and filter pushdown into the Parquet
reader, and file splits sized by ``spark.sql.files.maxPartitionBytes`` and the default
parallelism (https://spark.apache.org/docs/latest/sql-performance-tuning.html#other-configuration-options),
so the tuned profile keeps only its shuffle partitions there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from breakeven.engines import PARQUET_CODEC, ClusterKind, Engine, chunk_count, memory_estimate
from breakeven.errors import EngineUnavailable
from breakeven.java import find_java


def driver_host(master: str) -> str:
    """127.0.0.1 for a master on loopback; else this machine's address on the route to it
    (a UDP socket's connect sends nothing)."""
    import socket

    host = master.split("://")[-1].rsplit(":", 1)[0]
    address = socket.gethostbyname(host)
    if address.startswith("127."):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((address, 7077))
        return str(s.getsockname()[0])


class SparkEngine(Engine):
    name = "spark"
    modes = ("local", "cluster")
    profiles = ("default", "tuned")
    distributed = True
    pickler = "pyspark.cloudpickle"
    packages = ("pyspark",)
    extra = "spark"
    order = 5
    colour = "#d62728"
    cluster_kind = ClusterKind("spark://", (7077, 8080), ("spark-master", "spark-worker"), "pyspark")

    def start(self) -> None:
        java = find_java()
        if isinstance(java, str):
            raise EngineUnavailable(java)
        os.environ["JAVA_HOME"] = str(java.home)
        # The Python workers of mapInPandas must run this interpreter, with breakeven importable.
        os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        from pyspark.sql import SparkSession

        budget = self.settings.memory_budget or 8 * 2**30
        builder = (
            SparkSession.builder.appName("breakeven")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
        if self.mode == "cluster":
            builder = self._cluster(builder)
        else:
            # Heap at 60% of the budget: off-heap, metaspace and Python workers need the rest.
            builder = builder.master(f"local[{self.settings.cores}]").config(
                "spark.driver.memory", f"{int(budget * 0.6) // 2**20}m"
            )
        # Results brought to the driver (toArrow) may be as large as half the budget: Spark's 1 GiB
        # default aborts a 1e8-row transform's collection as a failed job
        # (https://spark.apache.org/docs/latest/configuration.html#application-properties,
        # spark.driver.maxResultSize). A resource limit, so both profiles set it.
        builder = builder.config("spark.driver.maxResultSize", f"{int(budget * 0.5) // 2**20}m")
        if self.settings.scratch_dir is not None:  # shuffle, spill and the driver's temporary files
            scratch = self.settings.scratch_dir / "spark"
            builder = builder.config("spark.local.dir", str(scratch)).config(
                "spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}"
            )
        # Not set, in either profile, because they change nothing here: Arrow conversions
        # (spark.sql.execution.arrow.pyspark.enabled serves toPandas and createDataFrame; toArrow,
        # mapInPandas and mapInArrow use Arrow always) and adaptive execution (on by default since
        # Spark 3.2: https://spark.apache.org/docs/latest/sql-performance-tuning.html#adaptive-query-execution).
        self.session = builder.getOrCreate()
        self.session.sparkContext.setLogLevel("WARN")
        self._started: dict[str, str] = self.session.conf.getAll  # the settings a part starts from
        self._settled: dict[str, str] | None = None  # the session's settings once a part is loaded (settle)

    def _cluster(self, builder: Any) -> Any:
        """A standalone cluster's client: the shared secret, and executors that fill the workers."""
        from breakeven.cluster.access import read_secret

        cluster = self.settings.cluster
        assert cluster is not None
        builder = builder.master(cluster["address"])
        # Executors connect back to the driver: on loopback it stays on 127.0.0.1; elsewhere (a
        # compose network) it binds the address that routes to the master.
        host = driver_host(cluster["address"])
        builder = builder.config("spark.driver.host", host).config("spark.driver.bindAddress", host)
        if host == "127.0.0.1" and not cluster.get("topology"):
            # A running cluster whose executors share one loopback address, such as containers in
            # one network namespace (cluster/compose.loopback.yml), but not one disk: with its
            # default (true), an executor reads the shuffle files of another one at that address
            # from its own disk and fails (NoSuchFileException ... shuffle_0_0_0.index, seen
            # with podman). Fetched over the network instead
            # (https://spark.apache.org/docs/latest/configuration.html#shuffle-behavior).
            builder = builder.config("spark.shuffle.readHostLocalDisk", "false")
        if cluster.get("secret_file"):
            # https://spark.apache.org/docs/latest/security.html#authentication
            builder = builder.config("spark.authenticate", "true").config(
                "spark.authenticate.secret", read_secret(Path(cluster["secret_file"]))
            )
        if topo := cluster.get("topology"):
            # One executor per worker, with all its cores, and a heap of 60% of its memory (the
            # Python workers of mapInPandas and off-heap memory need the rest); wait for all of
            # them before the first job (https://spark.apache.org/docs/latest/configuration.html#scheduling).
            builder = (
                builder.config("spark.executor.cores", str(topo["cores"]))
                .config("spark.executor.memory", f"{int(topo['memory'] * 0.6) // 2**20}m")
                .config("spark.cores.max", str(topo["cores"] * topo["workers"]))
                .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
            )
        return builder

    def topology(self) -> dict[str, Any] | None:
        if self.mode != "cluster":
            return None
        sc = self.session.sparkContext
        # The executors (the driver is in the list too), the cores the scheduler offers and the
        # executors' heap (a JVM size such as 5785m).
        executors = sc._jsc.sc().getExecutorMemoryStatus().size() - 1
        heap = sc.getConf().get("spark.executor.memory", "1g").lower()
        units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
        heap_bytes = int(float(heap.rstrip("kmgtb")) * units.get(heap.rstrip("b")[-1], 1))
        return {
            "workers": executors,
            "cores_per_worker": [sc.defaultParallelism // max(executors, 1)] * executors,
            "memory_per_worker": [heap_bytes] * executors,
        }

    def begin(self, chunk_rows: int | None) -> None:
        self._restore(self._started)
        self._settled = None
        if chunk_rows:
            # A Python function per chunk (mapInPandas, mapInArrow) gets Arrow batches of this many
            # rows: the part's chunk size, for every case of it; a runtime setting of the session
            # (https://spark.apache.org/docs/latest/api/python/tutorial/sql/arrow_pandas.html#setting-arrow-batch-size).
            self.session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(chunk_rows))

    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        frame = self.scan(role, path, rows, chunk_rows, None)
        found = frame.rdd.getNumPartitions()
        # Cached in partitions of the workload's chunk size. repartition(n) is a round-robin
        # shuffle of every row: affordable here, before the timed part, and never in scan.
        wanted = chunk_count(rows, chunk_rows) if chunk_rows else found
        if self.tuned and wanted < self.settings.cores:
            # At least one partition per core, so that every core scans the cached table
            # (https://spark.apache.org/docs/latest/rdd-programming-guide.html#parallelized-collections:
            # "2-4 partitions for each CPU"); a few files give fewer on many cores.
            wanted = self.settings.cores
        if wanted != found:
            frame = frame.repartition(wanted)
        frame = frame.cache()
        frame.count()  # forces the cache
        return frame

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        # Read in Spark's own splits of the files (spark.sql.files.maxPartitionBytes), whatever
        # the chunk size: the chunk a Python function sees is the Arrow batch, which the
        # session sets (spark.sql.execution.arrow.maxRecordsPerBatch, see begin). repartition(n) here would
        # shuffle every row inside the timed part: at 1e7 rows of T1 in chunks of 1e6, the Python
        # function written as Parquet took 12.0 s with repartition(10) against 4.5 s in the
        # files' 2 splits (scripts/chunked_read.py), and at 1e9 rows the shuffle spilled 19 GB.
        frame = self.session.read.parquet(str(path))
        if self.tuned and role == "x":
            # Shuffle partitions sized to the data (about 128 MiB each) and at least two per core,
            # instead of the fixed 200 that are slow on small data
            # (https://spark.apache.org/docs/latest/sql-performance-tuning.html#tuning-partitions,
            # https://github.com/apache/spark/pull/47349). Adaptive execution's own sizing (200
            # partitions coalesced after the map side, for parallelism or to
            # advisoryPartitionSizeInBytes with parallelismFirst=false) does no better: at 1e7
            # rows, q1, q3, q6, q8, q10 took 0.63, 1.89, 7.98, 5.26, 9.89 s with these 6
            # partitions, and 0.97, 0.98 and 1.05 of that (geometric means) coalesced for
            # parallelism, to 64 MiB and to 128 MiB (scripts/spark_shuffle_sizing.py).
            partitions = self.partitions(memory_estimate(path))
            self.session.conf.set("spark.sql.shuffle.partitions", str(partitions))
        return frame

    def settle(self) -> None:
        """The session's runtime settings as they were before the first run (its tables loaded):
        a setting a question makes does not reach the next one."""
        if self._settled is None:
            self._settled = self.session.conf.getAll
            return
        self._restore(self._settled)

    def _restore(self, settings: dict[str, str]) -> None:
        """The session's runtime settings made ``settings`` again."""
        conf = self.session.conf
        now = conf.getAll
        for key, value in now.items():
            if key not in settings:
                conf.unset(key)
            elif value != settings[key]:
                conf.set(key, settings[key])
        for key in settings.keys() - now.keys():
            conf.set(key, settings[key])

    def release(self, tables: dict[str, Any]) -> None:
        for frame in tables.values():
            frame.unpersist(blocking=True)  # the cached blocks dropped before the next part loads
        super().release(tables)

    def materialise(self, result: Any) -> Any:
        return result.toArrow()

    def to_arrow(self, answer: Any) -> pa.Table:
        return answer

    def write(self, result: Any, folder: Path) -> None:
        # DataFrameWriter.parquet: every task writes its partition's file, and the job commits
        # them before it returns (https://spark.apache.org/docs/latest/sql-data-sources-parquet.html).
        result.write.parquet(str(folder), compression=PARQUET_CODEC)

    def close(self) -> None:
        if self.session is not None:
            self.session.stop()
