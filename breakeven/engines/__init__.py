"""Engines behind one small protocol: start, load, run a workload, materialise, close.

Engine modules are imported lazily by name, so a missing optional dependency costs nothing
until that engine is asked for, and then the error names the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from breakeven.errors import EngineUnavailable, Unsupported, UsageError
from breakeven.workloads import Ctx, Workload

# name -> (module, class); the order is the order of tables and reports
REGISTRY: dict[str, tuple[str, str]] = {
    "pandas": ("breakeven.engines.pandas_engine", "PandasEngine"),
    "polars": ("breakeven.engines.polars_engine", "PolarsEngine"),
    "duckdb": ("breakeven.engines.duckdb_engine", "DuckDBEngine"),
    "dask": ("breakeven.engines.dask_engine", "DaskEngine"),
    "spark": ("breakeven.engines.spark_engine", "SparkEngine"),
    "ray": ("breakeven.engines.ray_engine", "RayEngine"),
}


TARGET_PARTITION_BYTES = 128 * 2**20  # the partition (block) size the distributed engines' docs recommend
PARQUET_TO_MEMORY = 4  # in-memory size of our Parquet data is about four times its file size


def memory_estimate(path: Path) -> int:
    """A table's size in memory, estimated from its Parquet files without reading them."""
    return sum(f.stat().st_size for f in path.glob("*.parquet")) * PARQUET_TO_MEMORY


def chunk_count(rows: int, chunk_rows: int) -> int:
    """Partitions (blocks) of ``chunk_rows`` rows: how the chunked engines apply the chunk size."""
    return max(1, math.ceil(rows / chunk_rows))


@dataclass(frozen=True)
class Settings:
    """Resources an engine session may use."""

    cores: int
    memory_budget: int | None = None  # bytes for the whole process tree
    log_dir: Path | None = None
    # A short path of the runner's for temporary files (Spark's shuffle files, Ray's session
    # directory). The runner moves any ``logs`` folder in it to the run's logs and deletes the
    # rest when the session ends, even when the worker was killed.
    scratch_dir: Path | None = None
    # The cluster mode's cluster: ``address`` (tcp://, spark:// or a Ray GCS host:port),
    # ``secret_file`` (Spark's shared secret or Ray's token; None: the engine's own environment),
    # and for clusters the runner started, ``topology`` (workers, cores and memory per worker).
    cluster: dict[str, Any] | None = None


class Engine(ABC):
    """One engine session in one mode and profile. Subclasses keep the engine's own idiom."""

    name: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]
    profiles: ClassVar[tuple[str, ...]] = ("default",)
    distributed: ClassVar[bool] = False
    packages: ClassVar[tuple[str, ...]]  # distributions whose versions are reported
    extra: ClassVar[str]  # pip extra that installs it

    def __init__(self, mode: str, profile: str, settings: Settings) -> None:
        self.mode, self.profile, self.settings = mode, profile, settings
        self.session: Any = None  # the engine's handle that implementations need (connection, SparkSession)

    @property
    def tuned(self) -> bool:
        return self.profile == "tuned"

    def partitions(self, size: int, per_core: int = 2) -> int:
        """Partitions for ``size`` bytes: about 128 MiB each, and at least ``per_core`` per core."""
        return max(per_core * self.settings.cores, math.ceil(size / TARGET_PARTITION_BYTES))

    def start(self) -> None:  # noqa: B027  (an optional hook: eager engines have nothing to start)
        """Open the session (import, connect, start workers). Timed as the startup phase."""

    @abstractmethod
    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        """Read a table into the engine and persist it. Timed as the load phase."""

    def context(self, tables: dict[str, Any], rows: dict[str, int], chunk_rows: int | None) -> Ctx:
        return Ctx(tables, self.session, self.tuned, chunk_rows, self.settings.cores, rows)

    def build(self, wl: Workload, ctx: Ctx) -> Any:
        """The workload's expression in this engine (lazy engines: not yet run)."""
        impl = wl.impls.get(self.name)
        if impl is None:
            raise Unsupported(wl.unsupported.get(self.name, f"{wl.name} has no {self.name} implementation"))
        return impl(ctx)

    @abstractmethod
    def materialise(self, result: Any) -> Any:
        """Force the result and bring it whole to the driver (the timed compute)."""

    @abstractmethod
    def to_arrow(self, answer: Any) -> pa.Table:
        """The driver-side answer as an Arrow table, for verification (untimed)."""

    def topology(self) -> dict[str, Any] | None:
        """The cluster as the engine sees it (workers, cores and memory per worker), after loading;
        None when not in the cluster mode."""
        return None

    def close(self) -> None:  # noqa: B027  (an optional hook)
        """Stop everything the session started."""

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {pkg: importlib.metadata.version(pkg) for pkg in cls.packages}


def engine_class(name: str) -> type[Engine]:
    """The engine's class; raises UsageError for an unknown name, EngineUnavailable if not installed."""
    if name not in REGISTRY:
        raise UsageError(f"unknown engine {name!r}: use one of {', '.join(REGISTRY)}")
    module_name, cls_name = REGISTRY[name]
    module = importlib.import_module(module_name)
    cls: type[Engine] = getattr(module, cls_name)
    missing = [pkg for pkg in cls.packages if importlib.util.find_spec(_import_name(pkg)) is None]
    if missing:
        raise EngineUnavailable(f"engine {name!r} needs {', '.join(missing)}: pip install 'breakeven[{cls.extra}]'")
    return cls


def _import_name(dist: str) -> str:
    return {"dask": "dask.dataframe"}.get(dist, dist)


def installed_engines() -> dict[str, type[Engine]]:
    """Engines whose packages are importable, by name."""
    found = {}
    for name in REGISTRY:
        try:
            found[name] = engine_class(name)
        except EngineUnavailable:
            continue
    return found
