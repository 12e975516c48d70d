"""breakeven: when a distributed dataframe engine (Dask, Spark, Ray) pays off against a single machine
(pandas, Polars, DuckDB), measured on your machine."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from breakeven import advice, network, tables, user_data
from breakeven import data as datagen
from breakeven import workload_file as user_file
from breakeven.accounting import METHODS, choose_method
from breakeven.cases import SUITES, get_suite, on_user_data, parse_engines, select_configs
from breakeven.cluster import cli as cluster_cli
from breakeven.cluster.launcher import ClusterError, Topology, cluster_plan
from breakeven.defaults import BUDGET_SHARE, REPEATS, TIMEOUT, default_budget
from breakeven.engines import engine_class, engine_meta, registry
from breakeven.errors import EngineUnavailable, UsageError
from breakeven.java import find_java
from breakeven.results import RunStore, check_writable, new_run_id, now_iso
from breakeven.runner import Options, Runner, run_meta
from breakeven.supervision import runner_cpu
from breakeven.tables import SHOW_WIDTH, cluster_table, show_tables
from breakeven.units import parse_rows, parse_size
from breakeven.workloads import CATALOGUE, SINKS, SOURCES, get_workload

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)
app.add_typer(cluster_cli.app, name="cluster")
# Written to a file or a pipe, the tables keep their columns instead of 80 (rich's default).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else SHOW_WIDTH)
err = Console(stderr=True)


def _on_stop(signum: int, frame: Any) -> None:
    """SIGINT or SIGTERM: stop the run (KeyboardInterrupt), once. A second signal (Ctrl-C pressed
    again, or a terminal's Ctrl-C that reached the engine's processes too) would cut short the
    cleanup that the first began (the engine's processes, its scratch folder): it is ignored."""
    signal.signal(signal.SIGINT, _stopping)
    signal.signal(signal.SIGTERM, _stopping)
    raise KeyboardInterrupt


def _stopping(signum: int, frame: Any) -> None:
    os.write(2, b"stopping: removing the engine's processes and scratch folder first\n")


@app.command()
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
    workload_file: Annotated[
        list[Path] | None,
        typer.Option(
            help="a Python file of your own workloads (repeatable; see examples/my_questions.py): its "
            "questions are run, or those of them that --workload names"
        ),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            help="ROLE=PATH: run the questions on your own Parquet (a file, or a folder of *.parquet files) "
            "instead of generated data; repeatable, x is required (the others, e.g. dim, join it); with --rows, "
            "x is sampled down or repeated up to each size"
        ),
    ] = None,
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
    cores: Annotated[int, typer.Option(help="cores each engine may use")] = os.cpu_count() or 1,
    memory_method: Annotated[
        str,
        typer.Option(
            help="how memory is counted and the budget enforced: cgroup (the kernel, per session), sampled "
            "(PSS of the process tree, sampled), auto (cgroup where the machine allows it)"
        ),
    ] = "auto",
    results: Annotated[Path, typer.Option(help="results folder", envvar="BREAKEVEN_RESULTS")] = Path("results"),
    data: Annotated[Path, typer.Option(help="cache folder for generated data", envvar="BREAKEVEN_DATA")] = Path("data"),
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
    _check_choices("--sink", sink or [], SINKS)
    sinks = tuple(dict.fromkeys(sink)) if sink else None
    _check_choices("--from", source or [], SOURCES)
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
        if resume:
            store = RunStore.open(results, run_id)
            store.update_meta(commands=(*store.meta().commands, typed))
            store.log_dir.mkdir(exist_ok=True)  # a committed run comes without its logs (.gitignore)
            done = store.done_ids()
            skipped = len([c for c in cases if c.id in done])
            cases = [c for c in cases if c.id not in done]
            console.print(f"resuming run {store.run_id}: {skipped} cases already finished, {len(cases)} to go")
        else:
            run_id = run_id or new_run_id()
            if (results / "runs" / run_id).exists():
                raise UsageError(f"run {run_id!r} exists already: pass --resume to continue it, or another --run-id")
            store = RunStore.create(results, run_id, replace(run_meta(suite, options, cases), commands=(typed,)))
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
                f"not in suite {suite!r}, run on its grid for their family at {', '.join(map(datagen.fmt_num, sizes))} "
                f"rows: {', '.join(added)}",
                highlight=False,
            )
        if user_set:
            for role, t in user_set.tables.items():
                console.print(
                    f"your data, {role}: {t.path} ({datagen.fmt_num(t.rows)} rows, {t.bytes / 2**20:.1f} MiB, "
                    f"{len(t.columns)} columns) as set {user_set.id}",
                    highlight=False,
                )
        why = f" ({why_not_cgroup})" if why_not_cgroup else ""
        console.print(f"memory: {method}{why}, budget {budget / 2**30:.1f} GiB per session", highlight=False)
        started = time.monotonic()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}"),
            console=console,
            transient=False,
            refresh_per_second=2,  # the runner's CPU is taken from the engines: draw little
        ) as progress:
            task = progress.add_task("cases", total=len(cases), current="")

            def emit(kind: str, info: Any) -> None:
                if kind == "data":
                    progress.update(task, current=f"generating {info['name']}")
                elif kind == "reference":
                    made = ", ".join(info["workloads"])
                    progress.update(task, current=f"reference answers on {info['name']}: {made}")
                elif kind == "cluster_start":
                    progress.update(task, current=f"starting a {info['engine']} cluster {info['topology']}")
                elif kind == "cluster_up":
                    rate = f", loopback limited to {info['network_rate']}" if info.get("network_rate") else ""
                    progress.console.print(
                        f"{info['engine']} cluster {info['topology']} up in {info['seconds']:.1f} s (127.0.0.1{rate})"
                    )
                elif kind == "memory_method":
                    progress.console.print(f"[yellow]memory: from now on {info['method']}[/] ({escape(info['why'])})")
                elif kind == "case_start":
                    progress.update(task, current=info["case_id"])
                elif kind == "case":  # a Record
                    progress.advance(task)
                    if not info.ok:
                        progress.console.print(f"[yellow]{info.case_id}: {info.status}[/] {escape(info.reason or '')}")

            before = store.meta()

            def sat() -> dict[str, float]:
                """This sitting's time and the runner's CPU, added to the sittings before it."""
                return {
                    "wall_seconds": (before.wall_seconds or 0.0) + time.monotonic() - started,
                    "runner_cpu_seconds": (before.runner_cpu_seconds or 0.0) + runner_cpu(),
                }

            try:
                Runner(options, store, emit).run(cases)
            except KeyboardInterrupt:
                progress.stop()
                store.update_meta(**sat())
                err.print(f"interrupted: finished cases are kept in {store.root}; continue with --resume")
                raise typer.Exit(130) from None
        store.update_meta(finished=now_iso(), **sat())
        _show(store)


