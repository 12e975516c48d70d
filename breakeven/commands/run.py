"""``breakeven run``: plan a suite's cases from the options, run them through ``breakeven.api``
with a progress bar, and print the run's tables."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from breakeven import api, network, user_data
from breakeven import workload_file as user_file
from breakeven.accounting import METHODS, choose_method
from breakeven.cases import SUITES, get_suite, on_user_data, select_configs
from breakeven.cluster.plan import cluster_plan
from breakeven.commands.common import Data, Results, Tables, WorkloadFiles, check_choices, console, err, show_run
from breakeven.commands.progress import with_progress
from breakeven.defaults import BUDGET_SHARE, CORES, DATA_DIR, REPEATS, RESULTS_DIR, TIMEOUT, default_budget
from breakeven.errors import UsageError
from breakeven.results import check_writable
from breakeven.runner import Options
from breakeven.units import fmt_num, parse_rows, parse_size
from breakeven.workloads import SINKS, SOURCES


def _on_stop(signum: int, frame: Any) -> None:
    """SIGINT or SIGTERM: stop the run (KeyboardInterrupt), once. A second signal (Ctrl-C pressed
    again, or a terminal's Ctrl-C that reached the engine's processes too) would cut short the
    cleanup that the first began (the engine's processes, its scratch folder): it is ignored."""
    signal.signal(signal.SIGINT, _stopping)
    signal.signal(signal.SIGTERM, _stopping)
    raise KeyboardInterrupt


def _stopping(signum: int, frame: Any) -> None:
    os.write(2, b"stopping: removing the engine's processes and scratch folder first\n")


def run(
    suite: Annotated[str, typer.Option(help=f"suite to run: {', '.join(SUITES)}")] = "quick",
    engine: Annotated[
        list[str] | None,
        typer.Option(
            "--engine",
            "-e",
            help="engine, engine:mode or engine:mode:profile (repeatable); default: every installed engine",
        ),
    ] = None,
    workload: Annotated[
        list[str] | None, typer.Option("--workload", "-w", help="workload or family (repeatable); default: the suite's")
    ] = None,
    workload_file: WorkloadFiles = None,
    table: Tables = None,
    rows: Annotated[
        list[str] | None,
        typer.Option("--rows", "-n", help="row counts to use instead of the suite's (repeatable), e.g. 1e6"),
    ] = None,
    sink: Annotated[
        list[str] | None,
        typer.Option(
            help="where large answers (transforms, merges that keep their rows) go: collect (to the driver) "
            "or parquet (written by the engine); repeatable; default: the suite's (parquet)"
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--from",
            help="where the tables come from: memory (loaded and persisted before the clock starts, for "
            "repeated queries) or files (read from Parquet inside the timed query: the cold one-off query); "
            "repeatable; default: the suite's (memory, and files for some of standard's and full's questions)",
        ),
    ] = None,
    repeats: Annotated[
        int | None, typer.Option(help=f"timed repeats after the cold run; default: the suite's, else {REPEATS}")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help=f"seconds per case (and for engine start-up plus loading); default: the suite's, else {TIMEOUT:.0f}"
        ),
    ] = None,
    memory_budget: Annotated[
        str | None,
        typer.Option(
            help="resident memory of a case's whole process tree, e.g. 8GiB; default: the suite's "
            f"(budget: 2GiB), else {BUDGET_SHARE:.0%} of RAM"
        ),
    ] = None,
    cores: Annotated[int, typer.Option(help="cores each engine may use")] = CORES,
    memory_method: Annotated[
        str,
        typer.Option(
            help="how memory is counted and the budget enforced: cgroup (the kernel, per session), sampled "
            "(PSS of the process tree, sampled), auto (cgroup where the machine allows it)"
        ),
    ] = "auto",
    results: Results = RESULTS_DIR,
    data: Data = DATA_DIR,
    scratch: Annotated[
        Path | None,
        typer.Option(
            help="folder for each session's temporary files (spills, shuffles, answers of --sink parquet), "
            "deleted after it; default: the system's temporary folder",
            envvar="BREAKEVEN_SCRATCH",
        ),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="name of the run (default: the UTC time)")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the newest run (or --run-id), skipping finished cases")
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(help="also run this engine (dask, spark, ray) on local clusters that the run starts and stops"),
    ] = None,
    topology: Annotated[
        list[str] | None,
        typer.Option(
            help="with --cluster: WORKERSxCORES (repeatable); default: 1xN, Nx1 and 2x(N/2) for N = --cores, "
            "all with the same total cores and memory"
        ),
    ] = None,
    cluster_address: Annotated[
        str | None,
        typer.Option(help="use a running cluster: tcp://HOST:PORT (Dask), spark://HOST:PORT, HOST:PORT (Ray)"),
    ] = None,
    network_rate: Annotated[
        str,
        typer.Option(
            help="with --cluster: run the clusters and their drivers in a network namespace of their own whose "
            "loopback is limited to this rate, as a real network (tc's units: 500mbit, 1gbit, 10gbit; "
            "none: the machine's loopback)"
        ),
    ] = network.NONE,
    cluster_secret_file: Annotated[
        Path | None,
        typer.Option(
            help="the running cluster's Spark secret or Ray token (default: from breakeven cluster up)",
            envvar="BREAKEVEN_SECRET_FILE",
        ),
    ] = None,
) -> None:
    """Run a suite; prints the results table and the helps/hurts verdict at the end."""
    chosen = get_suite(suite)
    repeats = repeats if repeats is not None else chosen.repeats or REPEATS
    timeout = timeout if timeout is not None else chosen.timeout or TIMEOUT
    if repeats < 1:
        raise UsageError(f"repeats must be at least 1, got {repeats}")
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, got {timeout}")
    if cores < 1:
        raise UsageError(f"cores must be at least 1, got {cores}")
    if memory_method not in METHODS:
        raise UsageError(f"unknown --memory-method {memory_method!r}: use one of {', '.join(METHODS)}")
    memory_budget = memory_budget or chosen.memory_budget
    budget = parse_size(memory_budget) if memory_budget else default_budget()
    row_counts = tuple(parse_rows(r) for r in rows) if rows else None
    check_choices("--sink", sink or [], SINKS)
    sinks = tuple(dict.fromkeys(sink)) if sink else None
    check_choices("--from", source or [], SOURCES)
    sources = tuple(dict.fromkeys(source)) if source else None
    # A user's workload file: imported and checked here, before anything starts.
    plugins = tuple(str(path.resolve()) for path in workload_file or ())
    own = [wl.name for path in workload_file or () for wl in user_file.load(path)]
    workload = workload or own
    plan = cluster_plan(cluster, cluster_address, cluster_secret_file, topology, cores, budget, network_rate)
    configs = select_configs(engine, plan, chosen.engines)
    added: list[str] = []
    if workload:
        cases, added = chosen.select(workload, configs, row_counts, sinks, sources)
    else:
        cases = chosen.cases(configs, row_counts, sinks, sources)
    user_set = user_data.register(user_data.parse(table)) if table else None
    if user_set:
        cases = on_user_data(cases, user_set, sized=bool(row_counts))
    if not cases:
        raise UsageError("nothing to run: the suite, engines, workloads and rows select no case")
    check_writable(results)
    if scratch is not None:
        check_writable(scratch, "temporary files and written answers", "pass --scratch DIR with a writable folder")
    options = Options(
        repeats=repeats,
        timeout=timeout,
        memory_budget=budget,
        cores=cores,
        data_dir=data,
        plugins=plugins,
        cluster=plan,
        memory_method=memory_method,
        scratch=scratch.resolve() if scratch else None,
    )
    # Before any folder is made: --memory-method cgroup may fail here.
    method, why_not_cgroup = choose_method(memory_method, budget)
    # So may the network (breakeven.network): the run's own namespace, or the running cluster's.
    with network.joined(plan.network_rate if plan else network.NONE, plan.netns if plan else None):
        typed = shlex.join(["breakeven", *sys.argv[1:]])  # as the run's record of how it was made
        store, pending = api.open_run(
            cases, options, results=results, run_id=run_id, resume=resume, suite=suite, command=typed
        )
        if resume:
            console.print(
                f"resuming run {store.run_id}: {len(cases) - len(pending)} cases already finished, {len(pending)} to go"
            )
        cases = pending
        # Both signals stop the run the same way. SIGINT too is set explicitly: a process started in
        # the background by a non-interactive shell (CI, nohup scripts) inherits SIGINT as ignored.
        signal.signal(signal.SIGTERM, _on_stop)
        signal.signal(signal.SIGINT, _on_stop)
        console.print(
            f"run {store.run_id}: {len(cases)} cases of suite {suite!r} "
            f"on {len(configs)} engine configurations -> {store.root}"
        )
        if added:
            sizes = sorted({c.rows for c in cases if c.workload in added})
            console.print(
                f"not in suite {suite!r}, run on its grid for their family at {', '.join(map(fmt_num, sizes))} "
                f"rows: {', '.join(added)}",
                highlight=False,
            )
        if user_set:
            for role, t in user_set.tables.items():
                console.print(
                    f"your data, {role}: {t.path} ({fmt_num(t.rows)} rows, {t.bytes / 2**20:.1f} MiB, "
                    f"{len(t.columns)} columns) as set {user_set.id}",
                    highlight=False,
                )
        why = f" ({why_not_cgroup})" if why_not_cgroup else ""
        console.print(f"memory: {method}{why}, budget {budget / 2**30:.1f} GiB per session", highlight=False)
        try:
            with_progress(store, cases, options)
        except KeyboardInterrupt:
            err.print(f"interrupted: finished cases are kept in {store.root}; continue with --resume")
            raise typer.Exit(130) from None
        show_run(store)
