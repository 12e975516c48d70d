"""What the asv benchmarks share: the grid, where they run, and one case through the runner.

A benchmark class is one workload family on one engine configuration
(``GroupBy_pandas_single_default``: ``asv run --bench pandas_single_default``); its one
parameter, ``case``, names each case of the grid that configuration runs here (``groupby_q1
1e6``, ``transform_udf chunk=1e5 sink=parquet 1e6``), so every combination asv lists is a real
case: no ``n/a`` for pairs that cannot exist. A configuration that this target does not measure
(a cluster mode on the laptop, an engine not installed) has no class. A case's ``setup`` runs
the case through the runner that ``breakeven run`` uses: a worker process, the timeout and
memory budget, the answer verified against the reference. The record goes to a run folder
under ``results/runs/`` (one per ``asv run``, made by ``setup_cache``), unless this ``asv run``
has measured the case already. The ``track_*`` methods report that record's phases. asv's
own ``time_*`` and ``peakmem_*`` would time and measure the benchmark process only, and Dask
workers, the JVM and Ray workers are other processes (https://asv.readthedocs.io/en/stable/writing_benchmarks.html#peak-memory).

Environment variables (all optional):

- ``BREAKEVEN_ASV_GRID``: the suite whose cases are the parameters (``quick``, the default;
  ``standard``, ``full``, ``cluster``, ``smoke``).
- ``BREAKEVEN_ASV_CLUSTER=dask|spark|ray``: measure that engine's cluster mode on local clusters
  of every same-resources topology, one cluster per case. The asv machine's name must end in
  ``-local-cluster``.
- ``BREAKEVEN_ASV_CLUSTER_ADDRESS``: measure the cluster mode on a running cluster (compose or
  real; ``BREAKEVEN_SECRET_FILE`` for its secret). The machine's name must end in ``-cluster``.
- ``BREAKEVEN_ASV_TIMEOUT`` (seconds per case), ``BREAKEVEN_ASV_REPEATS`` (breakeven run's defaults),
  ``BREAKEVEN_RESULTS`` and ``BREAKEVEN_DATA`` (as for ``breakeven run``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from breakeven import api, defaults
from breakeven import data as datagen
from breakeven.cases import CLUSTER_MODE, Case, EngineConfig, get_suite, parse_engines
from breakeven.cluster.plan import ENGINES, same_resources
from breakeven.engines import engine_class, registry
from breakeven.errors import EngineUnavailable
from breakeven.files import read_json
from breakeven.labels import question_label
from breakeven.results import Record, RunStore, new_run_id
from breakeven.runner import Options
from breakeven.schema import upgrade
from breakeven.units import fmt_num
from breakeven.workloads import CATALOGUE

REPO = Path(__file__).resolve().parents[1]
GRID = os.environ.get("BREAKEVEN_ASV_GRID", "quick")
CASE_TIMEOUT = float(os.environ.get("BREAKEVEN_ASV_TIMEOUT") or defaults.TIMEOUT)
REPEATS = int(os.environ.get("BREAKEVEN_ASV_REPEATS") or defaults.REPEATS)
CORES = defaults.CORES
MEMORY_BUDGET = defaults.default_budget()  # breakeven run's default
# The cluster mode's topologies, named for any core count N so that the parameters (and so the
# asv graphs) are the same on every machine; resolved to WORKERSxCORES when a case runs.
TOPOLOGIES = ("1xN", "Nx1", "2xN/2", "external")
NOT_RUN = "-"  # the only value of a parameter for which the grid has no case


@dataclass(frozen=True)
class Target:
    """Where the distributed engines run: ``laptop`` (their single-machine modes),
    ``local-cluster`` (clusters the runner starts) or ``cluster`` (a running one at an address)."""

    kind: str
    engine: str | None = None
    address: str | None = None

    @classmethod
    def from_env(cls) -> Target:
        engine = os.environ.get("BREAKEVEN_ASV_CLUSTER") or None
        address = os.environ.get("BREAKEVEN_ASV_CLUSTER_ADDRESS") or None
        if engine and engine not in ENGINES:
            raise ValueError(f"BREAKEVEN_ASV_CLUSTER={engine!r}: use one of {', '.join(ENGINES)}")
        if address:
            from breakeven.cluster.plan import SCHEMES

            engine = engine or SCHEMES.get(address.split("://")[0] if "://" in address else "")
            if engine is None:
                raise ValueError(f"which engine is at {address}? set BREAKEVEN_ASV_CLUSTER=ray (or dask, spark)")
            return cls("cluster", engine, address)
        return cls("local-cluster", engine) if engine else cls("laptop")

    def machine_problem(self, machine: str) -> str | None:
        """Why results of this target must not go to the asv machine ``machine``, if they must not:
        laptop, local-cluster and compose or real cluster results are separate asv machines."""
        if self.kind == "local-cluster" and not machine.endswith("-local-cluster"):
            return f"local-cluster results go to their own asv machine: asv run --machine {machine}-local-cluster"
        if self.kind == "cluster" and (not machine.endswith("-cluster") or machine.endswith("-local-cluster")):
            return f"cluster results go to their own asv machine: asv run --machine {machine}-compose-cluster"
        if self.kind == "laptop" and machine.endswith("-cluster"):
            return (
                f"asv machine {machine!r} is for cluster results: set BREAKEVEN_ASV_CLUSTER or "
                "BREAKEVEN_ASV_CLUSTER_ADDRESS, or run on another machine name"
            )
        return None


TARGET = Target.from_env()


MACHINE_COMMANDS = ("run", "continuous", "find", "profile")  # asv commands that save results for a machine


def asv_argv() -> list[str] | None:
    """The arguments of the ``asv`` command that runs us (an ancestor process), after ``asv``."""
    for proc in psutil.Process().parents():
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        for i, arg in enumerate(argv[:3]):
            if Path(arg).name == "asv":
                return argv[i + 1 :]
    return None


def current_machine(argv: list[str] | None = None) -> str | None:
    """The asv machine that this ``asv run`` saves results for, as asv chooses it: ``--machine``,
    else this host's name, or the only machine in ``~/.asv-machine.json``. None for commands that
    save no results (``asv check``)."""
    argv = asv_argv() if argv is None else argv
    if argv is None:
        return None
    for i, arg in enumerate(argv):
        if arg in ("--machine", "-m") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--machine="):
            return arg.split("=", 1)[1]
    if not any(arg in MACHINE_COMMANDS for arg in argv):
        return None
    node = platform.node()
    try:
        known = [name for name in json.loads((Path.home() / ".asv-machine.json").read_text()) if name != "version"]
    except (OSError, ValueError):
        return node
    return known[0] if node not in known and len(known) == 1 else node


def check_machine() -> None:
    """Refuse, before asv runs or saves anything, to mix targets in one asv machine."""
    machine = current_machine()
    if machine and (problem := TARGET.machine_problem(machine)):
        raise RuntimeError(problem)


def all_configs() -> list[EngineConfig]:
    """Every engine configuration, installed or not, with the cluster mode on every named topology."""
    configs = parse_engines(list(registry()))
    for engine in ENGINES:
        configs += parse_engines([f"{engine}:{CLUSTER_MODE}"], engine, TOPOLOGIES)
    return configs


def measured_here(config: EngineConfig, target: Target, cores: int = CORES) -> bool:
    """Whether ``target`` measures ``config``: the laptop its single-machine modes, local clusters
    one engine's cluster mode on each topology these cores make, a running cluster its address."""
    if config.mode != CLUSTER_MODE:
        return target.kind == "laptop"
    if target.kind == "laptop" or target.engine != config.engine:
        return False
    if (config.topology == "external") != (target.kind == "cluster"):
        return False
    if target.kind == "local-cluster":
        try:
            resolve_topology(config.topology or "", cores)
        except NotImplementedError:
            return False
    return True