def _check_choices(option: str, given: list[str], allowed: tuple[str, ...]) -> None:
    if unknown := [g for g in given if g not in allowed]:
        raise UsageError(f"unknown {option} {', '.join(unknown)}: use {' or '.join(allowed)}")


@app.command("advise", short_help="What the records say a question takes at a size, on a machine or a cluster.")
def advise_cmd(
    workload: Annotated[str, typer.Argument(help="the question: a built-in workload, or one of --workload-file")],
    rows: Annotated[str | None, typer.Option("--rows", "-n", help="the data's size in rows, e.g. 1e8")] = None,
    size: Annotated[
        str | None,
        typer.Option("--bytes", help="or its size in memory (Arrow), e.g. 5GB, converted with the data's bytes a row"),
    ] = None,
    cores: Annotated[int, typer.Option(help="the machine's cores (per worker on a cluster)")] = os.cpu_count() or 1,
    memory: Annotated[
        str | None, typer.Option(help="the machine's memory (per worker on a cluster); default: this machine's")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="a cluster instead of one machine: WORKERSxCORES, e.g. 4x8 (with --memory each)")
    ] = None,
    sink: Annotated[str | None, typer.Option(help="where a large answer goes (collect, parquet); default: any")] = None,
    source: Annotated[str, typer.Option("--from", help="where the tables come from: memory or files")] = "memory",
    table: Annotated[
        list[str] | None,
        typer.Option(help="ROLE=PATH: your own Parquet, as given to run (repeatable); its records answer"),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(metavar="SET", help="or a set of your own data by its id (data=SET in the tables), not generated"),
    ] = None,
    results: Annotated[
        list[Path] | None,
        typer.Option(
            help="results folders to read (repeatable); default: results/ and the committed results/published/"
        ),
    ] = None,
    price: Annotated[
        str | None,
        typer.Option(help="core-hour=X,gib-hour=Y: rank by the cost of one run too (no price is built in)"),
    ] = None,
    measure: Annotated[bool, typer.Option(help="run the commands that would measure what is not covered")] = False,
    workload_file: Annotated[list[Path] | None, typer.Option(help="a file of your own workloads")] = None,
) -> None:
    """What the measured records say a question takes at a data size on a machine or cluster:
    every configuration's time (measured, interpolated, extrapolated or from the scale-out
    model, with its band), memory headroom and cliff, the fastest and, with prices, the
    cheapest; and the command that would measure what they do not cover."""
    import psutil

    for path in workload_file or ():
        user_file.load(path)
    wl = get_workload(workload)
    if (rows is None) == (size is None):
        raise UsageError("give the data's size: --rows N or --bytes SIZE (one of them)")
    if cores < 1:
        raise UsageError(f"cores must be at least 1, got {cores}")
    _check_choices("--from", [source], SOURCES)
    _check_choices("--sink", [sink] if sink else [], SINKS)
    workers = 1
    if cluster is not None:
        shape = Topology.parse(cluster, 0)  # the shape only: --memory is each worker's
        workers, cores = shape.workers, shape.cores
    machine = advice.Machine(cores, parse_size(memory) if memory else psutil.virtual_memory().total, workers)
    prices = advice.parse_prices(price) if price else None
    n = parse_rows(rows) if rows else max(1, round(parse_size(size or "") / datagen.arrow_bytes_per_row(wl.data_kind)))
    folders = results or [f for f in (Path("results"), Path("results/published")) if f.is_dir()]
    extra = [a for path in workload_file or () for a in ("--workload-file", str(path))]
    extra += ["--from", source] if source != "memory" else []
    extra += ["--sink", sink] if sink else []
    if table:
        user_set = user_data.register(user_data.parse(table))
        if data not in (None, user_set.id):
            raise UsageError(f"--data {data} and --table name different sets (the tables are {user_set.id})")
        data = user_set.id
        extra += [a for spec in table for a in ("--table", spec)]
    elif data and measure:
        extra += advice.table_options(advice.load_samples(folders, workload), data)

    def answer() -> list[advice.Advice]:
        samples = advice.pick_question(advice.load_samples(folders, workload), sink, source, data)
        return advice.advise(samples, workload, n, machine, extra)

    found = answer()
    if measure:
        commands = [a.command for a in found if a.command]
        commands = commands or [advice.suggest(workload, n, machine, extra)]
        for command in dict.fromkeys(commands):
            console.print(f"measuring: {command}", highlight=False)
            # into the first results folder read, so that the answer below sees it
            where = ["--results", str(folders[0])] if folders else []
            argv = [sys.executable, "-m", "breakeven.cli", *shlex.split(command)[1:], *where]
            if subprocess.run(argv, check=False).returncode not in (0, 130):
                err.print(f"the run failed: {command}")
        found = answer()
    console.print(f"{workload} ({wl.question}) at {datagen.fmt_num(n)} rows on {machine.label}", highlight=False)
    if not found:
        command = advice.suggest(workload, n, machine, extra)
        console.print(f"no record of this question on such a machine; measure it with: {command}", highlight=False)
        return
    console.print(tables.advice_table(found, prices))
    for line in advice.summary(found, prices):
        console.print(line, highlight=False)


