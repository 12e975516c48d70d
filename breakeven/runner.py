"""The one runner behind the CLI, the asv benchmarks and the tests.

Cases are grouped into engine sessions, one per engine configuration: each session is a worker
process (``breakeven.worker``) that starts the engine once and runs its parts in turn, a part
being the cases that read the same tables of one data set (from the same source, in the same
chunk size): it loads them (from files: not at all), runs the cases, and lets them go before
the next part. The runner watches the worker's whole process tree through a meter
(``breakeven.accounting``: a control group of the session's where the machine allows it, a
cheap sampler where not): peak memory, CPU time, the memory budget; it enforces the timeout,
and kills the tree when a limit is exceeded or the worker dies. The failed case is recorded
with its status and reason, and the remaining cases go on in a fresh session.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from breakeven import data as datagen
from breakeven import reference
from breakeven.accounting import SAMPLED, ControlGroup, choose_method
from breakeven.accounting import control_group as make_control_group
from breakeven.cases import CLUSTER_MODE, Case
from breakeven.cluster.plan import ClusterPlan
from breakeven.cluster.sessions import RunClusters
from breakeven.cpus import cpu_set
from breakeven.defaults import CORES, DATA_DIR, REPEATS, TIMEOUT, default_budget
from breakeven.engines import engine_class, engine_meta
from breakeven.errors import EngineUnavailable
from breakeven.events import (
    CaseFinished,
    CaseStarted,
    DataGenerated,
    DataGenerating,
    Listener,
    MakingReferences,
    MemoryMethodChanged,
    ignore,
)
from breakeven.labels import worker_label
from breakeven.logs import keep_logs
from breakeven.machine import machine_info, versions
from breakeven.protocol import (
    CaseDone,
    CaseStart,
    Loaded,
    PartPlan,
    PartStart,
    PlannedCase,
    SessionDone,
    SessionPlan,
    Startup,
    TablePlan,
    TimedEnd,
)
from breakeven.results import Record, RunMeta, RunSettings, RunStore, make_record, now_iso
from breakeven.supervision import WorkerFailure, WorkerSession, runner_cpu


@dataclass(frozen=True)
class Options:
    repeats: int = REPEATS
    timeout: float = TIMEOUT
    # bytes, for the worker's whole process tree (None: no budget)
    memory_budget: int | None = field(default_factory=default_budget)
    cores: int = CORES
    data_dir: Path = DATA_DIR
    plugins: tuple[str, ...] = ()  # modules the workers import first (extra workloads, e.g. breakeven.testing)
    cluster: ClusterPlan | None = None  # for the cases in the cluster mode
    memory_method: str = "auto"  # auto (a control group where possible, else sampled), cgroup, sampled
    # Where each session's scratch folder goes (spills, shuffles, written answers): None, the
    # system's temporary folder. Keep it short: Ray puts Unix sockets there (107 bytes at most).
    scratch: Path | None = None


@dataclass
class Part:
    """Cases of a session that read the same tables of one data set, from the same source, in
    the same chunk size: loaded together, run, then let go before the next part's."""

    label: str  # the cases' session label (``labels.session_label``)
    data: datagen.DataSpec
    chunk_rows: int | None
    source: str = "memory"
    tables: tuple[str, ...] = ()  # the roles its cases read: all of them, and nothing more, are loaded
    cases: list[Case] = field(default_factory=list)


@dataclass
class Group:
    """Cases that share one engine session (a worker): one configuration, its parts in turn."""

    engine: str
    mode: str
    profile: str
    topology: str | None = None
    parts: list[Part] = field(default_factory=list)

    @property
    def label(self) -> str:
        return worker_label(self.engine, self.mode, self.profile, self.topology)

    @property
    def cases(self) -> list[Case]:
        return [c for part in self.parts for c in part.cases]


