"""The one runner behind the CLI, the asv benchmarks and the tests.

Cases are grouped into engine sessions (same engine configuration, data set and chunk size):
each session is a worker process (``breakeven.worker``) that starts the engine, loads the
tables once and runs its cases. The runner watches the worker's whole process tree: it
samples resident memory and CPU time, enforces the timeout and the memory budget, and kills
the tree when either is exceeded or the worker dies. The failed case is recorded with its
status and reason, and the remaining cases go on in a fresh session.
"""

from __future__ import annotations

import contextlib
import json
import os
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

import psutil

from breakeven import data as datagen
from breakeven import reference
from breakeven.cases import CLUSTER_MODE, Case
from breakeven.cluster.launcher import ClusterPlan, LocalCluster
from breakeven.engines import engine_class
from breakeven.errors import EngineUnavailable
from breakeven.machine import machine_info, versions
from breakeven.results import SCHEMA_VERSION, STATUSES, RunStore, now_iso

NOISY_SPREAD = 0.10  # (max - min) / median of the repeats above this is flagged as noisy
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Options:
    repeats: int = 3
    timeout: float = 600.0
    memory_budget: int | None = None  # bytes, for the worker's whole process tree
    cores: int = os.cpu_count() or 1
    data_dir: Path = Path("data")
    plugins: tuple[str, ...] = ()  # modules the workers import first (extra workloads, e.g. breakeven.testing)
    cluster: ClusterPlan | None = None  # for the cases in the cluster mode


class WorkerFailure(Exception):
    """The worker was killed or died: a case status and its reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class ProcessTree:
    """Memory and CPU seconds of a process and all its descendants, sampled.

    Memory is the sum of each process's proportional set size (PSS): a page shared by several
    processes (Ray's object store, forked Dask workers, shared libraries) is split among them,
    so the tree's total counts it once, where a sum of RSS would count it in every process.
    """

    def __init__(self, pid: int, shared: list[int] | None = None) -> None:
        self.root = psutil.Process(pid)
        self.procs: dict[int, psutil.Process] = {pid: self.root}
        # Processes that serve this tree but are not its own (a local cluster's servers and their
        # children): measured with it, never killed with it.
        self.shared_roots = [p for pid in shared or [] if (p := _alive(pid)) is not None]
        self.shared: dict[int, psutil.Process] = {}
        self.cpu: dict[int, float] = {}
        self.cpu_base: dict[int, float] = {}
        self.memory = 0
        self.peak = 0

    def sample(self) -> int:
        try:
            for child in self.root.children(recursive=True):
                self.procs.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
        for root in self.shared_roots:
            self.shared.setdefault(root.pid, root)
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in root.children(recursive=True):
                    self.shared.setdefault(child.pid, child)
        total = 0
        for pid, proc in list(self.procs.items()) + list(self.shared.items()):
            try:
                with proc.oneshot():
                    total += _pss(proc)
                    times = proc.cpu_times()
                self.cpu[pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        self.memory = total
        self.peak = max(self.peak, total)
        return total

    def mark(self) -> None:
        """Start a new accounting window: peak and CPU are counted from here."""
        self.peak = self.sample()
        self.cpu_base = dict(self.cpu)

    def cpu_seconds(self) -> float:
        self.sample()
        return sum(max(0.0, t - self.cpu_base.get(pid, 0.0)) for pid, t in self.cpu.items())

    def pids(self) -> set[int]:
        return set(self.procs)

    def kill(self) -> None:
        """Freeze the tree, find every descendant, then SIGKILL them all.

        Killing while a process is still starting others would orphan a child born after the
        last sample. So first SIGSTOP the worker's process group (the worker leads its own
        session) and every process seen, again until no new one appears; then SIGKILL every
        process ever seen that still runs (psutil checks the creation time, so a recycled pid
        is never hit)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.root.pid, signal.SIGSTOP)
        known = -1
        while len(self.procs) != known:  # a process that left the group (setsid) is stopped too
            known = len(self.procs)
            self.sample()
            self._add_session()
            for proc in list(self.procs.values()):
                with contextlib.suppress(psutil.Error):
                    proc.suspend()
        alive = []
        for proc in self.procs.values():
            try:
                if proc.is_running():
                    proc.kill()
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=10)

    def _add_session(self) -> None:
        """Add every process of the worker's session (it leads its own) to the tree, also those
        whose parent died and left them to init: a JVM that exits while spawning leaves its
        ``jspawnhelper`` so, and the group's SIGSTOP would leave it stopped for ever."""
        started = self.root.create_time()
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                mine = os.getsid(proc.pid) == self.root.pid and proc.create_time() >= started
                if mine and proc.pid not in self.procs:
                    self.procs[proc.pid] = proc


