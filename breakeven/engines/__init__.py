"""Engines behind one small protocol: start, load, run a workload, materialise, close.

An engine is declared once, on its :class:`Engine` subclass in a module ``*_engine.py`` of this
package: its name, modes, profiles, packages, extra, colour and, for a distributed engine, its
cluster kind (`cluster_kind`). Everything else (the CLI's choices, the versions in ``run.json``, the report's
colours, the cluster commands' engines and schemes) derives from :func:`registry`. Engine
modules import their engine's packages only inside methods, so a missing optional dependency
costs nothing until that engine is asked for, and then the error names the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from breakeven.errors import EngineUnavailable, Unsupported, UsageError
from breakeven.workloads import SOURCES, Ctx, Workload

TARGET_PARTITION_BYTES = 128 * 2**20  # the partition (block) size the distributed engines' docs recommend
PARQUET_TO_MEMORY = 4  # in-memory size of our Parquet data is about four times its file size
# Every engine writes the ``parquet`` sink with this one codec, so that a written answer is the
# same work on every engine: snappy, the default of pandas (pyarrow), DuckDB, Dask, Spark and Ray.
# Polars writes zstd by default (https://docs.pola.rs/api/python/stable/reference/api/polars.LazyFrame.sink_parquet.html):
# at 1e5 rows its zstd took 11.3 ms against 8.2 ms for snappy. Each record of the sink names it.
PARQUET_CODEC = "snappy"


def memory_estimate(path: Path) -> int:
    """A table's size in memory, estimated from its Parquet files without reading them."""
    return sum(f.stat().st_size for f in path.glob("*.parquet")) * PARQUET_TO_MEMORY


def chunk_count(rows: int, chunk_rows: int) -> int:
    """Partitions (blocks) of ``chunk_rows`` rows: how the chunked engines apply the chunk size."""
    return max(1, math.ceil(rows / chunk_rows))


@dataclass(frozen=True)
class ClusterKind:
    """How a distributed engine's own cluster is reached and started."""

    scheme: str  # of its address: ``tcp://`` (Dask), ``spark://``; "" for a bare host:port (Ray)
    ports: tuple[int, int]  # the scheduler's (master's, head's) well-known RPC and dashboard ports
    roles: tuple[str, str]  # its servers' roles in ``breakeven cluster serve``: the head's, a worker's
    client: str  # the module its client needs (installed with the engine's extra)