@app.command("datagen")
def datagen_cmd(
    kind: Annotated[str, typer.Option(help="G1 (group-by), J1 (joins), D1 (merge sweep) or T1 (transforms)")] = "G1",
    rows: Annotated[str, typer.Option("--rows", "-n", help="rows, e.g. 1e7")] = "1e7",
    k: Annotated[int, typer.Option(help="key cardinality K")] = 100,
    nas: Annotated[int, typer.Option(help="percent of nulls")] = 0,
    sorted_: Annotated[bool, typer.Option("--sorted", help="sort by the id columns")] = False,
    dim_rows: Annotated[str, typer.Option(help="D1 only: rows of the dimension table")] = "0",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    data: Annotated[Path, typer.Option(help="cache folder")] = Path("data"),
    force: Annotated[bool, typer.Option(help="regenerate even if cached")] = False,
) -> None:
    """Generate (or find cached) a data set and print its rows per second."""
    spec = datagen.DataSpec(kind, parse_rows(rows), k, nas, sorted_, int(float(dim_rows)), seed)
    check_writable(data)
    if force:
        import shutil

        shutil.rmtree(data / spec.name, ignore_errors=True)
    with console.status(f"generating {spec.name}"):
        paths, seconds = datagen.generate(spec, data)
    total = sum(spec.table_rows().values())
    if seconds:
        console.print(
            f"{spec.name}: {total:,} rows in {seconds:.2f} s = {total / seconds / 1e6:.2f} M rows/s"
            f" -> {data / spec.name}"
        )
    else:
        console.print(f"{spec.name}: cached in {data / spec.name} (--force regenerates)")