def configs_here(target: Target | None = None) -> list[EngineConfig]:
    """The configurations this target measures whose engine is installed."""
    found = []
    for config in all_configs():
        try:
            engine_class(config.engine)
        except EngineUnavailable:
            continue
        if measured_here(config, target or TARGET):
            found.append(config)
    return found


def fmt_rows(rows: int) -> str:
    return fmt_num(rows)


def scenario(case: Case) -> str:
    """A case's workload, its data parameters other than rows, and its sink:
    ``transform_udf chunk=1e5 sink=parquet`` (the same question as the report's)."""
    return question_label(case)


class FamilyCases:
    """One workload family's cases on one engine configuration, by the name of the parameter's
    value: the question and the rows (``groupby_q1 1e6``)."""

    def __init__(self, family: str, config: EngineConfig, suite: str = GRID) -> None:
        self.config = config
        cases = [c for c in get_suite(suite).cases([config]) if c.wl.family == family]
        self.cases = {f"{scenario(c)} {fmt_rows(c.rows)}": c for c in cases}
        self.workloads = sorted({c.workload for c in cases})

    @property
    def params(self) -> list[list[str]]:
        return [list(self.cases) or [NOT_RUN]]

    def case(self, name: str) -> Case:
        """The case to run here: on local clusters, its topology resolved for these cores."""
        case = self.cases.get(name)
        if case is None:
            raise NotImplementedError(f"{self.config.label} has no case {name!r} in the {GRID} grid")
        if case.mode == CLUSTER_MODE and TARGET.kind == "local-cluster":
            return _with_topology(case, resolve_topology(case.topology or ""))
        return case