def group_cases(cases: list[Case]) -> list[Group]:
    """Cases by engine session, one per configuration (an engine starts once, not once per data
    set); the cluster mode's last, one topology after another, so that each cluster starts once.
    A session's parts are its cases by data set, source, chunk size and tables read: a case's
    load phase and its memory hold what it reads, never another question's tables (a
    small-table merge at 1e8 rows loaded beside the 1e8-row ``big`` table ran pandas out of
    memory)."""
    groups: dict[tuple[Any, ...], Group] = {}
    parts: dict[tuple[Any, ...], Part] = {}
    for case in cases:
        key = (case.engine, case.mode, case.profile, case.topology)
        if key not in groups:
            groups[key] = Group(case.engine, case.mode, case.profile, case.topology)
        tables = tuple(sorted(case.wl.tables))
        part_key = (*key, case.data, case.chunk_rows, case.source, tables)
        if part_key not in parts:
            parts[part_key] = Part(case.session_label, case.data, case.chunk_rows, case.source, tables)
            groups[key].parts.append(parts[part_key])
        parts[part_key].cases.append(case)
    topologies = list(dict.fromkeys(g.topology for g in groups.values() if g.topology))
    return sorted(groups.values(), key=lambda g: topologies.index(g.topology) + 1 if g.topology else 0)


def run_meta(suite: str, options: Options, cases: list[Case]) -> RunMeta:
    """What a run's ``run.json`` says: the machine, every version, the settings and the planned cases."""
    plan = options.cluster
    method, why = choose_method(options.memory_method, options.memory_budget)
    settings = RunSettings(
        repeats=options.repeats,
        timeout=options.timeout,
        memory_budget=options.memory_budget,
        cores=options.cores,
        memory_method=method,
        memory_method_why=why,
        cpus=cpu_set(options.cores),
        cluster={
            "engine": plan.engine,
            "topologies": list(plan.labels),
            "address": plan.address,
            "network_rate": plan.network_rate,
        }
        if plan
        else None,
    )
    return RunMeta(
        created=now_iso(),
        machine=machine_info(),
        versions=versions(),
        suite=suite,
        settings=settings,
        planned=tuple(c.id for c in cases),
    )


