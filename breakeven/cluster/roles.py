"""The cluster's servers, defined once: each role's command line and its health probe.

``breakeven cluster serve ROLE`` replaces itself (``exec``) with the engine's own server
command built here, and ``breakeven cluster probe ROLE`` runs the health probe. The local
launcher starts Dask's and Spark's servers through ``serve`` and ``cluster/docker-compose.yml``
runs the same ``serve`` and ``probe`` commands, so the two never drift apart. (Ray's local nodes
are the exception, for the reason in raylocal.py; its compose roles are ``ray start``.)

Servers bind to ``host``: 127.0.0.1 unless the user names another (``auto``: this host's own
address, for a container on a compose network). Secrets are passed as files, never on a command
line (visible in ``ps``) and never in the environment of a process that does not need them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from breakeven.cluster.access import LOOPBACK, on_loopback, ray_env, read_secret
from breakeven.engines import cluster_engines
from breakeven.errors import EngineUnavailable, UsageError

# Each engine's well-known ports (the scheduler/master/head's RPC port and its dashboard) and its
# servers' roles, as its Engine class declares them.
DEFAULT_PORTS: dict[str, tuple[int, int]] = {name: cls.cluster_kind.ports for name, cls in cluster_engines().items()}
ROLES = tuple(role for cls in cluster_engines().values() for role in cls.cluster_kind.roles)


@dataclass(frozen=True)
class ServeOptions:
    """What a server needs; the same fields come from the launcher or from compose's environment."""

    host: str = LOOPBACK  # interface to bind, and the address other processes reach this one at
    port: int = 0  # RPC port of the scheduler, master or head (0: the engine's default for the role)
    dashboard_port: int = 0
    scheduler: str | None = None  # a worker's scheduler, master or head address (host:port)
    cores: int = 1
    memory: int = 2 * 2**30  # bytes this worker may use
    name: str | None = None
    workdir: Path | None = None  # spill, shuffle and log files
    secret_file: Path | None = None  # Spark's shared secret or Ray's token


def _port(engine: str, opts: ServeOptions) -> int:
    return opts.port or DEFAULT_PORTS[engine][0]


def _dashboard(engine: str, opts: ServeOptions) -> int:
    return opts.dashboard_port or DEFAULT_PORTS[engine][1]


def _need(opts: ServeOptions, what: str) -> str:
    value = getattr(opts, what)
    if not value:
        raise UsageError(f"this role needs --{what.replace('_', '-')}")
    return str(value)


def spark_home() -> Path:
    """The Spark distribution inside the pyspark package (it has ``bin/spark-class``)."""
    import pyspark

    return Path(pyspark.__file__).parent


