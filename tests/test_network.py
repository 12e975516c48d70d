"""The rate-limited network (breakeven.network): rates, namespaces made and removed, the
bandwidth a namespace's loopback really has, and the bad-input paths."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from breakeven import network
from breakeven.errors import UsageError
from breakeven.results import RunStore


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.startswith(network.PREFIX)}


def test_rates_in_tcs_units() -> None:
    assert network.parse_rate("none") is None
    assert network.parse_rate("1gbit") == 10**9
    assert network.parse_rate("10gbit") == 10**10
    assert network.parse_rate("500mbit") == 5 * 10**8
    assert network.parse_rate("2.5gbit") == 25 * 10**8
    for bad in ("1gb", "fast", "0gbit", "-1gbit", "1 gbit s", ""):
        with pytest.raises(UsageError, match="bad network rate"):
            network.parse_rate(bad)
    assert network.burst_bytes(10**9) == 500_000  # a 4 ms tick at 1 Gbit/s
    assert network.burst_bytes(10**6) == 64 * 2**10  # never below 64 KiB


def _throughput(megabytes: int) -> float:
    """Mbit/s of one TCP connection on 127.0.0.1 in the calling thread's network."""
    size = megabytes * 2**20
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def drain() -> None:
            conn, _ = server.accept()
            with conn:
                while conn.recv(2**20):
                    pass

        reader = threading.Thread(target=drain)
        reader.start()
        block = b"x" * 2**20
        start = time.perf_counter()
        with socket.create_connection(server.getsockname()) as client:
            for _ in range(megabytes):
                client.sendall(block)
        reader.join()
        return size * 8 / (time.perf_counter() - start) / 1e6


def test_a_namespace_has_the_rate_it_was_given_and_is_removed_after(monkeypatch) -> None:
    before = _namespaces()
    outside = network.current()
    with network.joined("none") as none:
        assert none is None and network.current() == outside  # the machine's own network, as it was
    ns = network.create("200mbit")
    try:
        assert ns.name in _namespaces() and ns.path.exists()
        inside, rate = network.call_in(ns, lambda: (network.current(), _throughput(20)))
        assert inside != outside and network.current() == outside  # only that thread went in
        assert 150 < rate < 215, rate  # tbf's 200 Mbit/s, measured
        # nothing but loopback in there: no route to any other address
        links = subprocess.run(["ip", "-n", ns.name, "-o", "link"], capture_output=True, text=True).stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    finally:
        network.delete(ns)
    assert _namespaces() == before


def test_a_rate_tc_refuses_is_one_line_and_leaves_nothing() -> None:
    before = _namespaces()
    with pytest.raises(UsageError, match='refused: tbf: the "rate" parameter is mandatory'):
        network.create("1bit")  # below what tc can express
    assert _namespaces() == before


def test_only_namespaces_breakeven_made_are_deleted() -> None:
    with pytest.raises(ValueError, match="not a network namespace breakeven made"):
        network.delete(network.Namespace("someone-elses", "1gbit"))