@dataclass(frozen=True)
class SessionSettings:
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
    order: ClassVar[int]  # its place in tables and reports: single-machine engines first
    modes: ClassVar[tuple[str, ...]]
    profiles: ClassVar[tuple[str, ...]] = ("default",)
    default_only: ClassVar[tuple[str, ...]] = ()  # modes that have no tuned profile (nothing to tune)
    # Data kinds on which ``tuned`` differs from ``default`` (None: every kind). Elsewhere a tuned
    # case would time the default's code again, so none is planned there.
    tuned_kinds: ClassVar[tuple[str, ...] | None] = None
    tuned_sources: ClassVar[tuple[str, ...]] = SOURCES  # likewise, where its tables come from
    distributed: ClassVar[bool] = False
    packages: ClassVar[tuple[str, ...]]  # distributions whose versions are reported
    imports: ClassVar[tuple[str, ...]] = ()  # modules that must import (default: the packages)
    extra: ClassVar[str]  # pip extra that installs it
    colour: ClassVar[str]  # in the report's charts
    cluster_kind: ClassVar[ClusterKind | None] = None  # its own cluster, for the cluster mode
    speaks_sql: ClassVar[bool] = False  # runs a workload's SQL text where it has no implementation of its own
    # The cloudpickle (a package's own copy) that sends its functions to other processes
    # (``breakeven.workload_file.ship``).
    pickler: ClassVar[str | None] = None

    def __init__(self, mode: str, profile: str, settings: SessionSettings) -> None:
        self.mode, self.profile, self.settings = mode, profile, settings
        self.session: Any = None  # the engine's handle that implementations need (connection, SparkSession)

    def upload(self, files: list[Path]) -> None:
        """Make these Python files (users' workload files) importable by the engine's worker
        processes, where its own pickler does not send them (``breakeven.workload_file.ship``).
        Most engines need nothing: their workers are this process, or get functions by value."""
        return None

    @classmethod
    def profiles_of(cls, mode: str) -> tuple[str, ...]:
        """The profiles of ``mode``."""
        return ("default",) if mode in cls.default_only else cls.profiles

    @classmethod
    def tunes(cls, data_kind: str, source: str = "memory") -> bool:
        """Whether the tuned profile differs from the default on ``data_kind`` read from ``source``."""
        return source in cls.tuned_sources and (cls.tuned_kinds is None or data_kind in cls.tuned_kinds)

    @property
    def tuned(self) -> bool:
        return self.profile == "tuned"

    def partitions(self, size: int, per_core: int = 2) -> int:
        """Partitions for ``size`` bytes: about 128 MiB each, and at least ``per_core`` per core."""
        return max(per_core * self.settings.cores, math.ceil(size / TARGET_PARTITION_BYTES))

    def start(self) -> None:  # noqa: B027  (an optional hook: eager engines have nothing to start)
        """Open the session (import, connect, start workers). Timed as the startup phase."""

    def begin(self, chunk_rows: int | None) -> None:  # noqa: B027  (an optional hook)
        """Before a part of the session (a data set's tables and the cases that read them) is
        loaded, untimed: the part's chunk size where the engine sets one for all its queries
        (Spark's Arrow batches), and nothing left of an earlier part's settings."""

    @abstractmethod
    def load(self, role: str, path: Path, rows: int, chunk_rows: int | None) -> Any:
        """Read a table into the engine and persist it. Timed as the load phase."""

    def release(self, tables: dict[str, Any]) -> None:
        """After a part, untimed: let go of its loaded tables (``load``'s results by role, held
        nowhere else), so that the next part's load and cases hold only their own."""
        tables.clear()

    def scan(self, role: str, path: Path, rows: int, chunk_rows: int | None, columns: list[str] | None) -> Any:
        """The table as a one-off query reads it from its Parquet files (``--from files``), called
        inside the timed part of every run of a case: a lazy engine returns its plan, which reads
        the files as the query runs and prunes columns and pushes filters as the engine does by
        default; an eager one reads ``columns`` (the workload's; None: all) now."""
        raise Unsupported(f"{self.name} does not read a question's tables from files in breakeven")

    def context(self, tables: dict[str, Any], rows: dict[str, int], chunk_rows: int | None) -> Ctx:
        return Ctx(tables, self.session, self.tuned, chunk_rows, self.settings.cores, rows)

    @classmethod
    def implements(cls, wl: Workload) -> bool:
        """Whether this engine has ``wl`` in its own code, or as SQL."""
        return cls.name not in wl.unsupported and (
            wl.impls.get(cls.name) is not None or (cls.speaks_sql and wl.query is not None)
        )

    def build(self, wl: Workload, ctx: Ctx) -> Any:
        """The workload's expression in this engine (lazy engines: not yet run)."""
        impl = wl.impls.get(self.name)
        if impl is not None:
            return impl(ctx)
        if self.speaks_sql and wl.query is not None:
            return self.sql(wl.query)
        raise Unsupported(wl.unsupported.get(self.name, f"{wl.name} has no {self.name} implementation"))

    def sql(self, text: str) -> Any:
        """Run SQL text over the loaded tables (engines that speak SQL)."""
        raise Unsupported(f"{self.name} does not run SQL")

    @abstractmethod
    def materialise(self, result: Any) -> Any:
        """Force the result and bring it whole to the driver (the timed compute)."""

    @abstractmethod
    def to_arrow(self, answer: Any) -> pa.Table:
        """The driver-side answer as an Arrow table, for verification (untimed)."""

    def write(self, result: Any, folder: Path) -> None:
        """Force the result and write it as Parquet files in ``folder`` (which does not exist yet)
        with the engine's own writer, returning once the last file is closed (the timed compute
        of the ``parquet`` sink). The runner reads the files back to verify them."""
        raise Unsupported(f"{self.name} has no Parquet writer in breakeven")

    def settle(self) -> None:  # noqa: B027  (an optional hook: most engines keep nothing of a run)
        """Before every timed run, untimed: wait until the engine holds nothing of what ran before,
        and undo what an earlier case set, so that each run starts as a new query does (Dask: the
        cluster has forgotten its results; Ray: no task or actor holds a CPU; Spark: the session's
        settings as they were when its tables were loaded)."""

    def topology(self) -> dict[str, Any] | None:
        """The cluster as the engine sees it (workers, cores and memory per worker), after loading;
        None when not in the cluster mode."""
        return None

    def close(self) -> None:  # noqa: B027  (an optional hook)
        """Stop everything the session started."""

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {pkg: importlib.metadata.version(pkg) for pkg in cls.packages}


@cache
def registry() -> dict[str, type[Engine]]:
    """Every engine, by name, in its ``order``: the one :class:`Engine` subclass of each module
    ``breakeven/engines/*_engine.py``. Importing them costs nothing of their packages."""
    found: dict[str, type[Engine]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.endswith("_engine"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, Engine) and obj.__module__ == module.__name__
        ]
        if len(classes) != 1:
            raise TypeError(f"{module.__name__} must define one Engine subclass, not {len(classes)}")
        found[classes[0].name] = classes[0]
    return dict(sorted(found.items(), key=lambda item: item[1].order))


def engine_meta(name: str) -> type[Engine]:
    """The engine's class, without checking that its packages are installed."""
    engines = registry()
    if name not in engines:
        raise UsageError(f"unknown engine {name!r}: use one of {', '.join(engines)}")
    return engines[name]


def engine_class(name: str) -> type[Engine]:
    """The engine's class; raises UsageError for an unknown name, EngineUnavailable if not installed."""
    cls = engine_meta(name)
    missing = [m for m in cls.imports or cls.packages if importlib.util.find_spec(m) is None]
    if missing:
        raise EngineUnavailable(f"engine {name!r} needs {', '.join(missing)}: pip install 'breakeven[{cls.extra}]'")
    return cls


def installed_engines() -> dict[str, type[Engine]]:
    """Engines whose packages are importable, by name."""
    found = {}
    for name in registry():
        try:
            found[name] = engine_class(name)
        except EngineUnavailable:
            continue
    return found


def cluster_engines() -> dict[str, type[Engine]]:
    """Engines with a cluster of their own, by name."""
    return {name: cls for name, cls in registry().items() if cls.cluster_kind}