def class_name(family_class: str, config: EngineConfig) -> str:
    """``GroupBy_pandas_single_default``, ``Merge_dask_cluster_tuned_at_Nx1``: a Python name."""
    label = config.label.replace("@", "_at_").replace("/", "_")
    return f"{family_class}_{re.sub(r'[^0-9A-Za-z]+', '_', label)}"


def define(family: str, family_class: str, namespace: dict[str, Any]) -> None:
    """One benchmark class per configuration this target measures, in a module's ``namespace``."""
    for config in configs_here():
        grid = FamilyCases(family, config)
        if not grid.cases:
            continue
        name = class_name(family_class, config)
        namespace[name] = type(
            name,
            (FamilyBenchmarks,),
            {
                "__module__": namespace["__name__"],
                "__doc__": f"{namespace['__doc__'].strip()} On {config.label}.",
                "family": family,
                "grid": grid,
                "params": grid.params,
                "version": definition_version(grid.workloads),
            },
        )


def resolve_topology(label: str, cores: int = CORES) -> str:
    """``Nx1`` -> ``2x1`` on 2 cores; NotImplementedError when the shape is another's or impossible."""
    shapes = [t.label for t in same_resources(cores, MEMORY_BUDGET)]
    concrete = {"1xN": f"1x{cores}", "Nx1": f"{cores}x1", "2xN/2": f"2x{cores // 2}"}[label]
    if label == "2xN/2" and (concrete in (f"1x{cores}", f"{cores}x1") or concrete not in shapes):
        raise NotImplementedError(f"2xN/2 on {cores} cores is not a topology of its own")
    return concrete


def _with_topology(case: Case, topology: str) -> Case:
    fields = case.to_dict() | {"topology": topology}
    return Case(**fields)


def definition_version(workloads: list[str]) -> str:
    """asv's ``version``: changes when what is measured changes (a workload's question, tables and
    keys, its reference answer, the data generator), not when an engine's implementation does,
    since that is what asv exists to track."""
    digest = hashlib.sha256()
    for name in workloads:
        wl = CATALOGUE[name]
        spec = [wl.name, wl.family, wl.question, wl.data_kind, list(wl.tables), list(wl.keys), wl.high_cardinality]
        if wl.sinks:  # (added with the sinks: the other workloads keep their version)
            spec.append(list(wl.sinks))
        digest.update(json.dumps(spec).encode())
        digest.update(inspect.getsource(wl.reference).encode() if wl.reference else b"")
    digest.update(inspect.getsource(datagen._Generator).encode())
    return digest.hexdigest()[:16]


def results_dir() -> Path:
    return Path(os.environ.get("BREAKEVEN_RESULTS", REPO / defaults.RESULTS_DIR))