def _alive(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _pss(proc: psutil.Process) -> int:
    """PSS from /proc/PID/smaps_rollup (about 0.2 ms a process); RSS where that is unreadable."""
    try:
        return proc.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return proc.memory_info().rss


class WorkerSession:
    """One worker process and the socket to it."""

    def __init__(
        self,
        plan: dict[str, Any],
        plan_path: Path,
        log_path: Path,
        memory_budget: int | None,
        shared: list[int] | None = None,
    ) -> None:
        plan_path.write_text(json.dumps(plan))
        parent, child = socket.socketpair()
        self.sock, self.buffer, self.memory_budget = parent, b"", memory_budget
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "breakeven.worker", str(plan_path), str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the runner only; the runner kills the tree
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )
        child.close()
        self.tree = ProcessTree(self.proc.pid, shared)

    def _line(self) -> dict[str, Any] | None:
        if b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            return json.loads(line)
        return None

    def next_event(self, deadline: float, limit_what: str) -> dict[str, Any]:
        """The worker's next event; raises WorkerFailure on timeout, memory or death."""
        while True:
            event = self._line()
            if event is not None:
                if event["ev"] == "fatal":
                    self.proc.wait(timeout=30)
                    raise WorkerFailure(event.get("status", "crashed"), event["reason"])
                return event
            ready, _, _ = select.select([self.sock], [], [], POLL_SECONDS)
            used = self.tree.sample()
            if self.memory_budget and used > self.memory_budget:
                self.stop()
                raise WorkerFailure(
                    "memory",
                    f"{limit_what}: process tree used {used / 2**20:.0f} MiB, over the budget of "
                    f"{self.memory_budget / 2**20:.0f} MiB",
                )
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
                what += f" (out of memory? the tree last used {self.tree.memory / 2**20:.0f} MiB)"
        else:
            what = f"worker exited with code {code}"
        return f"{what}; see {self.log_path.name}: {log_tail(self.log_path)}"

    def ack(self) -> None:
        self.sock.sendall(b"ok\n")

    def stop(self) -> None:
        """Kill whatever is left of the tree and close the channel."""
        self.tree.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.sock.close()


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
        "cpu_seconds": found.get("cpu_seconds"),
        "rows_out": found.get("rows_out"),
        "checksum": found.get("checksum"),
        "log": found.get("log"),
        "cluster": found.get("cluster"),
        "finished_at": now_iso(),
    }


def run_meta(suite: str, options: Options, cases: list[Case]) -> dict[str, Any]:
    """What a run's ``run.json`` says: the machine, every version, the settings and the planned cases."""
    plan = options.cluster
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
        cluster = LocalCluster(plan.engine, topo, Path(tempfile.mkdtemp(prefix="breakeven-state-")))
        self.emit("cluster_start", {"engine": plan.engine, "topology": topology})
        try:
            state = cluster.up()
        except Exception as exc:  # recorded on every case that needed it (ClusterError: one line)
            self._keep_cluster_logs(cluster, topology)
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

    def _session(self, group: Group, pending: list[Case]) -> Iterator[dict[str, Any]]:
        """Run ``pending`` in one worker; returns the cases left after a failure."""
        opts = self.options
        self.sessions_started += 1
        name = f"{group.label}.{self.sessions_started}"
        log_path = self.store.log_dir / f"{name}.log"
        scratch = Path(tempfile.mkdtemp(prefix="breakeven-"))  # short: Ray puts Unix sockets there
        in_cluster = group.mode == CLUSTER_MODE
        session = self.session = WorkerSession(
            self._plan(group, pending, scratch),
            self.store.log_dir / f"{name}.plan.json",
            log_path,
            opts.memory_budget,
            self.cluster_roots if in_cluster else None,
        )
        found: dict[str, Any] = {"log": str(log_path.relative_to(self.store.root))}
        if in_cluster and self.cluster_info:
            found["cluster"] = {k: v for k, v in self.cluster_info.items() if k != "secret_file"}
        remaining = list(pending)
        started = False  # whether a case has begun: before it, a failure is the whole session's
        try:
            deadline = time.monotonic() + opts.timeout
            found["startup"] = session.next_event(deadline, "engine startup")["seconds"]
            loaded = session.next_event(deadline, "loading the data")
            found["load"] = loaded["seconds"]
            if "cluster" in found:  # the cluster as the engine saw it
                found["cluster"] = found["cluster"] | {"engine_view": loaded.get("topology")}
            found["load_peak_memory_bytes"] = session.tree.peak
            started = True
            while remaining:
                case = remaining[0]
                deadline = time.monotonic() + opts.timeout
                self.emit("case_start", {"case_id": case.id})
                session.next_event(deadline, "the case")  # case_start
                session.tree.mark()
                session.ack()
                session.next_event(deadline, "the case")  # timed_end
                peak, cpu = session.tree.peak, session.tree.cpu_seconds()
                session.ack()
                done = session.next_event(deadline, "the case")
                remaining.pop(0)
                yield self._record(
                    case,
                    done["status"],
                    done["reason"],
                    peak_memory_bytes=peak,
                    cpu_seconds=cpu,
                    cold=done["cold"],
                    repeats=done["repeats"],
                    rows_out=done["rows_out"],
                    checksum=done["checksum"],
                    **found,
                )
            session.next_event(time.monotonic() + opts.timeout, "closing the engine")
            session.proc.wait(timeout=60)
            return []
        except WorkerFailure as failure:
            if not started:  # startup or load failed: every case of the group shares the cause
                peak = session.tree.peak
                for case in remaining:
                    yield self._record(case, failure.status, failure.reason, peak_memory_bytes=peak, **found)
                return []
            if not remaining:  # every case finished; only closing the engine failed (logged)
                return []
            yield self._record(
                remaining[0],
                failure.status,
                failure.reason,
                peak_memory_bytes=session.tree.peak,
                cpu_seconds=session.tree.cpu_seconds(),
                **found,
            )
            return remaining[1:]
        finally:
            session.stop()
            self.seen_pids |= session.tree.pids()
            keep_logs(scratch, self.store.log_dir / f"{name}.engine")
            self.session = None
