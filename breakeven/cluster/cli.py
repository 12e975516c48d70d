"""``breakeven cluster up|status|down`` and the ``serve``/``probe`` commands the servers run."""

from __future__ import annotations

import os
import socket
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from breakeven import network
from breakeven.cluster import access, roles
from breakeven.cluster.launcher import LocalCluster, members
from breakeven.cluster.plan import ENGINES, Topology, default_state_root, load_state
from breakeven.defaults import DATA_DIR, RESULTS_DIR
from breakeven.units import parse_size

app = typer.Typer(no_args_is_help=True, help="Local clusters of separate processes on 127.0.0.1.")
# As breakeven's own console: written to a file or a pipe, tables keep their columns.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 240)

StateRoot = Annotated[Path | None, typer.Option(help="where cluster state is kept (default ~/.local/state/breakeven)")]


def _root(state_root: Path | None) -> Path:
    return state_root or default_state_root()


def _engine(name: str) -> str:
    from breakeven.errors import UsageError

    if name not in ENGINES:
        raise UsageError(f"unknown cluster engine {name!r}: use one of {', '.join(ENGINES)}")
    return name


@app.command()
def up(
    engine: Annotated[str, typer.Argument(help="dask, spark or ray")],
    workers: Annotated[int, typer.Option(help="worker processes (Ray: worker nodes)")] = 2,
    cores_per_worker: Annotated[int, typer.Option(help="cores (threads, executor cores, CPUs) per worker")] = 1,
    memory_per_worker: Annotated[str, typer.Option(help="memory per worker, e.g. 2GiB")] = "2GiB",
    port: Annotated[int | None, typer.Option(help="scheduler/master/head port (default: the engine's own)")] = None,
    dashboard_port: Annotated[int | None, typer.Option(help="dashboard port (default: the engine's own)")] = None,
    network_rate: Annotated[
        str,
        typer.Option(
            help="run the cluster in a network namespace of its own whose loopback is limited to this rate "
            "(tc's units: 500mbit, 1gbit, 10gbit; none: the machine's loopback); breakeven run joins it"
        ),
    ] = network.NONE,
    state_root: StateRoot = None,
) -> None:
    """Start a cluster and return when it is healthy; prints its address and dashboard."""
    engine = _engine(engine)
    topo = Topology.parse(f"{workers}x{cores_per_worker}", parse_size(memory_per_worker) * workers)
    network.parse_rate(network_rate)
    defaults = roles.DEFAULT_PORTS[engine]
    cluster = LocalCluster(
        engine,
        topo,
        _root(state_root) / engine,
        port if port is not None else defaults[0],
        dashboard_port if dashboard_port is not None else defaults[1],
        network_rate=network_rate,
    )
    with console.status(f"starting a {engine} cluster of {topo.label} ({workers} workers of {cores_per_worker} cores)"):
        state = cluster.up()
    console.print(
        f"{engine} cluster up in {state.startup_seconds:.1f} s: address [bold]{state.url}[/], "
        f"dashboard http://{state.dashboard}, {len(state.processes)} processes; state in {cluster.dir}"
    )
    if state.netns:
        rate = state.network_rate
        console.print(f"network: namespace {state.netns}, loopback limited to {rate}; breakeven run joins it")
    console.print(f"run against it: breakeven run --cluster-address {state.url}")


@app.command()
def status(state_root: StateRoot = None) -> None:
    """The clusters started by ``up``: address, dashboard, processes alive."""
    root = _root(state_root)
    table = Table("engine", "topology", "address", "dashboard", "network", "processes alive", "health")
    found = False
    for engine in ENGINES:
        if not (root / engine / "state.json").exists():
            continue
        found = True
        state = load_state(root / engine)
        alive = members(state)
        try:
            secret = Path(state.secret_file)
            check = partial(roles.probe, engine, state.address, state.dashboard, 0, secret)
            ns = network.Namespace(state.netns, state.network_rate) if state.netns else None
            health = network.call_in(ns, check) if ns else check()  # the probe goes where the cluster is
        except Exception as exc:
            health = f"[red]unreachable[/] ({str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__})"
        topo = Topology(**state.topology)
        where = f"{state.network_rate} ({state.netns})" if state.netns else "loopback"
        table.add_row(engine, topo.label, state.url, f"http://{state.dashboard}", where, str(len(alive)), health)
    if found:
        console.print(table)
    else:
        console.print(f"no cluster is up (state in {root})")


@app.command()
def down(
    engine: Annotated[str | None, typer.Argument(help="dask, spark or ray (default: every one that is up)")] = None,
    state_root: StateRoot = None,
) -> None:
    """Stop exactly the processes of the cluster (also after one of them crashed)."""
    root = _root(state_root)
    names = [_engine(engine)] if engine else list(ENGINES)
    stopped_any = False
    for name in names:
        folder = root / name
        if not (folder / "state.json").exists():
            continue
        state = load_state(folder)
        pids = LocalCluster(name, Topology(**state.topology), folder).down()
        console.print(f"{name} cluster down: {len(pids)} processes stopped; logs in {folder / 'logs'}")
        stopped_any = True
    if not stopped_any:
        console.print(f"no {engine + ' ' if engine else ''}cluster is up (state in {root})")


@app.command()
def secret(path: Annotated[Path, typer.Argument(help="file to write, e.g. cluster/secret")]) -> None:
    """Write a new random secret (Spark's shared secret, Ray's token) to PATH, readable by you only."""
    access.write_secret(path)
    console.print(f"wrote a new secret to {path} (mode 0600); it is never printed")


def _host(host: str) -> str:
    """``auto``: this host's own address (a container's, on its compose network)."""
    return socket.gethostbyname(socket.gethostname()) if host == "auto" else host