class Runner:
    """Runs cases, writes each record as it finishes, and tells ``emit`` what it does."""

    def __init__(self, options: Options, store: RunStore, emit: Listener = ignore) -> None:
        self.options, self.store = options, store
        self.emit = emit
        self.session: WorkerSession | None = None
        self.sessions_started = 0
        self._seen_pids: set[int] = set()  # every process of every worker tree, for leak checks
        self._no_reference: dict[tuple[datagen.DataSpec, str], str] = {}  # references that failed, and why
        self.cpus = cpu_set(options.cores)  # --cores below the machine's, enforced (breakeven.cpus)
        self.clusters = RunClusters(options.cluster, store.log_dir, self.emit, self._control_group, self.cpus)
        self.memory_method, self.memory_fallback = choose_method(options.memory_method, options.memory_budget)

    @property
    def seen_pids(self) -> set[int]:
        """Every process of every worker tree and cluster of the run, for leak checks."""
        return self._seen_pids | self.clusters.seen_pids

    def run(self, cases: list[Case]) -> list[Record]:
        records = []
        try:
            for group in group_cases(cases):
                for record in self._run_group(group):
                    self.store.write(record)
                    records.append(record)
                    self.emit(CaseFinished(record))
        finally:
            if self.session is not None:  # interrupted: leave nothing running
                self.session.stop()
                self.session.close()
                self.session = None
            self.clusters.down()
        return records

    def _record(self, case: Case, status: str, reason: str | None, **found: Any) -> Record:
        limits = {"timeout": self._timeout(case), "memory_budget": self.options.memory_budget}
        return make_record(case, self.store.run_id, status, reason, **limits, **found)

    def _timeout(self, case: Case) -> float:
        """The most a case may take (its cold run, repeats and check): the run's timeout, or less."""
        return min(self.options.timeout, case.wl.timeout or self.options.timeout)

    def _run_group(self, group: Group) -> Iterator[Record]:
        try:
            engine_class(group.engine)
        except EngineUnavailable as exc:
            for case in group.cases:
                yield self._record(case, "unavailable", str(exc))
            return
        if group.mode == CLUSTER_MODE and group.topology and (why := self.clusters.use(group.topology)):
            for case in group.cases:
                yield self._record(case, "crashed", why)
            return
        # Every part's data and references first: nothing is generated while a session runs.
        pending = []
        for part in group.parts:
            runnable = []
            for case in part.cases:
                wl = case.wl
                if not engine_meta(group.engine).implements(wl):
                    why = wl.unsupported.get(group.engine, f"{wl.name} has no {group.engine} implementation")
                    yield self._record(case, "unsupported", why)
                else:
                    runnable.append(case)
            if not runnable:
                continue
            failed = self._prepare(part.data, [c.workload for c in runnable])
            for case in runnable:
                if case.workload in failed:
                    yield self._record(case, "crashed", failed[case.workload])
            pending += [c for c in runnable if c.workload not in failed]
        while pending:
            pending = yield from self._session(group, pending)

    def _prepare(self, spec: datagen.DataSpec, workloads: list[str]) -> dict[str, str]:
        """Generate the data set and its reference answers (cached); why, for each workload
        without one. A reference that failed is not tried again in the run: each engine's
        cases of it are recorded with the reason (at 1e8 rows a try costs minutes)."""
        if not datagen.is_generated(spec, self.options.data_dir):
            self.emit(DataGenerating(spec.name, spec.rows))
            _, seconds = datagen.generate(spec, self.options.data_dir, self.options.cores)
            self.emit(DataGenerated(spec.name, seconds))
        wanted = sorted(set(workloads))
        known = {w: self._no_reference[spec, w] for w in wanted if (spec, w) in self._no_reference}
        missing = [w for w in wanted if w not in known and reference.found(spec, w, self.options.data_dir) is None]
        if missing:
            self.emit(MakingReferences(spec.name, tuple(missing)))
        failed = reference.ensure(spec, missing, self.options.data_dir, self.options.timeout * 4, self.options.plugins)
        self._no_reference.update({(spec, w): why for w, why in failed.items()})
        return known | failed

    def _plan(self, group: Group, parts: list[Part], scratch: Path) -> SessionPlan:
        opts = self.options
        return SessionPlan(
            engine=group.engine,
            mode=group.mode,
            profile=group.profile,
            cores=opts.cores,
            memory_budget=opts.memory_budget,
            log_dir=str(self.store.log_dir),
            scratch_dir=str(scratch),
            repeats=opts.repeats,
            plugins=list(opts.plugins),
            cluster=self.clusters.info if group.mode == CLUSTER_MODE else None,
            parts=[self._part_plan(part) for part in parts],
            cpus=self.cpus,
        )

    def _part_plan(self, part: Part) -> PartPlan:
        data_dir = self.options.data_dir
        paths = datagen.dataset_paths(part.data, data_dir)
        rows = part.data.table_rows()
        return PartPlan(
            name=part.label,
            tables={role: TablePlan(str(paths[role].resolve()), rows[role]) for role in part.tables},
            cases=[
                PlannedCase(
                    c.id,
                    c.workload,
                    c.chunk_rows,
                    str(reference.found(part.data, c.workload, data_dir).resolve()),  # type: ignore[union-attr]
                    c.sink,
                )
                for c in part.cases
            ],
            source=part.source,
            chunk_rows=part.chunk_rows,
        )

    def _control_group(self) -> ControlGroup | None:
        """A control group for a new session or cluster, if this run measures with them."""
        if self.memory_method == SAMPLED:
            return None
        group = make_control_group(self.options.memory_budget)
        if isinstance(group, str):  # worked at the start of the run, not now: say so, go on sampling
            self.memory_method, self.memory_fallback = SAMPLED, group
            self.emit(MemoryMethodChanged(SAMPLED, group))
            return None
        return group

    def _session(self, group: Group, pending: list[Case]) -> Iterator[Record]:
        """Run ``pending`` in one worker, a part after another; returns the cases left after a
        failure, for a new session."""
        opts = self.options
        ids = {c.id for c in pending}
        parts = [p for p in (replace(p, cases=[c for c in p.cases if c.id in ids]) for p in group.parts) if p.cases]
        self.sessions_started += 1
        name = f"{group.label}.{self.sessions_started}"
        log_path = self.store.log_dir / f"{name}.log"
        scratch = Path(tempfile.mkdtemp(prefix="breakeven-", dir=opts.scratch))
        in_cluster = group.mode == CLUSTER_MODE
        # A local cluster's sessions join the cluster's control group: its memory is theirs.
        cluster_group = self.clusters.group if in_cluster else None
        cgroup = cluster_group or self._control_group()
        session = self.session = WorkerSession(
            self._plan(group, parts, scratch),
            self.store.log_dir / f"{name}.plan.json",
            log_path,
            opts.memory_budget,
            self.clusters.roots if in_cluster else None,
            cgroup,
            owns_group=cgroup is not cluster_group,
        )
        session.meter.mark()  # a cluster's group has served earlier sessions: its peak starts here
        base: dict[str, Any] = {"log": str(log_path.relative_to(self.store.root)), "memory_method": session.method}
        if in_cluster and self.clusters.info:
            base["cluster"] = {k: v for k, v in self.clusters.info.items() if k != "secret_file"}
        found = base
        remaining = [c for p in parts for c in p.cases]
        # What a failure now is: every remaining case's (the engine's startup), the part's (loading
        # its tables), between parts (letting go of the last one's: nobody's), or the case's.
        phase, part = "startup", parts[0]
        try:
            base["startup"] = session.next_event(Startup, time.monotonic() + opts.timeout, "engine startup").seconds
            for index, part in enumerate(parts):
                phase = "between" if index else "startup"
                session.next_event(PartStart, time.monotonic() + opts.timeout, "loading the data")
                phase = "part"
                session.meter.mark()  # the load's window: from here to its Loaded
                session.tree.add(session.own_pids())
                session.ack()
                loaded = session.next_event(Loaded, time.monotonic() + opts.timeout, "loading the data")
                found = base | {"load": loaded.seconds, "load_peak_memory_bytes": session.meter.peak()}
                if "cluster" in found:  # the cluster as the engine saw it
                    found["cluster"] = found["cluster"] | {"engine_view": loaded.topology}
                phase = "case"
                for case in part.cases:
                    record = self._case(session, case, found)
                    remaining.pop(0)
                    yield record
                    if record.status == "crashed" and remaining:
                        # The engine raised: its state is unknown (Spark stops its context after
                        # the driver's OutOfMemoryError, and every later call fails), so the rest
                        # of the cases get a new session rather than inherit the damage.
                        return remaining
            phase = "closing"
            session.next_event(SessionDone, time.monotonic() + opts.timeout, "closing the engine")
            session.proc.wait(timeout=60)
            return []
        except WorkerFailure as failure:
            peak = session.meter.peak()
            if phase == "startup":  # every case of the session shares the cause
                for case in remaining:
                    yield self._record(case, failure.status, failure.reason, peak_memory_bytes=peak, **base)
                return []
            if phase == "part":  # the part's cases share it; the next parts get a new session
                for case in part.cases:
                    yield self._record(case, failure.status, failure.reason, peak_memory_bytes=peak, **base)
                return remaining[len(part.cases) :]
            if phase == "between" or not remaining:  # logged; only letting go or closing failed
                return remaining
            cpu = session.meter.cpu_seconds()
            yield self._record(
                remaining[0], failure.status, failure.reason, peak_memory_bytes=peak, cpu_seconds=cpu, **found
            )
            return remaining[1:]
        finally:
            session.stop()
            session.close()
            self._seen_pids |= session.tree.pids()
            keep_logs(scratch, self.store.log_dir / f"{name}.engine")
            self.session = None

    def _case(self, session: WorkerSession, case: Case, found: dict[str, Any]) -> Record:
        """One case of a session's part, its windows metered: the cold run, then the repeats."""
        began = time.monotonic()
        deadline = began + self._timeout(case)
        self.emit(CaseStarted(case.id))
        session.next_event(CaseStart, deadline, "the case")
        peak, cpu, runner_used = 0, 0.0, 0.0
        while True:  # a window per part metered: the cold run, then the repeats
            session.meter.mark()
            session.tree.add(session.own_pids())
            runner_start = runner_cpu()
            session.ack()
            session.next_event(TimedEnd, deadline, "the case")
            runner_used += runner_cpu() - runner_start
            peak, cpu = max(peak, session.meter.peak()), cpu + session.meter.cpu_seconds()
            session.tree.add(session.own_pids())
            session.ack()
            done = session.next_event((CaseStart, CaseDone), deadline, "the case")
            if isinstance(done, CaseDone):
                break
        return self._record(
            case,
            done.status,
            done.reason,
            peak_memory_bytes=peak,
            cpu_seconds=cpu,
            runner_cpu_seconds=runner_used,
            cold=done.cold,
            repeats=done.repeats,
            rows_out=done.rows_out,
            checksum=done.checksum,
            case_seconds=round(time.monotonic() - began, 3),
            **found,
        )
