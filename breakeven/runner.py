"""The one runner behind the CLI, the asv benchmarks and the tests.

Cases are grouped into engine sessions (same engine configuration, data set and chunk size):
each session is a worker process (``breakeven.worker``) that starts the engine, loads the
tables once and runs its cases. The runner watches the worker's whole process tree through a
meter (``breakeven.accounting``: a control group of the session's where the machine allows
it, a cheap sampler where not): peak memory, CPU time, the memory budget; it enforces the
timeout, and kills the tree when a limit is exceeded or the worker dies. The failed case is
recorded with its status and reason, and the remaining cases go on in a fresh session.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakeven import data as datagen
from breakeven import reference
from breakeven.accounting import SAMPLED, CgroupMeter, ControlGroup, Meter, OverBudget, ProcessTree, SampledMeter
from breakeven.accounting import control_group as make_control_group
from breakeven.cases import CLUSTER_MODE, Case
from breakeven.cluster.launcher import ClusterPlan, LocalCluster
from breakeven.engines import engine_class
from breakeven.errors import EngineUnavailable, UsageError
from breakeven.machine import machine_info, versions
from breakeven.results import SCHEMA_VERSION, STATUSES, RunStore, now_iso

NOISY_SPREAD = 0.10  # (max - min) / median of the repeats above this is flagged as noisy


@dataclass(frozen=True)
class Options:
    repeats: int = 3
    timeout: float = 600.0
    memory_budget: int | None = None  # bytes, for the worker's whole process tree
    cores: int = os.cpu_count() or 1
    data_dir: Path = Path("data")
    plugins: tuple[str, ...] = ()  # modules the workers import first (extra workloads, e.g. breakeven.testing)
    cluster: ClusterPlan | None = None  # for the cases in the cluster mode
    memory_method: str = "auto"  # auto (a control group where possible, else sampled), cgroup, sampled


class WorkerFailure(Exception):
    """The worker was killed or died: a case status and its reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class WorkerSession:
    """One worker process, the socket to it, and the meter of its memory and CPU."""

    def __init__(
        self,
        plan: dict[str, Any],
        plan_path: Path,
        log_path: Path,
        memory_budget: int | None,
        shared: list[int] | None = None,
        group: ControlGroup | None = None,
        owns_group: bool = True,
    ) -> None:
        plan_path.write_text(json.dumps(plan))
        parent, child = socket.socketpair()
        self.sock, self.buffer, self.memory_budget = parent, b"", memory_budget
        self.log_path = log_path
        self.leaf = f"session-{plan_path.stem}"
        prefix = group.join(self.leaf) if group else []  # the worker enters its control group before it starts
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "breakeven.worker", str(plan_path), str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the runner only; the runner kills the tree
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )
        child.close()
        self.tree = ProcessTree(self.proc.pid, shared)
        self.group, self.owns_group = group, owns_group
        self.meter: Meter = CgroupMeter(group, memory_budget) if group else SampledMeter(self.tree, memory_budget)

    @property
    def method(self) -> str:
        return self.meter.method

    def own_pids(self) -> list[int]:
        """The session's processes by its control group (none without one): a cheap read."""
        return self.group.pids(self.leaf) if self.group else []

    def _line(self) -> dict[str, Any] | None:
        if b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            return json.loads(line)
        return None

    def next_event(self, expected: str, deadline: float, limit_what: str) -> dict[str, Any]:
        """The worker's next event, which must be ``expected``; raises WorkerFailure on timeout,
        memory or death."""
        while True:
            event = self._line()
            if event is not None:
                if event["ev"] == "fatal":
                    self.proc.wait(timeout=30)
                    raise WorkerFailure(event.get("status", "crashed"), event["reason"])
                if event["ev"] != expected:
                    self.stop()
                    raise WorkerFailure("crashed", f"{limit_what}: the worker sent {event['ev']!r}, not {expected!r}")
                return event
            ready, _, _ = select.select([self.sock], [], [], self.meter.interval)
            try:
                self.meter.poll()
            except OverBudget as over:
                self.stop()
                raise WorkerFailure("memory", f"{limit_what}: {over}") from None
            if time.monotonic() > deadline:
                self.stop()
                raise WorkerFailure("timeout", f"{limit_what} exceeded the timeout")
            if ready:
                chunk = self.sock.recv(1 << 16)
                if chunk:
                    self.buffer += chunk
                    continue
                raise WorkerFailure("crashed", self._death_reason())
            if self.proc.poll() is not None and b"\n" not in self.buffer:
                raise WorkerFailure("crashed", self._death_reason())

    def _death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.stop()
            return "worker closed its channel and hung"
        if code < 0:
            what = f"worker killed by {signal.Signals(-code).name}"
            if -code == signal.SIGKILL:
                what += f" (out of memory? the session's peak was {self.meter.peak() / 2**20:.0f} MiB)"
        else:
            what = f"worker exited with code {code}"
        return f"{what}; see {self.log_path.name}: {log_tail(self.log_path)}"

    def ack(self) -> None:
        self.sock.sendall(b"ok\n")

    def stop(self) -> None:
        """Kill whatever is left of the tree and close the channel."""
        self.tree.kill(self.own_pids())
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.sock.close()

    def close(self) -> None:
        """After ``stop``: release the meter and remove the session's control group (a cluster's
        stays with the cluster)."""
        self.meter.close()
        if self.group and self.owns_group:
            self.group.remove()


