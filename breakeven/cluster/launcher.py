"""Local clusters of separate processes on 127.0.0.1: start, wait until healthy, record, stop.

A cluster lives in a state folder (``state.json``, the secret, ``logs/``, ``work/``). Every
process it starts carries ``BREAKEVEN_CLUSTER_ID`` in its environment, which every child
(Dask's worker under its nanny, Spark's executors, Ray's raylets and workers) inherits: ``down``
finds exactly those processes by that tag, also the ones orphaned when their parent crashed,
and stops them (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from breakeven.cluster.access import LOOPBACK, ray_env, write_secret
from breakeven.cluster.plan import ENGINES, ClusterError, ClusterState, Topology, load_state
from breakeven.cluster.roles import probe
from breakeven.engines import registry
from breakeven.errors import UsageError
from breakeven.files import write_json_atomic
from breakeven.logs import keep_logs, log_tail
from breakeven.network import NONE, Namespace, create, delete, enter

TAG = "BREAKEVEN_CLUSTER_ID"
HEALTH_TIMEOUT = 180.0  # seconds for every server to start and every worker to join
STOP_GRACE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def check_port(port: int, what: str) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is not "in use"
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            raise ClusterError(
                f"port {port} on {LOOPBACK} ({what}) is in use: stop what uses it or choose another port"
            ) from None


class LocalCluster:
    """A cluster of ``topology`` for ``engine``; a context manager that stops it on exit."""

    def __init__(
        self,
        engine: str,
        topology: Topology,
        state_dir: Path,
        port: int | None = None,
        dashboard_port: int | None = None,
        argv_prefix: list[str] | None = None,
        network_rate: str = NONE,
    ) -> None:
        if engine not in ENGINES:
            raise UsageError(f"unknown cluster engine {engine!r}: use one of {', '.join(ENGINES)}")
        self.engine, self.topology, self.dir = engine, topology, state_dir
        self.port, self.dashboard_port = port, dashboard_port
        self.argv_prefix = argv_prefix or []  # e.g. entering the runner's control group for the cluster
        # Other than ``none``: a network namespace of its own with that rate, which ``up`` makes and
        # enters (so the servers start in it) and ``down`` deletes; ``none``: the calling
        # process's network, whatever it is.
        self.network_rate = network_rate
        self.state: ClusterState | None = None

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def __enter__(self) -> ClusterState:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- starting -----------------------------------------------------------------------------
    def up(self, timeout: float = HEALTH_TIMEOUT) -> ClusterState:
        """Start every server, return when the cluster is healthy; on failure stop all and raise."""
        if self.state_file.exists():
            raise ClusterError(f"a {self.engine} cluster is already recorded in {self.dir}: run breakeven cluster down")
        for stale in ("ready.json", "raylocal.json"):  # left by a cluster that failed to start
            (self.dir / stale).unlink(missing_ok=True)
        self._preflight()
        # The namespace first: its ports, not the machine's, are the ones the servers will take.
        ns = create(self.network_rate) if self.network_rate != NONE else None
        try:
            if ns is not None:
                enter(ns)
            started = time.monotonic()
            port = self.port if self.port is not None else free_port()
            dash = self.dashboard_port if self.dashboard_port is not None else free_port()
            if self.port is not None:
                check_port(port, f"{self.engine} scheduler")
            if self.dashboard_port is not None:
                check_port(dash, f"{self.engine} dashboard")
            (self.dir / "logs").mkdir(parents=True, exist_ok=True)
            secret = self.dir / "secret"
            write_secret(secret)
            self.state = ClusterState(
                self.engine,
                secrets.token_hex(8),
                asdict(self.topology),
                f"{LOOPBACK}:{port}",
                f"{LOOPBACK}:{dash}",
                str(secret),
                tempfile.mkdtemp(prefix="breakeven-cluster-"),
                network_rate=self.network_rate,
                netns=ns.name if ns else None,
            )
            self._save()
            self._start_servers(port, dash)
            self._wait_healthy(time.monotonic() + timeout)
        except BaseException:
            if self.state is not None:
                self.down()  # its servers, files and namespace
            elif ns is not None:
                delete(ns)
            raise
        self.state.startup_seconds = time.monotonic() - started
        self._record_descendants()
        return self.state

    def _preflight(self) -> None:
        """The missing piece, before anything starts."""
        if self.engine == "spark":
            from breakeven.java import find_java

            java = find_java()
            if isinstance(java, str):
                raise ClusterError(java)
        module = registry()[self.engine].cluster_kind.client  # type: ignore[union-attr]
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise ClusterError(f"{module} is not installed: pip install 'breakeven[{self.engine}]'")

    def _serve_argv(self, role: str, **opts: Any) -> list[str]:
        argv = [sys.executable, "-m", "breakeven.cli", "cluster", "serve", role]
        for key, value in opts.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        return argv

    def _start_servers(self, port: int, dash: str | int) -> None:
        assert self.state is not None
        topo, work = self.topology, Path(self.state.workdir)
        common = {"secret_file": self.state.secret_file, "workdir": work}
        if self.engine == "ray":
            spec = self.dir / "raylocal.json"
            spec.write_text(
                json.dumps({"port": port, "dashboard_port": int(dash), "workdir": str(work), **asdict(topo)})
            )
            env = ray_env(Path(self.state.secret_file), loopback=True)
            self._spawn("ray-local", [sys.executable, "-m", "breakeven.cluster.raylocal", str(spec)], env)
            return
        head = f"{self.engine}-scheduler" if self.engine == "dask" else "spark-master"
        self._spawn(head, self._serve_argv(head, port=port, dashboard_port=dash, **common))
        self._wait_port(port, head)
        worker = f"{self.engine}-worker"
        for i in range(topo.workers):
            name = f"w{i + 1}"
            self._spawn(
                f"{worker}-{i + 1}",
                self._serve_argv(
                    worker,
                    scheduler=self.state.address,
                    cores=topo.cores,
                    memory=topo.memory,
                    name=name,
                    **{**common, "workdir": work / name},
                ),
            )

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        assert self.state is not None
        log = self.dir / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [*self.argv_prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C in the terminal does not reach it
                env=os.environ | (env or {}) | {TAG: self.state.cluster_id, "PYTHONUNBUFFERED": "1"},
            )
        self.state.processes.append(
            {"name": name, "pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(), "log": str(log)}
        )
        self._save()

    def _dead_server(self) -> str | None:
        """A one-line reason if a server process has exited."""
        assert self.state is not None
        for rec in self.state.processes:
            proc = _process(rec)
            if proc is None or proc.status() == psutil.STATUS_ZOMBIE:
                tail = log_tail(Path(rec["log"])) or "(no log, or empty)"
                return f"{rec['name']} exited while starting: {tail}"
        return None

    def _wait_port(self, port: int, name: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((LOOPBACK, port)) == 0:
                    return
            if why := self._dead_server():
                raise ClusterError(why)
            time.sleep(0.2)
        raise ClusterError(f"{name} did not open port {port} within {timeout:.0f} s")

    def _wait_healthy(self, deadline: float) -> None:
        assert self.state is not None
        last = "no answer yet"
        while time.monotonic() < deadline:
            if why := self._dead_server():
                raise ClusterError(why)
            if self.engine == "ray":
                ready = self.dir / "ready.json"
                if not ready.exists():
                    time.sleep(0.5)
                    continue
                info = json.loads(ready.read_text())
                self.state.address, self.state.dashboard = info["address"], info["dashboard"]
            try:
                probe(
                    self.engine,
                    self.state.address,
                    self.state.dashboard,
                    self.topology.workers,
                    Path(self.state.secret_file),
                )
                self._save()
                return
            except Exception as exc:  # not ready yet: the probe's own errors are the engine's
                last = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                time.sleep(1)
        raise ClusterError(f"the {self.engine} cluster was not healthy within the time limit: {last}")

    def _record_descendants(self) -> None:
        """Add the processes the servers started (workers, raylets, executors) to the record."""
        assert self.state is not None
        known = {rec["pid"] for rec in self.state.processes}
        for proc in members(self.state):
            if proc.pid not in known:
                with contextlib.suppress(psutil.Error):
                    self.state.processes.append(
                        {"name": proc.name(), "pid": proc.pid, "create_time": proc.create_time(), "child": True}
                    )
        self._save()

    def _save(self) -> None:
        assert self.state is not None
        write_json_atomic(self.state_file, asdict(self.state))

    # -- stopping -----------------------------------------------------------------------------
    def down(self) -> list[int]:
        """Stop every process of the cluster (also after one of them crashed); the pids stopped.
        The engines' logs in the work folder join the servers' logs in ``logs/``; the rest of the
        work folder and the secret are deleted."""
        state = self.state or (load_state(self.dir) if self.state_file.exists() else None)
        if state is None:
            return []
        stopped = stop(state)
        if state.workdir:
            keep_logs(Path(state.workdir), self.dir / "logs")
        if state.netns:  # its processes are gone: nothing uses the namespace any more
            delete(Namespace(state.netns, state.network_rate))
        self.state_file.unlink(missing_ok=True)
        Path(state.secret_file).unlink(missing_ok=True)
        self.state = None
        return stopped


def _process(rec: dict[str, Any]) -> psutil.Process | None:
    """The recorded process if it still runs (same pid and start time: not a recycled pid)."""
    try:
        proc = psutil.Process(rec["pid"])
        return proc if abs(proc.create_time() - rec["create_time"]) < 0.01 else None
    except psutil.NoSuchProcess:
        return None


def members(state: ClusterState) -> list[psutil.Process]:
    """The cluster's live processes: the recorded ones, those with its tag, those in the sessions
    of its servers (each server leads its own session), and all their descendants. The tag alone
    is not enough: a process that renames itself (setproctitle: Ray's workers and dashboard
    modules) overwrites the environment that /proc shows."""
    procs = {p.pid: p for rec in state.processes if (p := _process(rec)) is not None}
    sessions = {rec["pid"] for rec in state.processes if not rec.get("child")}
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid in procs:
                continue
            in_session = os.getsid(proc.pid) in sessions and proc.create_time() >= state.started_at - 1
            if in_session or proc.environ().get(TAG) == state.cluster_id:
                procs[proc.pid] = proc
    for proc in list(procs.values()):
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                procs.setdefault(child.pid, child)
    alive = []
    for proc in procs.values():
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def worker_members(state: ClusterState, index: int) -> list[psutil.Process]:
    """The processes of worker ``index`` (from 1): its server and all its children; for Ray, the
    raylet of the index-th worker node (one with CPUs: the head has none) and its workers."""
    if state.engine == "ray":
        raylets = sorted(
            (p for p in members(state) if p.name() == "raylet" and ",CPU," in " ".join(p.cmdline())),
            key=lambda p: p.create_time(),
        )
        root = raylets[index - 1]
    else:
        rec = next(r for r in state.processes if r["name"] == f"{state.engine}-worker-{index}")
        found = _process(rec)
        if found is None:
            return []
        root = found
    return [root, *root.children(recursive=True)]


def stop(state: ClusterState) -> list[int]:
    """SIGTERM the servers (each stops its own children: executors, nanny'd workers, raylets),
    then after the grace period freeze every member left, again until no new one appears, and
    SIGKILL them all; returns every pid that was running."""
    procs = members(state)
    pids = [p.pid for p in procs]
    servers = [p for rec in state.processes if not rec.get("child") and (p := _process(rec)) is not None]
    for proc in servers:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    psutil.wait_procs(servers, timeout=STOP_GRACE)
    frozen: dict[int, psutil.Process] = {}
    while True:  # a process may start a child while we look: freeze until nothing new appears
        new = {p.pid: p for p in members(state) if p.pid not in frozen}
        if not new:
            break
        for proc in new.values():
            with contextlib.suppress(psutil.Error):
                proc.suspend()
        frozen |= new
    for proc in frozen.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(frozen.values()), timeout=10)
    return pids + [pid for pid in frozen if pid not in pids]
