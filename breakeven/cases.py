"""Cases (one workload, on one data set, in one engine configuration) and the named suites."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from breakeven import user_data
from breakeven.data import DataSpec, get_kind, kind_columns
from breakeven.engines import engine_class, engine_meta, installed_engines
from breakeven.errors import UsageError
from breakeven.labels import CaseParams, config_label, session_label, workload_label
from breakeven.workloads import SINKS, SOURCES, Workload, get_workload, select_workloads

if TYPE_CHECKING:
    from breakeven.cluster.plan import ClusterPlan


CLUSTER_MODE = "cluster"  # a distributed engine's client on a cluster of separate processes


@dataclass(frozen=True)
class EngineConfig:
    """An engine in one mode and profile, written ``engine:mode:profile``; in the cluster mode
    also the cluster's topology (``2x1``: two workers of one core; ``external``: a given address)."""

    engine: str
    mode: str
    profile: str
    topology: str | None = None

    def __post_init__(self) -> None:
        meta = engine_meta(self.engine)
        if self.mode not in meta.modes:
            raise UsageError(f"engine {self.engine} has no mode {self.mode!r}: use one of {', '.join(meta.modes)}")
        profiles = meta.profiles_of(self.mode)
        if self.profile not in profiles:
            raise UsageError(
                f"engine {self.engine} has no profile {self.profile!r} in mode {self.mode}: "
                f"use one of {', '.join(profiles)}"
            )
        if (self.mode == CLUSTER_MODE) != (self.topology is not None):
            raise UsageError(f"{self.engine}:{self.mode}: a topology goes with the cluster mode, and only with it")

    @property
    def label(self) -> str:
        return config_label(self.engine, self.mode, self.profile, self.topology)

    @property
    def distributed(self) -> bool:
        return bool(engine_meta(self.engine).distributed)


def parse_engines(specs: list[str], cluster: str | None = None, topologies: tuple[str, ...] = ()) -> list[EngineConfig]:
    """``dask`` (every mode and profile), ``dask:processes``, or ``dask:processes:tuned``.

    The cluster mode is one configuration per topology, and only for the engine of the run's
    cluster (``cluster``); ``dask`` alone means its single-machine modes and, when the run has a
    Dask cluster, its cluster mode too."""
    configs: list[EngineConfig] = []
    for spec in specs:
        name, *rest = spec.split(":")
        meta = engine_meta(name)
        if len(rest) > 2:
            raise UsageError(f"bad engine {spec!r}: write engine, engine:mode or engine:mode:profile")
        modes = [rest[0]] if rest and rest[0] else list(meta.modes)
        if CLUSTER_MODE in modes and name != cluster:
            if rest and rest[0] == CLUSTER_MODE:
                raise UsageError(f"{spec} needs a cluster: pass --cluster {name} or --cluster-address")
            modes.remove(CLUSTER_MODE)
        for mode in modes:
            for topology in topologies if mode == CLUSTER_MODE else (None,):
                for profile in [rest[1]] if len(rest) > 1 else meta.profiles_of(mode):
                    cfg = EngineConfig(name, mode, profile, topology)
                    if cfg not in configs:
                        configs.append(cfg)
    return configs


def select_configs(
    requested: list[str] | None, plan: ClusterPlan | None = None, suite_default: tuple[str, ...] = ()
) -> list[EngineConfig]:
    """Configurations to run: the named ones (each must be installed), else the suite's own
    (those installed), else every installed engine. With a cluster, its engine's cluster mode on
    each topology is added."""
    cluster, labels = (plan.engine, plan.labels) if plan else (None, ())
    if not requested and suite_default:
        installed = installed_engines()
        requested = [spec for spec in suite_default if spec.split(":")[0] in installed]
    if requested:
        # The cluster's engine joins in its cluster mode, both profiles, unless a spec names that mode.
        named = any(spec.split(":")[:2] == [cluster, "cluster"] for spec in requested)
        specs = list(requested) + ([f"{cluster}:cluster"] if cluster and not named else [])
        configs = parse_engines(specs, cluster, labels)
        for name in dict.fromkeys(c.engine for c in configs):
            engine_class(name)  # raises EngineUnavailable with the extra to install
        return configs
    if cluster:
        engine_class(cluster)
    return parse_engines(list(installed_engines()), cluster, labels)