def options() -> Options:
    plan = None
    if TARGET.kind != "laptop":
        from breakeven.cluster.plan import cluster_plan

        secret = os.environ.get("BREAKEVEN_SECRET_FILE")
        plan = cluster_plan(TARGET.engine, TARGET.address, Path(secret) if secret else None, None, CORES, MEMORY_BUDGET)
    return Options(
        repeats=REPEATS,
        timeout=CASE_TIMEOUT,
        memory_budget=MEMORY_BUDGET,
        cores=CORES,
        data_dir=Path(os.environ.get("BREAKEVEN_DATA", REPO / defaults.DATA_DIR)),
        cluster=plan,
    )


def new_run() -> str:
    """A run folder for one ``asv run`` in one environment; returns its path. (asv shares a
    ``setup_cache`` defined once among the classes that inherit it: one folder for all.)"""
    commit = os.environ.get("ASV_COMMIT", "")[:8]
    run_id = "-".join(filter(None, ("asv", new_run_id(), commit)))
    store, _ = api.open_run([], options(), results=results_dir(), run_id=run_id, suite=f"asv:{GRID}")
    return str(store.root)


def measure(run: str, case: Case) -> Record:
    """The case's record in ``run``: measured now unless this run has it already."""
    store = RunStore(Path(run))
    path = store.cases_dir / f"{case.id}.json"
    if not path.exists():
        return api.run_cases(store, [case], options()).records[0]
    return Record.from_dict(upgrade(read_json(path), path))


class FamilyBenchmarks(ABC):
    """One workload family's cases as asv benchmarks; subclasses name the family and its grid."""

    param_names = ["case"]
    # asv's timeout covers the setup that runs the case: data generation, engine start-up and
    # load (one runner timeout), the case (another), a local cluster's start and stop (ten minutes).
    timeout = 3 * CASE_TIMEOUT + 10 * 60
    record: Record

    @property
    @abstractmethod
    def family(self) -> str: ...

    @property
    @abstractmethod
    def grid(self) -> FamilyCases: ...

    def setup_cache(self) -> str:
        return new_run()

    def setup(self, run: str, case: str) -> None:
        record = measure(run, self.grid.case(case))
        if record.status in ("unsupported", "unavailable"):
            raise NotImplementedError(f"{record.status}: {record.reason}")
        self.record = record

    def _value(self, value: float | int | None) -> float | int:
        """A phase of an ``ok`` record; a failed case fails the benchmark with its status and reason."""
        if not self.record.ok or value is None:
            raise RuntimeError(f"{self.record.case_id}: {self.record.status}: {self.record.reason}")
        return value

    def track_compute(self, run: str, case: str) -> float:
        """Median of the timed repeats of the compute phase (the result fully materialised)."""
        return self._value(self.record.times.compute_median)

    track_compute.unit = "seconds"  # type: ignore[attr-defined]

    def track_end_to_end(self, run: str, case: str) -> float:
        """Engine start-up + load + median compute."""
        return self._value(self.record.times.end_to_end)

    track_end_to_end.unit = "seconds"  # type: ignore[attr-defined]

    def track_startup(self, run: str, case: str) -> float:
        """Engine start-up (a local cluster's own start-up is in the record's ``cluster``)."""
        return self._value(self.record.times.startup)

    track_startup.unit = "seconds"  # type: ignore[attr-defined]

    def track_load(self, run: str, case: str) -> float:
        """Reading the Parquet data into the engine and persisting it."""
        return self._value(self.record.times.load)

    track_load.unit = "seconds"  # type: ignore[attr-defined]

    def track_peak_memory(self, run: str, case: str) -> int:
        """Peak memory of the session during the case (driver, workers, JVM, Ray's processes, a
        local cluster's servers): its control group's peak where the machine allows one, else
        the sampled PSS of its process tree; the record's ``memory_method`` says which."""
        return self._value(self.record.peak_memory_bytes)

    track_peak_memory.unit = "bytes"  # type: ignore[attr-defined]


check_machine()