def runner_cpu() -> float:
    """CPU seconds the runner process (all its threads) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def keep_logs(scratch: Path, dest: Path) -> None:
    """Move every ``logs`` folder under ``scratch`` (Ray's session logs) to ``dest``, then delete
    ``scratch`` with whatever else the engine left there (shuffle files, sockets)."""
    for root, dirs, _ in os.walk(scratch):  # symbolic links (Ray's session_latest) are not followed
        if "logs" in dirs:
            shutil.copytree(Path(root) / "logs", dest / Path(root).relative_to(scratch), dirs_exist_ok=True)
            dirs.remove("logs")
    shutil.rmtree(scratch, ignore_errors=True)


def log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-300:]


@dataclass
class Group:
    """Cases that share one engine session."""

    engine: str
    mode: str
    profile: str
    data: datagen.DataSpec
    chunk_rows: int | None
    topology: str | None = None
    cases: list[Case] = field(default_factory=list)

    @property
    def label(self) -> str:
        chunk = f".c{datagen.fmt_num(self.chunk_rows)}" if self.chunk_rows else ""
        at = f"@{self.topology}" if self.topology else ""
        return f"{self.engine}-{self.mode}{at}-{self.profile}.{self.data.name}{chunk}"


def group_cases(cases: list[Case]) -> list[Group]:
    """Cases by engine session; the cluster mode's last, one topology after another, so that each
    cluster starts once."""
    groups: dict[tuple[Any, ...], Group] = {}
    for case in cases:
        key = (case.engine, case.mode, case.profile, case.topology, case.data, case.chunk_rows)
        if key not in groups:
            groups[key] = Group(case.engine, case.mode, case.profile, case.data, case.chunk_rows, case.topology)
        groups[key].cases.append(case)
    topologies = list(dict.fromkeys(g.topology for g in groups.values() if g.topology))
    return sorted(groups.values(), key=lambda g: topologies.index(g.topology) + 1 if g.topology else 0)


def summarise(times: list[float]) -> dict[str, Any]:
    if not times:
        return {"median": None, "spread": None, "noisy": False}
    median = statistics.median(times)
    spread = (max(times) - min(times)) / median if median > 0 else 0.0
    return {"median": median, "spread": spread, "noisy": spread > NOISY_SPREAD}


def make_record(case: Case, run_id: str, status: str, reason: str | None, **found: Any) -> dict[str, Any]:
    """A result record; the fields that a failed case lacks are None."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    repeats = found.get("repeats") or []
    stats = summarise(repeats)
    startup, load = found.get("startup"), found.get("load")
    end_to_end = None
    if status == "ok" and None not in (startup, load, stats["median"]):
        end_to_end = startup + load + stats["median"]
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "case_id": case.id,
        "case": case.to_dict(),
        "family": case.wl.family,
        "data": case.data.name,
        "distributed": case.config.distributed,
        "status": status,
        "reason": reason,
        "times": {
            "startup": startup,
            "load": load,
            "cold": found.get("cold"),
            "repeats": repeats,
            "compute_median": stats["median"],
            "end_to_end": end_to_end,
        },
        "spread": stats["spread"],
        "noisy": stats["noisy"],
        "peak_memory_bytes": found.get("peak_memory_bytes"),
        "load_peak_memory_bytes": found.get("load_peak_memory_bytes"),
        "memory_method": found.get("memory_method"),
        "cpu_seconds": found.get("cpu_seconds"),
        "runner_cpu_seconds": found.get("runner_cpu_seconds"),
        "rows_out": found.get("rows_out"),
        "checksum": found.get("checksum"),
        "log": found.get("log"),
        "cluster": found.get("cluster"),
        "finished_at": now_iso(),
    }