@app.command(hidden=True)
def serve(
    role: Annotated[str, typer.Argument(help=", ".join(roles.ROLES))],
    host: Annotated[str, typer.Option(envvar="BREAKEVEN_HOST")] = access.LOOPBACK,
    port: Annotated[int, typer.Option(envvar="BREAKEVEN_PORT")] = 0,
    dashboard_port: Annotated[int, typer.Option(envvar="BREAKEVEN_DASHBOARD_PORT")] = 0,
    scheduler: Annotated[str | None, typer.Option(envvar="BREAKEVEN_SCHEDULER")] = None,
    cores: Annotated[int, typer.Option(envvar="BREAKEVEN_CORES")] = 1,
    memory: Annotated[str, typer.Option(envvar="BREAKEVEN_MEMORY")] = "2GiB",
    name: Annotated[str | None, typer.Option(envvar="BREAKEVEN_NAME")] = None,
    workdir: Annotated[Path | None, typer.Option(envvar="BREAKEVEN_WORKDIR")] = None,
    secret_file: Annotated[Path | None, typer.Option(envvar="BREAKEVEN_SECRET_FILE")] = None,
) -> None:
    """Become the engine's server for ROLE (used by the launcher and by docker-compose)."""
    opts = roles.ServeOptions(
        _host(host), port, dashboard_port, scheduler, cores, parse_size(memory), name, workdir, secret_file
    )
    roles.serve(role, opts)


@app.command(hidden=True)
def probe(
    engine: Annotated[str, typer.Argument(help="dask, spark or ray")],
    address: Annotated[str, typer.Option(envvar="BREAKEVEN_SCHEDULER")],
    dashboard: Annotated[str | None, typer.Option(envvar="BREAKEVEN_DASHBOARD")] = None,
    workers: Annotated[int, typer.Option()] = 0,
    secret_file: Annotated[Path | None, typer.Option(envvar="BREAKEVEN_SECRET_FILE")] = None,
) -> None:
    """Exit 0 when the cluster answers (a compose healthcheck)."""
    try:
        console.print(roles.probe(_engine(engine), address, dashboard, workers, secret_file))
    except Exception as exc:
        console.print(f"unhealthy: {exc}")
        raise typer.Exit(1) from None


network_app = typer.Typer(no_args_is_help=True, help="Network namespaces for clusters in containers (compose).")
app.add_typer(network_app, name="network")


@network_app.command("up")
def network_up(
    rate: Annotated[
        str, typer.Option(help="its loopback's rate (tc's units: 500mbit, 1gbit, 10gbit; none: unlimited)")
    ] = network.NONE,
) -> None:
    """Make a network namespace whose only interface is a loopback of RATE, for
    cluster/compose.loopback.yml; prints `export BREAKEVEN_NETNS=NAME` for the shell (eval)."""
    ns = network.create(rate)
    console.print(f"export BREAKEVEN_NETNS={ns.name}", highlight=False)


@network_app.command("down")
def network_down(name: Annotated[str, typer.Argument(help="a namespace `network up` made")]) -> None:
    """Delete a namespace `network up` made (after the containers in it are gone)."""
    try:
        network.delete(network.Namespace(name, network.NONE))
    except ValueError as exc:
        from breakeven.errors import UsageError

        raise UsageError(str(exc)) from None
    console.print(f"deleted {name}")


compose_app = typer.Typer(
    no_args_is_help=True,
    help="The compose cluster with podman on hosts without Docker or bridge networks (cluster/compose.loopback.yml).",
)
app.add_typer(compose_app, name="compose")


@compose_app.command("up")
def compose_up(
    engine: Annotated[str, typer.Argument(help="dask, spark or ray: the compose profile")],
    workers: Annotated[int, typer.Option(help="worker containers")] = 2,
    worker_cores: Annotated[int, typer.Option(help="cores of each worker container")] = 1,
    worker_memory: Annotated[str, typer.Option(help="memory of each worker container (docker's units: 2g)")] = "2g",
    network_rate: Annotated[
        str, typer.Option(help="the services' loopback rate (tc's units: 1gbit, 10gbit; none: unlimited)")
    ] = network.NONE,
    data: Annotated[Path, typer.Option(help="data folder, mounted at /data", envvar="BREAKEVEN_DATA")] = DATA_DIR,
    results: Annotated[
        Path, typer.Option(help="results folder, mounted at /results where drivers run", envvar="BREAKEVEN_RESULTS")
    ] = RESULTS_DIR,
) -> None:
    """Build the image (cached), start ENGINE's services in a namespace of their own, and return
    when every worker has joined; then `compose run breakeven run ...`, and `compose down`."""
    from breakeven.cluster import compose

    engine = _engine(engine)
    started = time.monotonic()
    with console.status(f"starting the {engine} compose cluster ({workers} workers of {worker_cores} cores)"):
        state = compose.up(engine, workers, worker_cores, worker_memory, network_rate, data, results)
    console.print(
        f"{engine} compose cluster up in {time.monotonic() - started:.1f} s, namespace {state.netns} "
        f"(loopback {state.rate}); run against it: breakeven cluster compose run breakeven run "
        f"--suite cluster {' '.join(state.run_options)}"
    )


@compose_app.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, no_args_is_help=True
)
def compose_run(ctx: typer.Context) -> None:
    """Run a command on the cluster's network, in a new bench container (Ray: in the head's), e.g.
    `breakeven cluster compose run breakeven run --suite cluster --cluster-address tcp://dask-scheduler:8786`."""
    from breakeven.cluster import compose

    raise typer.Exit(compose.run(list(ctx.args)))


@compose_app.command("down")
def compose_down() -> None:
    """Remove every container of the compose cluster, its namespace and its secret."""
    from breakeven.cluster import compose

    compose.down()
    console.print("compose cluster down")