def test_without_the_tools_or_the_permission_the_fix_is_named(monkeypatch) -> None:
    monkeypatch.setattr(network.shutil, "which", lambda tool: None if tool == "tc" else "/usr/sbin/ip")
    with pytest.raises(UsageError, match=r"--network-rate needs `tc`: apt-get install iproute2"):
        network.create("1gbit")
    monkeypatch.undo()
    denied = subprocess.CompletedProcess([], 1, "", "mount --make-shared /run/netns failed: Operation not permitted")
    monkeypatch.setattr(network, "_run", lambda *argv: denied)
    with pytest.raises(UsageError, match=r"cannot make a network namespace: .*not permitted \(it needs root"):
        network.create("1gbit")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "breakeven.cli", *args]
    env = os.environ | {"COLUMNS": "200"} | (env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.dask
def test_a_run_with_a_network_rate_runs_its_cluster_and_drivers_behind_it(tmp_path, data_dir, no_orphans) -> None:
    before = _namespaces()
    done = _cli("run", "--cluster", "dask", "--topology", "2x1", "--cores", "2", "--network-rate", "1gbit",
                "--engine", "dask:cluster:tuned", "--workload", "groupby_q1", "--workload", "join_small_inner",
                "--rows", "1e4", "--repeats", "1", "--run-id", "r",
                "--results", str(tmp_path / "results"), "--data", str(data_dir))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dask cluster 2x1 up in" in done.stdout and "loopback limited to 1gbit" in done.stdout
    store = RunStore(tmp_path / "results" / "runs" / "r")
    records = store.records()
    assert len(records) == 2 and all(r.ok for r in records), [(r.case_id, r.reason) for r in records]
    assert {r.cluster["network_rate"] for r in records} == {"1gbit"}
    assert store.meta().settings.cluster["network_rate"] == "1gbit"
    assert _namespaces() == before  # the run's namespace is gone with it


@pytest.mark.slow
@pytest.mark.dask
def test_a_cluster_up_behind_a_rate_is_joined_by_runs_and_taken_down_with_its_network(
    tmp_path, data_dir, no_orphans
) -> None:
    from breakeven.cluster.launcher import members
    from breakeven.cluster.plan import load_state

    before = _namespaces()
    # breakeven run finds a cluster's state (its secret, its namespace) under XDG_STATE_HOME
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    up = _cli("cluster", "up", "dask", "--workers", "2", "--memory-per-worker", "1GiB", "--network-rate", "500mbit",
              env=env)  # fmt: skip
    assert up.returncode == 0, up.stderr
    state = load_state(tmp_path / "xdg" / "breakeven" / "clusters" / "dask")
    assert state.network_rate == "500mbit" and state.netns in _namespaces() - before
    assert f"namespace {state.netns}, loopback limited to 500mbit" in up.stdout
    pids = {p.pid for p in members(state)}
    # The servers listen in the namespace only: nothing answers on the machine's own loopback.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(state.address.rsplit(":", 1)[1]))) != 0
    status = _cli("cluster", "status", env=env)
    assert "2 workers, 2 threads" in status.stdout and f"500mbit ({state.netns})" in status.stdout
    done = _cli("run", "--cluster-address", state.url, "--engine", "dask:cluster:default", "--workload", "groupby_q1",
                "--rows", "1e4", "--repeats", "1", "--run-id", "r", "--results", str(tmp_path / "results"),
                "--data", str(data_dir), env=env)  # fmt: skip
    down = _cli("cluster", "down", env=env)
    assert down.returncode == 0 and "dask cluster down" in down.stdout
    no_orphans(pids)
    assert _namespaces() == before
    assert done.returncode == 0, done.stderr
    [record] = RunStore(tmp_path / "results" / "runs" / "r").records()
    assert record.ok and record.cluster["network_rate"] == "500mbit"


def test_cluster_network_up_and_down_for_compose() -> None:
    before = _namespaces()
    up = _cli("cluster", "network", "up", "--rate", "1gbit")
    assert up.returncode == 0, up.stderr
    name = up.stdout.strip().removeprefix("export BREAKEVEN_NETNS=")
    assert name in _namespaces() - before
    qdisc = subprocess.run(["tc", "-n", name, "qdisc"], capture_output=True, text=True).stdout
    assert "tbf" in qdisc and "rate 1Gbit" in qdisc
    foreign = _cli("cluster", "network", "down", "someone-elses")
    assert foreign.returncode == 2 and "not a network namespace breakeven made" in foreign.stderr
    assert _cli("cluster", "network", "down", name).returncode == 0
    assert _namespaces() == before


def test_joining_a_namespace_that_is_gone_is_one_line() -> None:
    with pytest.raises(UsageError, match="the network namespace breakeven-00000000 is gone"):
        network.enter(network.Namespace("breakeven-00000000", "1gbit"))