def spark_properties(opts: ServeOptions) -> Path:
    """A properties file (mode 0600, in the work dir) that turns on ``spark.authenticate`` with the
    cluster's secret: Master, Workers and applications must share it
    (https://spark.apache.org/docs/latest/security.html#spark-rpc-communication-protocol-between-spark-processes)."""
    secret = read_secret(Path(_need(opts, "secret_file")))
    workdir = Path(_need(opts, "workdir"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"spark-{opts.name or 'server'}.properties"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"spark.authenticate true\nspark.authenticate.secret {secret}\n")
    return path


def ray_worker_nodes(status: str) -> int:
    """The worker nodes in ``ray status``'s "Active:" list: every node but the head."""
    section = status.split("Active:", 1)[-1].split("Pending:", 1)[0] if "Active:" in status else ""
    return max(0, sum(1 for line in section.splitlines() if "node_" in line) - 1)


def command(role: str, opts: ServeOptions) -> tuple[list[str], dict[str, str]]:
    """The engine's own server command for ``role``, and the environment it adds."""
    if role == "dask-scheduler":
        # https://docs.dask.org/en/stable/deploying-cli.html. The scheduler too makes a scratch
        # folder (distributed's Server), in temporary-directory, and its command has no option for
        # it: Dask's configuration from the environment puts it in the work folder, not /tmp.
        scheduler_env = {"DASK_TEMPORARY_DIRECTORY": str(opts.workdir)} if opts.workdir else {}
        return [
            "dask", "scheduler", "--host", opts.host, "--port", str(_port("dask", opts)),
            "--dashboard-address", f"{opts.host}:{_dashboard('dask', opts)}", "--no-show",
        ], scheduler_env  # fmt: skip
    if role == "dask-worker":
        argv = [
            "dask", "worker", f"tcp://{_need(opts, 'scheduler')}", "--host", opts.host,
            "--nworkers", "1", "--nthreads", str(opts.cores), "--memory-limit", str(opts.memory),
            "--dashboard-address", f"{opts.host}:0",
        ]  # fmt: skip
        if opts.name:
            argv += ["--name", opts.name]
        if opts.workdir:
            argv += ["--local-directory", str(opts.workdir)]
        return argv, {}
    if role in ("spark-master", "spark-worker"):
        spark_class = str(spark_home() / "bin" / "spark-class")
        env = {"SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": opts.host}
        if opts.workdir:  # the daemons' temporary files and the executors' local dirs, not /tmp
            env |= {"SPARK_LOCAL_DIRS": str(opts.workdir), "SPARK_DAEMON_JAVA_OPTS": f"-Djava.io.tmpdir={opts.workdir}"}
        props = ["--properties-file", str(spark_properties(opts))]
        if role == "spark-master":
            # https://spark.apache.org/docs/latest/spark-standalone.html#starting-a-cluster-manually
            return [
                spark_class, "org.apache.spark.deploy.master.Master", "--host", opts.host,
                "--port", str(_port("spark", opts)), "--webui-port", str(_dashboard("spark", opts)), *props,
            ], env  # fmt: skip
        # Executors get the worker's memory less a share for the worker's own JVM (1 GiB by default).
        argv = [
            spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://{_need(opts, 'scheduler')}",
            "--host", opts.host, "--cores", str(opts.cores), "--memory", f"{opts.memory // 2**20}m",
            "--webui-port", "0", *props,
        ]  # fmt: skip
        if opts.workdir:
            argv += ["--work-dir", str(opts.workdir)]
        return argv, env
    if role == "ray-head":
        # The head runs the GCS and the dashboard, and no tasks (num-cpus 0): the workers do the work
        # (https://docs.ray.io/en/latest/cluster/vms/user-guides/community/index.html).
        argv = [
            "ray", "start", "--head", "--block", "--node-ip-address", opts.host,
            "--port", str(_port("ray", opts)), "--num-cpus", "0",
            "--include-dashboard", "true", "--dashboard-host", opts.host,
            "--dashboard-port", str(_dashboard("ray", opts)), "--disable-usage-stats",
        ]  # fmt: skip
        if opts.workdir:
            argv += ["--temp-dir", str(opts.workdir)]
        return argv, ray_env(opts.secret_file, opts.host == LOOPBACK)
    if role == "ray-worker":
        argv = [
            "ray", "start", "--block", "--address", _need(opts, "scheduler"),
            "--num-cpus", str(opts.cores), "--memory", str(opts.memory),
            # The object store takes 30% of the node's memory, Ray's default share.
            "--object-store-memory", str(int(opts.memory * 0.3)), "--disable-usage-stats",
        ]  # fmt: skip
        if opts.host != LOOPBACK:
            argv += ["--node-ip-address", opts.host]
        return argv, ray_env(opts.secret_file, opts.host == LOOPBACK)
    raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")


def serve(role: str, opts: ServeOptions) -> None:
    """Replace this process with the role's server (same pid, so the launcher's records hold)."""
    argv, env = command(role, opts)
    exe = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0], path=bin_path())
    if exe is None:
        raise EngineUnavailable(f"{argv[0]} is not installed: pip install 'breakeven[{role.split('-')[0]}]'")
    if role.startswith("spark"):
        from breakeven.java import find_java

        java = find_java()
        if isinstance(java, str):
            raise EngineUnavailable(java)
        env["JAVA_HOME"] = str(java.home)
    sys.stdout.flush()
    os.execve(exe, argv, os.environ | env)


def bin_path() -> str:
    """This interpreter's scripts folder first: ``dask`` and ``ray`` come with their packages."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def probe(engine: str, address: str, dashboard: str | None = None, workers: int = 0, token: Path | None = None) -> str:
    """Check that the cluster answers and has ``workers`` workers; a one-line state, or raises."""
    if engine == "dask":
        from distributed import Client

        with Client(f"tcp://{address}", timeout="10s") as client:
            if workers:
                client.wait_for_workers(workers, timeout=10)
            found = client.scheduler_info(n_workers=-1)["workers"]
            return f"{len(found)} workers, {sum(w['nthreads'] for w in found.values())} threads"
    if engine == "spark":
        # The master's web UI serves its state as JSON (alive workers, cores, memory).
        with urllib.request.urlopen(f"http://{dashboard}/json/", timeout=10) as reply:
            state = json.load(reply)
        alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
        if state.get("status") != "ALIVE" or len(alive) < workers:
            raise RuntimeError(f"master {state.get('status')}, {len(alive)} of {workers} workers alive")
        return f"{len(alive)} workers, {sum(w['cores'] for w in alive)} cores"
    if engine == "ray":
        # ``ray health-check`` asks the GCS; it needs the token like every other client.
        import subprocess

        env = os.environ | ray_env(token, on_loopback(address))
        ray = shutil.which("ray", path=bin_path()) or "ray"
        done = subprocess.run(
            [ray, "health-check", "--address", address], env=env, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"ray health-check failed: {(done.stderr or done.stdout).strip()[-200:]}")
        if not workers:
            return "head healthy"
        # ``ray status`` reads the GCS's node table: the head and each worker node under "Active:".
        status = [ray, "status", "--address", address]
        done = subprocess.run(status, env=env, capture_output=True, text=True, timeout=60)
        joined = ray_worker_nodes(done.stdout)
        if done.returncode != 0 or joined < workers:
            raise RuntimeError(f"head healthy, {joined} of {workers} worker nodes joined")
        return f"head healthy, {joined} worker nodes"
    raise UsageError(f"unknown engine {engine!r}")