def choose_memory_method(options: Options) -> tuple[str, str | None]:
    """The method that will measure the run (``cgroup-v1``, ``cgroup-v2`` or ``sampled-pss``),
    and why it is not a control group, if it is not. ``cgroup`` that cannot be is an error."""
    if options.memory_method == "sampled":
        return SAMPLED, "asked for (--memory-method sampled)"
    probe = make_control_group(options.memory_budget)
    if isinstance(probe, str):
        if options.memory_method == "cgroup":
            raise UsageError(f"--memory-method cgroup: {probe}; use --memory-method sampled (or auto)")
        return SAMPLED, probe
    probe.remove()
    return probe.method, None


def run_meta(suite: str, options: Options, cases: list[Case]) -> dict[str, Any]:
    """What a run's ``run.json`` says: the machine, every version, the settings and the planned cases."""
    plan = options.cluster
    method, why = choose_memory_method(options)
    return {
        "created": now_iso(),
        "machine": machine_info(),
        "versions": versions(),
        "suite": suite,
        "settings": {
            "repeats": options.repeats,
            "timeout": options.timeout,
            "memory_budget": options.memory_budget,
            "cores": options.cores,
            "memory_method": method,
            "memory_method_why": why,
            "cluster": {"engine": plan.engine, "topologies": list(plan.labels), "address": plan.address}
            if plan
            else None,
        },
        "planned": [c.id for c in cases],
    }


Emit = Callable[[str, dict[str, Any]], None]