@app.command("list")
def list_cmd() -> None:
    """Installed engines with versions, the workloads and the suites."""
    table = Table("engine", "installed", "modes", "profiles", "distributed", title="engines")
    for name in registry():
        try:
            cls = engine_class(name)
            ver = ", ".join(f"{k} {v}" for k, v in cls.versions().items())
        except EngineUnavailable as exc:
            cls, ver = engine_meta(name), f"[red]no[/] ({escape(str(exc))})"
        table.add_row(name, ver, ", ".join(cls.modes), ", ".join(cls.profiles), "yes" if cls.distributed else "no")
    console.print(table)
    java = find_java()
    console.print(f"java for Spark: {escape(java) if isinstance(java, str) else f'{java.home} ({java.version})'}")
    table = Table("workload", "family", "data", "question", title="workloads")
    for wl in CATALOGUE.values():
        table.add_row(wl.name, wl.family, wl.data_kind, wl.question)
    console.print(table)
    table = Table("suite", "cases per engine configuration", "description", "defaults", title="suites")
    for s in SUITES.values():
        defaults = [f"--memory-budget {s.memory_budget}"] if s.memory_budget else []
        defaults += [f"--timeout {s.timeout:g}"] if s.timeout else []
        defaults += [f"--repeats {s.repeats}"] if s.repeats else []
        defaults += [f"-e {spec}" for spec in s.engines]
        table.add_row(s.name, str(len(s.cases(parse_engines(["pandas"])))), s.description, " ".join(defaults))
    console.print(table)


@app.command()
def show(
    run_id: Annotated[str | None, typer.Argument(help="run to show (default: the newest)")] = None,
    results: Annotated[Path, typer.Option(help="results folder")] = Path("results"),
) -> None:
    """A finished run as tables: median times per engine, the fastest, and the verdict."""
    _show(RunStore.open(results, run_id))


@app.command(short_help="Build the static results site: the answer, claims, COST, verdicts and charts.")
def report(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="runs to include (default: every readable run under RESULTS/runs)")
    ] = None,
    results: Annotated[Path, typer.Option(help="results folder", envvar="BREAKEVEN_RESULTS")] = Path("results"),
    out: Annotated[Path | None, typer.Option(help="site folder (default: RESULTS/site)")] = None,
    asv: Annotated[
        bool | None,
        typer.Option(
            help="also publish the asv results (asv publish into SITE/asv, its scripts served from the site); "
            "default: when ./asv.conf.json has results"
        ),
    ] = None,
) -> None:
    """Build the static results site: the answer, the claims, COST, the verdicts against both
    baselines and charts per workload family; with the asv pages, readable offline."""
    from breakeven import report as site

    if run_ids:
        stores = [RunStore.open(results, run_id) for run_id in run_ids]
    else:
        stores = []
        for store in RunStore.all(results):
            try:
                store.meta(), store.records()
            except UsageError as exc:  # an old or damaged run: say so, build the rest
                err.print(f"skipped run {store.run_id}: {exc}", markup=False, highlight=False)
                continue
            stores.append(store)
        if not stores:
            raise UsageError(f"no readable runs under {results / 'runs'}: run `breakeven run` first")
    target = out or results / "site"
    if asv is None:
        asv = asv_results() is not None
    if asv:
        publish_asv(target / "asv")
    with console.status(f"building the site from {len(stores)} runs"):
        index = site.build(stores, target)
    console.print(
        f"site: {index} ({len(stores)} runs). Serve the folder with any static host, e.g. "
        f"python -m http.server --bind 127.0.0.1 --directory {target}"
    )