@dataclass(frozen=True)
class Case(CaseParams):
    """One measured unit; its ``id`` names everything that determines the measurement."""

    def __post_init__(self) -> None:
        wl = get_workload(self.workload)
        EngineConfig(self.engine, self.mode, self.profile, self.topology)
        _ = self.data  # validates the data parameters
        if not self.user_data and ("dim_rows" in get_kind(wl.data_kind).params) != (self.dim_rows is not None):
            raise UsageError(f"dim_rows applies to the join_dim workloads only (got {self.dim_rows} for {wl.name})")
        if self.chunk_rows is not None and self.chunk_rows <= 0:
            raise UsageError(f"chunk_rows must be positive, got {self.chunk_rows}")
        if wl.sinks and self.sink is None:  # no sink named: the answer comes back to the driver
            object.__setattr__(self, "sink", "collect")
        if wl.sinks and self.sink not in wl.sinks:
            raise UsageError(f"{wl.name} has no sink {self.sink!r}: use one of {', '.join(wl.sinks)}")
        if not wl.sinks and self.sink is not None:
            raise UsageError(f"{wl.name}'s answer is small and always comes back: it has no sink (got {self.sink})")
        if self.source not in SOURCES:
            raise UsageError(f"unknown source {self.source!r}: use one of {', '.join(SOURCES)}")

    @property
    def wl(self) -> Workload:
        return get_workload(self.workload)

    @property
    def config(self) -> EngineConfig:
        return EngineConfig(self.engine, self.mode, self.profile, self.topology)

    @property
    def data(self) -> DataSpec:
        if self.user_data:
            return DataSpec(user_data.KIND, self.rows, user=self.user_data)
        kind = get_kind(self.wl.data_kind)
        return DataSpec(kind.name, self.rows, seed=self.seed, **{p: getattr(self, p) for p in kind.params})

    @property
    def data_kind(self) -> str:
        return self.wl.data_kind

    @property
    def session_label(self) -> str:
        """The name of the cases run on the same tables in the same session: the part of the id after the workload."""
        return session_label(
            self.engine, self.mode, self.profile, self.topology, self.data.name, self.chunk_rows, self.source
        )

    @property
    def id(self) -> str:
        return f"{workload_label(self.workload, self.sink)}.{self.session_label}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Grid:
    """A block of a suite: workloads (names or families) crossed with parameter values."""

    workloads: tuple[str, ...]
    rows: tuple[int, ...]
    k: tuple[int, ...] = (100,)
    nas: tuple[int, ...] = (0,)
    dim_rows: tuple[int, ...] = ()
    chunk_rows: tuple[int | None, ...] = (None,)
    sinks: tuple[str, ...] = ("parquet",)  # for the workloads whose answer is large
    sources: tuple[str, ...] = ("memory",)

    def cases(
        self,
        configs: list[EngineConfig],
        rows: tuple[int, ...] | None = None,
        sinks: tuple[str, ...] | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> list[Case]:
        out = []
        for wl in select_workloads(list(self.workloads)):
            for source in sources or self.sources:
                for n in rows or self.rows:
                    for cfg in configs:
                        out.extend(self._for(wl, n, cfg, sinks or self.sinks, source))
        return out

    def _for(self, wl: Workload, n: int, cfg: EngineConfig, sinks: tuple[str, ...], source: str) -> list[Case]:
        if cfg.profile == "tuned" and not engine_meta(cfg.engine).tunes(wl.data_kind, source):
            return []  # the default's twin
        params = get_kind(wl.data_kind).params
        if "dim_rows" in params:
            data = [{"dim_rows": d} for d in self.dim_rows if d <= n]
        elif "k" in params:
            data = [{"k": k, "nas": nas} for k in self.k for nas in self.nas]
        else:
            data = [{}]
        chunks = self.chunk_rows if wl.uses_chunks(cfg.engine) else (None,)
        chosen = [s for s in sinks if s in wl.sinks] if wl.sinks else [None]
        return [
            Case(
                wl.name,
                cfg.engine,
                cfg.mode,
                cfg.profile,
                n,
                chunk_rows=c,
                topology=cfg.topology,
                sink=s,
                source=source,
                **params,
            )
            for params in data
            for c in chunks
            if c is None or c < n
            for s in chosen
        ]


@dataclass(frozen=True)
class Suite:
    """Named grids; a suite may also set the run's memory budget and engine configurations
    (``--memory-budget`` and ``--engine`` override them)."""

    name: str
    description: str
    grids: tuple[Grid, ...] = field(default_factory=tuple)
    memory_budget: str | None = None  # e.g. "2GiB"; None: 80% of RAM
    engines: tuple[str, ...] = ()  # engine specs; empty: every installed engine
    timeout: float | None = None  # seconds per case; None: the run's default (--timeout)
    repeats: int | None = None  # timed repeats after the cold run; None: the run's default

    def cases(
        self,
        configs: list[EngineConfig],
        rows: tuple[int, ...] | None = None,
        sinks: tuple[str, ...] | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> list[Case]:
        """Every case of the suite; ``rows``, ``sinks`` and ``sources`` replace the grids' own."""
        seen: dict[str, Case] = {}
        for grid in self.grids:
            for case in grid.cases(configs, rows, sinks, sources):
                seen.setdefault(case.id, case)
        return list(seen.values())

    def family_grid(self, family: str) -> Grid | None:
        """The suite's first grid with a workload of ``family``."""
        for grid in self.grids:
            if any(wl.family == family for wl in select_workloads(list(grid.workloads))):
                return grid
        return None

    def select(
        self,
        names: list[str],
        configs: list[EngineConfig],
        rows: tuple[int, ...] | None = None,
        sinks: tuple[str, ...] | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> tuple[list[Case], list[str]]:
        """The cases of the named workloads (or families): the suite's own, and for a named
        workload the suite leaves out, the grid the suite uses for its family (else the full
        suite's), at that grid's sizes or ``rows``. Also returns the workloads so added."""
        wanted = select_workloads(names)
        planned = self.cases(configs, rows, sinks, sources)
        covered = {c.workload for c in planned}
        cases = [c for c in planned if c.workload in {w.name for w in wanted}]
        added = [wl.name for wl in wanted if wl.name not in covered]
        for name in added:
            family = get_workload(name).family
            grid = self.family_grid(family) or SUITES["full"].family_grid(family)
            if grid is None:
                raise UsageError(f"no suite has a grid for {name}")
            cases += replace(grid, workloads=(name,)).cases(configs, rows, sinks, sources)
        return cases, added


BUDGET_ROWS = (10**6, 3 * 10**6, 10**7, 3 * 10**7)
# Engines that run past memory: Polars' streaming engine, DuckDB (spills), Dask and Spark (spill).
OUT_OF_CORE = ("polars:streaming", "duckdb", "dask", "spark")
SCALEOUT_ROWS = (10**6, 3 * 10**6, 10**7)

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "quick",
            "five headline questions at 1e6 rows on every engine: the first run",
            (
                Grid(("groupby_q1", "groupby_q3"), (10**6,)),
                Grid(("join_dim_inner",), (10**6,), dim_rows=(10**4,)),
                Grid(("transform_udf", "transform_cumsum"), (10**6,), chunk_rows=(10**5,)),
            ),
        ),
        Suite(
            "standard",
            "every workload at 1e6 rows, the headline ones also at 1e7 and read from files",
            (
                Grid(("groupby",), (10**6,)),
                Grid(("groupby_q1", "groupby_q3"), (10**7,)),
                Grid(("join",), (10**6,), dim_rows=(10**2, 10**4, 10**6)),
                Grid(("join_small_inner", "join_small_inner_agg"), (10**7,)),
                Grid(("transform",), (10**6,), chunk_rows=(None, 10**5)),
                # The cold one-off query: the headline questions read from their files.
                Grid(("groupby_q1", "groupby_q3"), (10**6, 10**7), sources=("files",)),
                Grid(("join_small_inner", "join_small_inner_agg"), (10**6, 10**7), sources=("files",)),
                Grid(("transform_udf", "transform_cumsum"), (10**6,), chunk_rows=(None, 10**5), sources=("files",)),
            ),
        ),
        Suite(
            "full",
            "every workload from 1e6 to 1e8 rows, in memory and from files, nulls, high cardinality, the merge "
            "sweep 1e2..1e7: hours",
            (
                Grid(("groupby",), (10**6, 10**7, 10**8), k=(100,), nas=(0, 5), sources=SOURCES),
                Grid(("groupby",), (10**7,), k=(10**5,), sources=SOURCES),
                Grid(("join",), (10**6, 10**7, 10**8), dim_rows=(), sources=SOURCES),
                Grid(
                    ("join_dim_inner", "join_dim_inner_agg", "join_dim_left_agg"),
                    (10**7,),
                    dim_rows=tuple(10**i for i in range(2, 8)),
                ),
                Grid(("transform",), (10**6, 10**7, 10**8), chunk_rows=(None, 10**5, 10**6), sources=SOURCES),
            ),
        ),
        Suite(
            "cluster",
            "a group-by and a small-table merge at 1e6 and 1e7 rows; with --cluster ENGINE, on every "
            "topology of the same total cores and memory (1xN, Nx1, 2x(N/2)) and in single-machine mode",
            (
                Grid(("groupby_q1",), (10**6, 10**7)),
                Grid(("join_dim_inner_agg",), (10**6, 10**7), dim_rows=(10**4,)),
            ),
        ),
        Suite(
            "scaleout",
            "q1 and a merge with a 10,000-row dimension at 1e6, 3e6 and 1e7 rows: run once per worker count "
            "(--cluster E --cores W --topology Wx1) for the report's scale-out model",
            (
                Grid(("groupby_q1",), SCALEOUT_ROWS),
                Grid(("join_dim_inner_agg",), SCALEOUT_ROWS, dim_rows=(10**4,)),
            ),
        ),
        Suite(
            "budget",
            "q1 and a merge with a 10,000-row dimension from 1e6 to 3e7 rows under a 2 GiB memory budget, in "
            "memory and from files: where single-process engines run out of memory while Dask, Spark or Ray "
            "finish by spilling",
            (
                Grid(("groupby_q1",), BUDGET_ROWS, sources=SOURCES),
                Grid(("join_dim_inner_agg",), BUDGET_ROWS, dim_rows=(10**4,), sources=SOURCES),
            ),
            memory_budget="2GiB",
            # The single-machine engines, and each distributed engine in its tuned profile, the one
            # whose memory settings an expert would choose under a budget.
            engines=(
                "pandas",
                "polars",
                "duckdb",
                "dask:threads:tuned",
                "dask:processes:tuned",
                "spark:local:tuned",
                "ray:local:tuned",
            ),
        ),
        Suite(
            "large",
            "1e8 rows (G1 6 GB, T1 5 GB in memory as Arrow): every group-by question, the small-table merges and "
            "the big one aggregated, every transform with the parquet sink; single-machine engines that cannot "
            "hold it fail at loading. Hours: run it with --resume",
            (
                Grid(("groupby",), (10**8,)),
                Grid(("join_small_inner", "join_small_inner_agg", "join_big_inner_agg"), (10**8,)),
                Grid(("join_dim_inner", "join_dim_inner_agg"), (10**8,), dim_rows=(10**4,)),
                Grid(("transform",), (10**8,), chunk_rows=(10**6,)),
            ),
            timeout=1200.0,
            repeats=2,
        ),
        Suite(
            "outofcore",
            "1e9 rows read from files (G1 62 GB, T1 53 GB in memory as Arrow): q1, q3, a merge with a 10,000-row "
            "dimension and a chunked transform written to Parquet, on the engines that run past memory; "
            "answers checked against references made a batch at a time (or a digest). Hours, and tens of GB "
            "of disk",
            (
                Grid(("groupby_q1", "groupby_q3"), (10**9,), sources=("files",)),
                Grid(("join_dim_inner_agg",), (10**9,), dim_rows=(10**4,), sources=("files",)),
                Grid(("transform_udf",), (10**9,), chunk_rows=(10**6,), sources=("files",)),
            ),
            engines=OUT_OF_CORE,
            timeout=2400.0,
            repeats=1,
        ),
        Suite(
            "smoke",
            "every workload at 1e4 rows, with each sink and source, on every configuration: for checking an "
            "installation",
            (
                Grid(("groupby", "transform"), (10**4,), chunk_rows=(2_000,), sinks=SINKS, sources=SOURCES),
                Grid(("join",), (10**4,), dim_rows=(10**2,), sinks=SINKS, sources=SOURCES),
            ),
        ),
    )
}


def on_user_data(cases: list[Case], user_set: user_data.UserSet, sized: bool) -> list[Case]:
    """The cases again on a user's tables (``--table``): at their sizes if ``sized`` (``--rows``),
    else at the size of the user's ``x``; the generated data's parameters dropped (cases that
    differed only in them are one). Each workload's tables and columns must be in the set."""
    out: dict[str, Case] = {}
    for case in cases:
        wl = case.wl
        reads = {role: wl.reads(role) or kind_columns(wl.data_kind, role) for role in wl.tables}
        user_data.check_columns(wl.name, reads, user_set)
        rows = case.rows if sized else user_set.tables[user_data.BIG].rows
        moved = replace(case, rows=rows, k=100, nas=0, sorted=False, dim_rows=None, seed=0, user_data=user_set.id)
        out.setdefault(moved.id, moved)
    return list(out.values())


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise UsageError(f"unknown suite {name!r}: use one of {', '.join(SUITES)}") from None
