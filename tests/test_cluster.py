"""Local clusters of each distributed engine on 127.0.0.1: two workers each, verified answers
through the runner, loopback-only listeners, refused clients without the secret, a worker
killed mid-case, clean start failures, and no process left behind (checked by process ids)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

import breakeven.testing  # noqa: F401  (registers the fault workloads here; workers import it by plugin)
from breakeven.cases import Case
from breakeven.cluster.access import LOOPBACK, on_loopback
from breakeven.cluster.launcher import LocalCluster, check_port, members, worker_members
from breakeven.cluster.plan import ClusterError, ClusterPlan, Topology, same_resources
from breakeven.results import RunStore
from breakeven.testing import KILL_ENV

ENGINES = [
    pytest.param("dask", marks=pytest.mark.dask),
    pytest.param("spark", marks=pytest.mark.spark),
    pytest.param("ray", marks=pytest.mark.ray),
]
TWO_WORKERS = Topology(workers=2, cores=1, memory=1536 * 2**20)
PLUGIN = ("breakeven.testing",)


def cluster_cases(engine: str, workloads: tuple[str, ...] = ("groupby_q1", "join_dim_inner_agg")) -> list[Case]:
    dims = {"join_dim_inner_agg": 100}
    return [Case(w, engine, "cluster", "tuned", 10_000, topology="external", dim_rows=dims.get(w)) for w in workloads]


def outward_listeners(procs: list[psutil.Process]) -> list[tuple[str, int, str]]:
    """Listening sockets of ``procs`` on anything but 127.0.0.1."""
    found = []
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.ip not in (LOOPBACK, f"::ffff:{LOOPBACK}"):
                    found.append((proc.name(), proc.pid, f"{conn.laddr.ip}:{conn.laddr.port}"))
        except psutil.Error:
            continue
    return found


# What a stranger's driver shows when it is refused: in the master's log (Spark rejects its
# unauthenticated RPC), or its own (Ray's GCS refuses the token it lacks).
REFUSED = {"spark": ("state/logs/spark-master.log", "Expected SaslMessage"), "ray": ("client.log", "InvalidAuthToken")}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_two_worker_cluster_answers_refuses_strangers_and_survives_a_lost_worker(
    engine, run_cases, no_orphans, tmp_path, monkeypatch
) -> None:
    """One cluster's life on loopback: its servers listen on 127.0.0.1 only, its secret is the
    owner's alone; two questions verified on both workers; a driver without the secret refused;
    then a worker killed mid-case: that case recovered by the engine (its answer verified) or
    recorded with the reason, and the run goes on; down, nothing left and the secret nowhere."""
    with LocalCluster(engine, TWO_WORKERS, tmp_path / "state") as state:
        procs = members(state)
        pids = {p.pid for p in procs}
        assert not outward_listeners(procs), "a cluster server listens beyond 127.0.0.1"
        secret = Path(state.secret_file).read_text().strip()
        assert oct(Path(state.secret_file).stat().st_mode & 0o777) == "0o600"
        plan = ClusterPlan(engine, address=state.url, secret_file=state.secret_file)
        victims = worker_members(state, 1)
        assert victims, "worker 1 not found"
        monkeypatch.setenv(KILL_ENV, ",".join(str(p.pid) for p in victims))
        # run in the order of their data sets: the merge's, then q1, the kill and q2 on G1
        cases = cluster_cases(engine, ("join_dim_inner_agg", "groupby_q1", "fault_kill_worker", "groupby_q2"))
        if engine in REFUSED:  # a stranger first, while both workers serve
            watch, marker = REFUSED[engine]
            _client_refused(engine, state.url, tmp_path / watch, marker, tmp_path)
        records, runner = run_cases(cases, cluster=plan, plugins=PLUGIN, timeout=240)
        assert [r.case.workload for r in records] == [c.workload for c in cases]
        verified, killed, after = records[:2], records[2], records[3]
        assert [r.status for r in verified] == ["ok", "ok"], [r.reason for r in verified]
        for record in verified:
            assert record.cluster["kind"] == "external" and record.cluster["address"] == state.url
            assert record.cluster["engine_view"]["workers"] == 2
        print(f"{engine}: worker killed mid-case: {killed.status} ({killed.reason}), next {after.status}")
        assert all(not psutil.pid_exists(p.pid) or p.status() == psutil.STATUS_ZOMBIE for p in victims)
        assert killed.status in ("ok", "crashed"), killed.reason
        assert killed.status == "ok" or killed.reason
        assert after.status in ("ok", "crashed") and after.case.workload == "groupby_q2"
        pids |= {p.pid for p in members(state)}  # with the workers' children (executors, Ray workers)
        run_folder = runner.store.root
    assert not Path(state.secret_file).exists()
    written = [*run_folder.rglob("*"), *(tmp_path / "state").rglob("*")]
    assert any(p.suffix == ".log" for p in written)
    for path in written:  # the secret is in no record, plan, or server, engine or driver log
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), f"the secret leaked into {path}"
    no_orphans(pids | runner.seen_pids)  # down stopped everything, the dead worker's children too


def _client_refused(engine: str, url: str, watch: Path, marker: str, tmp_path: Path) -> None:
    """A driver without the secret or token: ``marker`` shows in ``watch`` and it never gets in."""
    if engine == "ray":
        code = f"import ray; ray.init(address={url!r}); print('CONNECTED', flush=True)"
        env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    else:
        code = (
            "from pyspark.sql import SparkSession; "
            f"s = SparkSession.builder.master({url!r}).config('spark.driver.host', '127.0.0.1')"
            ".config('spark.driver.bindAddress', '127.0.0.1').config('spark.ui.enabled', 'false')"
            f".config('spark.local.dir', {str(tmp_path)!r})"
            f".config('spark.driver.extraJavaOptions', '-Djava.io.tmpdir={tmp_path}').getOrCreate(); "
            "print('CONNECTED', s.range(10).count(), flush=True)"
        )
        env = {"JAVA_HOME": os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")}
    log = tmp_path / "client.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")} | env | {"HOME": str(tmp_path)}
    with open(log, "w") as out:
        client = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and marker not in watch.read_text(errors="replace"):
            time.sleep(0.5)
        assert marker in watch.read_text(errors="replace"), f"no refusal seen in {watch.name}"
        assert "CONNECTED" not in log.read_text()
    finally:
        os.killpg(client.pid, signal.SIGKILL)  # the driver and, for Spark, its JVM
        client.wait()


@pytest.mark.slow
@pytest.mark.dask
def test_port_in_use_is_one_line_and_leaves_nothing(no_orphans, tmp_path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ClusterError, match=f"port {port} on 127.0.0.1 .* is in use"):
            check_port(port, "dask scheduler")
        cluster = LocalCluster("dask", TWO_WORKERS, tmp_path / "state", port=port)
        with pytest.raises(ClusterError, match=f"port {port}"):
            cluster.up()
    assert not (tmp_path / "state" / "state.json").exists()


def test_on_loopback_reads_addresses_and_local_names() -> None:
    """The probe and Ray's driver decide alike whether a cluster is on loopback (names from
    /etc/hosts only: no lookup leaves the machine)."""
    assert on_loopback("127.0.0.1:6379") and on_loopback("localhost:6379")
    assert not on_loopback("10.0.0.1:6379")


def test_same_resources_topologies_hold_cores_and_memory() -> None:
    for cores in (2, 4, 8):
        shapes = same_resources(cores, 16 * 2**30)
        assert {(t.workers, t.cores) for t in shapes} >= {(1, cores), (cores, 1)}
        for topo in shapes:
            assert topo.workers * topo.cores == cores
            assert topo.workers * topo.memory <= 16 * 2**30
    assert [t.label for t in same_resources(4, 2**30)] == ["1x4", "4x1", "2x2"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "breakeven.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"COLUMNS": "200"})


@pytest.mark.slow
@pytest.mark.dask
def test_cluster_up_status_down_from_the_command_line(tmp_path, no_orphans) -> None:
    from breakeven.cluster.launcher import free_port
    from breakeven.cluster.plan import load_state

    root = ["--state-root", str(tmp_path)]
    port, dash = free_port(), free_port()
    up = _cli("cluster", "up", "dask", "--workers", "2", "--memory-per-worker", "1GiB",
              "--port", str(port), "--dashboard-port", str(dash), *root)  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert f"tcp://127.0.0.1:{port}" in up.stdout and f"http://127.0.0.1:{dash}" in up.stdout
    state = load_state(tmp_path / "dask")
    pids = {p.pid for p in members(state)}
    assert len(pids) >= 5  # scheduler, two nannies and their two workers
    status = _cli("cluster", "status", *root)
    assert "2 workers, 2 threads" in status.stdout and "2x1" in status.stdout
    again = _cli("cluster", "up", "dask", *root)
    assert again.returncode == 2 and "already recorded" in again.stderr
    os.kill(next(p for p in state.processes if p["name"] == "dask-worker-1")["pid"], signal.SIGKILL)  # a crash
    down = _cli("cluster", "down", *root)
    assert down.returncode == 0 and "dask cluster down" in down.stdout
    assert not (tmp_path / "dask" / "state.json").exists() and not Path(state.secret_file).exists()
    no_orphans(pids)


@pytest.mark.slow
@pytest.mark.dask
def test_cluster_up_on_a_busy_port_is_one_line_exit_2(tmp_path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _cli("cluster", "up", "dask", "--port", str(port), "--state-root", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and f"port {port} on 127.0.0.1" in done.stderr
    assert not (tmp_path / "dask" / "state.json").exists()


@pytest.mark.spark
def test_spark_cluster_without_java_is_one_line(tmp_path, monkeypatch) -> None:
    import breakeven.java

    monkeypatch.setattr(breakeven.java, "_candidates", lambda: [])
    with pytest.raises(ClusterError, match="Spark needs Java 17"):
        LocalCluster("spark", TWO_WORKERS, tmp_path / "state").up()
    assert not (tmp_path / "state" / "state.json").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_compose_ray_head_command_runs_on_loopback(tmp_path, no_orphans) -> None:
    """The very command the compose ``ray-head`` service runs, here on 127.0.0.1 with a token."""
    from breakeven.cluster.launcher import free_port
    from breakeven.cluster.roles import probe

    secret = tmp_path / "secret"
    assert _cli("cluster", "secret", str(secret)).returncode == 0
    port, dash = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="breakeven-test-"))
    head = subprocess.Popen(
        [sys.executable, "-m", "breakeven.cli", "cluster", "serve", "ray-head", "--port", str(port),
         "--dashboard-port", str(dash), "--secret-file", str(secret), "--workdir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, healthy = time.monotonic() + 90, None
        while time.monotonic() < deadline and healthy is None:
            try:
                healthy = probe("ray", f"{LOOPBACK}:{port}", token=secret)
            except RuntimeError:
                time.sleep(1)
        assert healthy == "head healthy"
        procs = [psutil.Process(head.pid), *psutil.Process(head.pid).children(recursive=True)]
        assert not outward_listeners(procs)
        pids = {p.pid for p in procs}
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # ``ray start --block`` stops its processes on SIGTERM
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(work, ignore_errors=True)
    time.sleep(2)
    no_orphans(pids)


@pytest.mark.slow
@pytest.mark.dask
def test_run_with_a_cluster_starts_and_stops_it(tmp_path, data_dir, no_orphans) -> None:
    before = set(Path(tempfile.gettempdir()).glob("breakeven-*"))
    done = _cli("run", "--cluster", "dask", "--topology", "2x1", "--cores", "2", "--engine", "pandas",
                "--workload", "groupby_q1", "--rows", "1e4", "--repeats", "1", "--run-id", "r",
                "--results", str(tmp_path / "results"), "--data", str(data_dir))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dask cluster 2x1 up in" in done.stdout
    run = tmp_path / "results" / "runs" / "r"
    [record] = [r for r in RunStore(run).records() if r.case_id.startswith("groupby_q1.dask-cluster@2x1-default")]
    assert record.status == "ok"
    assert record.cluster["kind"] == "local" and record.cluster["startup_seconds"] > 0
    assert record.cluster["engine_view"] == {
        "workers": 2,
        "cores_per_worker": [1, 1],
        "memory_per_worker": [record.cluster["topology"]["memory"]] * 2,
    }
    assert (run / "logs" / "cluster-dask@2x1" / "dask-scheduler.log").exists()
    assert set(Path(tempfile.gettempdir()).glob("breakeven-*")) == before, "a state or work folder was left"


@pytest.mark.ray
def test_a_ray_driver_where_no_ray_node_runs_says_where_to_run(monkeypatch, tmp_path) -> None:
    """ray.init(address=...) needs a raylet on its own machine, one that outlives the driver."""
    from breakeven.engines import SessionSettings, ray_engine

    monkeypatch.setattr(os, "environ", dict(os.environ))  # start() sets Ray's variables
    monkeypatch.setattr(ray_engine, "_raylet_here", lambda: False)
    engine = ray_engine.RayEngine(
        "cluster", "default", SessionSettings(2, None, tmp_path, tmp_path, {"address": "ray-head:6379"})
    )
    with pytest.raises(RuntimeError, match="a Ray driver runs on a node of its cluster: run breakeven on the head"):
        engine.start()