def asv_results() -> Path | None:
    """The asv results folder of ``./asv.conf.json``, when it holds results."""
    import json

    config = Path("asv.conf.json")
    if not config.is_file():
        return None
    # asv.conf.json allows // comments (asv's own reader strips them)
    text = "\n".join(line for line in config.read_text().splitlines() if not line.lstrip().startswith("//"))
    folder = Path(json.loads(text).get("results_dir", "results"))
    return folder if any(folder.glob("*/machine.json")) else None


def publish_asv(html_dir: Path) -> None:
    """``asv publish`` into ``html_dir``: breakeven's asv plugin (asv.conf.json) makes its pages
    work offline (``breakeven.asv_plugin``)."""
    if asv_results() is None:
        raise UsageError("--asv: no asv results under ./asv.conf.json's results_dir (run asv first: docs/asv.md)")
    asv_bin = Path(sys.executable).parent / "asv"
    with console.status("asv publish"):
        done = subprocess.run([str(asv_bin), "publish", "--html-dir", str(html_dir)], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"asv publish failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    console.print(f"asv site: {html_dir} (its scripts and styles served from the site)")


def _show(store: RunStore) -> None:
    for item in show_tables(store):
        console.print(item)
    clusters = cluster_table(store.records())
    if clusters is not None:
        console.print(clusters)
    console.print(f"Records: {store.root}")


# What an option's value is, where its name alone does not say it (``--results DIR``).
VALUE_NAMES = {
    "results": "DIR",
    "data": "DIR",
    "out": "DIR",
    "scratch": "DIR",
    "state_root": "DIR",
    "rows": "ROWS",
    "cores": "N",
    "repeats": "N",
    "workers": "N",
    "timeout": "SECONDS",
    "cores_per_worker": "N",
    "memory": "SIZE",
    "memory_budget": "SIZE",
    "memory_per_worker": "SIZE",
    "dashboard_port": "PORT",
    "network_rate": "RATE",
    "workload_file": "PATH",
    "cluster_secret_file": "PATH",
    "cluster_address": "ADDRESS",
    "memory_method": "METHOD",
}


def command() -> Any:
    """The command line as click runs it, its help in plain words: each value named
    (``--engine ENGINE``, ``--results DIR``), flags with none, never a Python type (typer's
    default, ``<list[str]>``)."""
    return _plain(typer.main.get_command(app))


def _plain(cmd: Any) -> Any:
    for param in cmd.params:
        param.display_type_rich = _value_name(param)
    made = cmd.get_help_option

    def help_option(ctx: typer.Context) -> Any:
        found = made(ctx)
        if found is not None:
            found.display_type_rich = _value_name(found)
        return found

    cmd.get_help_option = help_option
    for sub in getattr(cmd, "commands", {}).values():
        _plain(sub)
    return cmd


def _value_name(param: Any) -> Callable[[Any], str | None]:
    """What the help's type column shows for ``param`` (typer's ``display_type_rich``): the
    value's name for an option that takes one, nothing for a flag or an argument (its name is
    the value's)."""
    takes = param.param_type_name == "option" and not param.is_flag
    name = (param.metavar or VALUE_NAMES.get(param.name or "", (param.name or "value").upper())) if takes else None
    return lambda ctx: name


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2."""
    try:
        command()(standalone_mode=True)
    except (UsageError, EngineUnavailable, ClusterError) as exc:
        err.print(f"breakeven: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