class Runner:
    """Runs cases, writes each record as it finishes, and reports progress through ``emit``."""

    def __init__(self, options: Options, store: RunStore, emit: Emit | None = None) -> None:
        self.options, self.store = options, store
        self.emit: Emit = emit or (lambda kind, info: None)
        self.session: WorkerSession | None = None
        self.sessions_started = 0
        self.seen_pids: set[int] = set()  # every process of every worker tree and cluster, for leak checks
        self.cluster: LocalCluster | None = None  # the local cluster that is up, if any
        self.cluster_info: dict[str, Any] | None = None  # what the plan and the records say of it
        self.cluster_roots: list[int] = []
        self.cluster_group: ControlGroup | None = None  # the local cluster's control group, its sessions join it
        self.memory_method, self.memory_fallback = choose_memory_method(options)

    def run(self, cases: list[Case]) -> list[dict[str, Any]]:
        records = []
        try:
            for group in group_cases(cases):
                for record in self._run_group(group):
                    self.store.write(record)
                    records.append(record)
                    self.emit("case", record)
        finally:
            if self.session is not None:  # interrupted: leave nothing running
                self.session.stop()
                self.session.close()
                self.session = None
            self._cluster_down()
        return records

    def _use_cluster(self, topology: str) -> str | None:
        """Make the cluster of ``topology`` the current one (starting it if local); None, or why not."""
        plan = self.options.cluster
        if plan is None:
            return "the cluster mode needs a cluster: pass --cluster or --cluster-address"
        if plan.address:
            host = plan.address.split("://")[-1].rsplit(":", 1)[0]
            self.cluster_info = {
                "kind": "external",  # not managed by breakeven: local, compose or real
                "address": plan.address,
                "loopback": host in ("localhost", "::1") or host.startswith("127."),
                "topology": None,
                "secret_file": plan.secret_file,
            }
            return None
        if self.cluster is not None and self.cluster_info and self.cluster_info["label"] == topology:
            return None
        self._cluster_down()
        topo = plan.topology(topology)
        self.cluster_group = self._control_group()
        prefix = self.cluster_group.join("servers") if self.cluster_group else []
        cluster = LocalCluster(plan.engine, topo, Path(tempfile.mkdtemp(prefix="breakeven-state-")), argv_prefix=prefix)
        self.emit("cluster_start", {"engine": plan.engine, "topology": topology})
        try:
            state = cluster.up()
        except Exception as exc:  # recorded on every case that needed it (ClusterError: one line)
            self._keep_cluster_logs(cluster, topology)
            self._remove_cluster_group()
            return f"the {plan.engine} cluster {topology} did not start: {exc}"
        self.cluster = cluster
        self.cluster_roots = [p["pid"] for p in state.processes if not p.get("child")]
        self.cluster_info = {
            "kind": "local",  # started and stopped by this run, on 127.0.0.1
            "loopback": True,
            "label": topology,
            "address": state.url,
            "dashboard": f"http://{state.dashboard}",
            "topology": state.topology,
            "startup_seconds": state.startup_seconds,
            "secret_file": state.secret_file,
        }
        self.emit("cluster_up", {"engine": plan.engine, "topology": topology, "seconds": state.startup_seconds})
        return None

    def _cluster_down(self) -> None:
        if self.cluster is None:
            return
        label = self.cluster_info["label"] if self.cluster_info else "cluster"
        self.seen_pids |= set(self.cluster.down())
        self._keep_cluster_logs(self.cluster, label)
        self.cluster, self.cluster_info, self.cluster_roots = None, None, []
        self._remove_cluster_group()

    def _remove_cluster_group(self) -> None:
        if self.cluster_group is not None:
            self.cluster_group.remove()
            self.cluster_group = None

    def _keep_cluster_logs(self, cluster: LocalCluster, label: str) -> None:
        """The servers' and the engine's logs go to the run's logs; the state folder is deleted."""
        cluster.down()
        keep_logs(cluster.dir, self.store.log_dir / f"cluster-{cluster.engine}@{label}")

    def _record(self, case: Case, status: str, reason: str | None, **found: Any) -> dict[str, Any]:
        return make_record(case, self.store.run_id, status, reason, **found)

    def _run_group(self, group: Group) -> Iterator[dict[str, Any]]:
        try:
            engine_class(group.engine)
        except EngineUnavailable as exc:
            for case in group.cases:
                yield self._record(case, "unavailable", str(exc))
            return
        if group.mode == CLUSTER_MODE and group.topology and (why := self._use_cluster(group.topology)):
            for case in group.cases:
                yield self._record(case, "crashed", why)
            return
        runnable = []
        for case in group.cases:
            wl = case.wl
            if group.engine in wl.unsupported or group.engine not in wl.impls:
                why = wl.unsupported.get(group.engine, f"{wl.name} has no {group.engine} implementation")
                yield self._record(case, "unsupported", why)
            else:
                runnable.append(case)
        if not runnable:
            return
        failed = self._prepare(group.data, [c.workload for c in runnable])
        if failed:
            for case in runnable:
                yield self._record(case, "crashed", failed)
            return
        pending = runnable
        while pending:
            pending = yield from self._session(group, pending)

    def _prepare(self, spec: datagen.DataSpec, workloads: list[str]) -> str | None:
        """Generate the data set and its reference answers (cached); None or the failure."""
        if not datagen.is_generated(spec, self.options.data_dir):
            self.emit("data", {"name": spec.name, "rows": spec.rows})
            _, seconds = datagen.generate(spec, self.options.data_dir, self.options.cores)
            self.emit("data_done", {"name": spec.name, "seconds": seconds})
        return reference.ensure(
            spec, sorted(set(workloads)), self.options.data_dir, self.options.timeout * 4, self.options.plugins
        )

    def _plan(self, group: Group, cases: list[Case], scratch: Path) -> dict[str, Any]:
        paths = datagen.dataset_paths(group.data, self.options.data_dir)
        rows = group.data.table_rows()
        roles = sorted({role for c in cases for role in c.wl.tables})
        return {
            "engine": group.engine,
            "mode": group.mode,
            "profile": group.profile,
            "cores": self.options.cores,
            "memory_budget": self.options.memory_budget,
            "log_dir": str(self.store.log_dir),
            "scratch_dir": str(scratch),
            "repeats": self.options.repeats,
            "chunk_rows": group.chunk_rows,
            "plugins": list(self.options.plugins),
            "cluster": self.cluster_info if group.mode == CLUSTER_MODE else None,
            "tables": {role: {"path": str(paths[role].resolve()), "rows": rows[role]} for role in roles},
            "cases": [
                {
                    "id": c.id,
                    "workload": c.workload,
                    "chunk_rows": c.chunk_rows,
                    "reference": str(reference.reference_path(group.data, c.workload, self.options.data_dir).resolve()),
                }
                for c in cases
            ],
        }

    def _control_group(self) -> ControlGroup | None:
        """A control group for a new session or cluster, if this run measures with them."""
        if self.memory_method == SAMPLED:
            return None
        group = make_control_group(self.options.memory_budget)
        if isinstance(group, str):  # worked at the start of the run, not now: say so, go on sampling
            self.memory_method, self.memory_fallback = SAMPLED, group
            self.emit("memory_method", {"method": SAMPLED, "why": group})
            return None
        return group

    def _session(self, group: Group, pending: list[Case]) -> Iterator[dict[str, Any]]:
        """Run ``pending`` in one worker; returns the cases left after a failure."""
        opts = self.options
        self.sessions_started += 1
        name = f"{group.label}.{self.sessions_started}"
        log_path = self.store.log_dir / f"{name}.log"
        scratch = Path(tempfile.mkdtemp(prefix="breakeven-"))  # short: Ray puts Unix sockets there
        in_cluster = group.mode == CLUSTER_MODE
        # A local cluster's sessions join the cluster's control group: its memory is theirs.
        cgroup = self.cluster_group if in_cluster and self.cluster_group else self._control_group()
        session = self.session = WorkerSession(
            self._plan(group, pending, scratch),
            self.store.log_dir / f"{name}.plan.json",
            log_path,
            opts.memory_budget,
            self.cluster_roots if in_cluster else None,
            cgroup,
            owns_group=cgroup is not self.cluster_group,
        )
        session.meter.mark()  # a cluster's group has served earlier sessions: its peak starts here
        found: dict[str, Any] = {"log": str(log_path.relative_to(self.store.root)), "memory_method": session.method}
        if in_cluster and self.cluster_info:
            found["cluster"] = {k: v for k, v in self.cluster_info.items() if k != "secret_file"}
        remaining = list(pending)
        started = False  # whether a case has begun: before it, a failure is the whole session's
        try:
            deadline = time.monotonic() + opts.timeout
            found["startup"] = session.next_event("startup", deadline, "engine startup")["seconds"]
            loaded = session.next_event("load", deadline, "loading the data")
            found["load"] = loaded["seconds"]
            if "cluster" in found:  # the cluster as the engine saw it
                found["cluster"] = found["cluster"] | {"engine_view": loaded.get("topology")}
            found["load_peak_memory_bytes"] = session.meter.peak()
            started = True
            while remaining:
                case = remaining[0]
                deadline = time.monotonic() + opts.timeout
                self.emit("case_start", {"case_id": case.id})
                session.next_event("case_start", deadline, "the case")
                session.meter.mark()
                session.tree.add(session.own_pids())
                runner_start = runner_cpu()
                session.ack()
                session.next_event("timed_end", deadline, "the case")
                runner_used = runner_cpu() - runner_start
                peak, cpu = session.meter.peak(), session.meter.cpu_seconds()
                session.tree.add(session.own_pids())
                session.ack()
                done = session.next_event("case_done", deadline, "the case")
                remaining.pop(0)
                yield self._record(
                    case,
                    done["status"],
                    done["reason"],
                    peak_memory_bytes=peak,
                    cpu_seconds=cpu,
                    runner_cpu_seconds=runner_used,
                    cold=done["cold"],
                    repeats=done["repeats"],
                    rows_out=done["rows_out"],
                    checksum=done["checksum"],
                    **found,
                )
            session.next_event("session_done", time.monotonic() + opts.timeout, "closing the engine")
            session.proc.wait(timeout=60)
            return []
        except WorkerFailure as failure:
            if not started:  # startup or load failed: every case of the group shares the cause
                peak = session.meter.peak()
                for case in remaining:
                    yield self._record(case, failure.status, failure.reason, peak_memory_bytes=peak, **found)
                return []
            if not remaining:  # every case finished; only closing the engine failed (logged)
                return []
            yield self._record(
                remaining[0],
                failure.status,
                failure.reason,
                peak_memory_bytes=session.meter.peak(),
                cpu_seconds=session.meter.cpu_seconds(),
                **found,
            )
            return remaining[1:]
        finally:
            session.stop()
            session.close()
            self.seen_pids |= session.tree.pids()
            keep_logs(scratch, self.store.log_dir / f"{name}.engine")
            self.session = None
