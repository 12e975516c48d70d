"""The ``breakeven`` command line: run, datagen, list, show, report, cluster."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from breakeven import analysis, summary
from breakeven import data as datagen
from breakeven.cases import SUITES, EngineConfig, get_suite, parse_engines
from breakeven.cluster import cli as cluster_cli
from breakeven.cluster.launcher import ENGINES, ClusterError, ClusterPlan, Topology, known_secret, same_resources
from breakeven.engines import REGISTRY, engine_class, installed_engines
from breakeven.errors import EngineUnavailable, UsageError
from breakeven.java import find_java
from breakeven.results import RunStore, check_writable, new_run_id, now_iso
from breakeven.runner import Options, Runner, run_meta
from breakeven.workloads import CATALOGUE, select_workloads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)
app.add_typer(cluster_cli.app, name="cluster")
# Written to a file or a pipe, the wide results tables keep their columns instead of 80 (rich's default).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 240)
err = Console(stderr=True)

SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 10**3,
    "kib": 2**10,
    "m": 2**20,
    "mb": 10**6,
    "mib": 2**20,
    "g": 2**30,
    "gb": 10**9,
    "gib": 2**30,
    "t": 2**40,
    "tb": 10**12,
    "tib": 2**40,
}


def parse_size(text: str) -> int:
    """'4GiB', '500MB', '2g' -> bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in SIZE_UNITS:
        raise UsageError(f"bad size {text!r}: write e.g. 4GiB, 500MB or 2G")
    value = int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])
    if value <= 0:
        raise UsageError(f"size must be positive, got {text!r}")
    return value


def parse_rows(text: str) -> int:
    """'1e7' or '10000000' -> 10000000; must be positive."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"bad row count {text!r}: write e.g. 1e6 or 1000000") from None
    if value <= 0 or value != int(value):
        raise UsageError(f"rows must be a positive whole number, got {text!r}")
    return int(value)


def _engines(
    requested: list[str] | None, plan: ClusterPlan | None = None, suite_default: tuple[str, ...] = ()
) -> list[EngineConfig]:
    """Configurations to run: the named ones (each must be installed), else the suite's own
    (those installed), else every installed engine. With a cluster, its engine's cluster mode on
    each topology is added."""
    cluster, labels = (plan.engine, plan.labels) if plan else (None, ())
    if not requested and suite_default:
        installed = installed_engines()
        requested = [spec for spec in suite_default if spec.split(":")[0] in installed]
    if requested:
        # The cluster's engine joins in its cluster mode, both profiles, unless a spec names that mode.
        named = any(spec.split(":")[:2] == [cluster, "cluster"] for spec in requested)
        specs = list(requested) + ([f"{cluster}:cluster"] if cluster and not named else [])
        configs = parse_engines(specs, cluster, labels)
        for name in dict.fromkeys(c.engine for c in configs):
            engine_class(name)  # raises EngineUnavailable with the extra to install
        return configs
    if cluster:
        engine_class(cluster)
    return parse_engines(list(installed_engines()), cluster, labels)


SCHEMES = {"tcp": "dask", "spark": "spark"}


def cluster_plan(
    cluster: str | None,
    address: str | None,
    secret_file: Path | None,
    topologies: list[str] | None,
    cores: int,
    memory_total: int,
) -> ClusterPlan | None:
    """The run's cluster: local ones of the given (or same-resource) topologies, or an address."""
    if not cluster and not address:
        if topologies:
            raise UsageError("--topology needs --cluster ENGINE")
        return None
    if cluster and cluster not in ENGINES:
        raise UsageError(f"unknown cluster engine {cluster!r}: use one of {', '.join(ENGINES)}")
    if address:
        scheme = address.split("://")[0] if "://" in address else None
        engine = cluster or SCHEMES.get(scheme or "")
        if engine is None:
            raise UsageError(f"which engine is at {address}? add --cluster dask, spark or ray")
        if topologies:
            raise UsageError("--topology is for clusters breakeven starts; a given address has its own")
        if secret_file is None:  # a cluster started by ``breakeven cluster up`` has its secret on file
            secret_file = known_secret(engine, address)
        return ClusterPlan(engine, address=address, secret_file=str(secret_file) if secret_file else None)
    assert cluster is not None
    shapes = (
        [Topology.parse(t, memory_total) for t in topologies] if topologies else same_resources(cores, memory_total)
    )
    for topo in shapes:
        if topo.workers * topo.cores != cores:
            raise UsageError(
                f"topology {topo.label} has {topo.workers * topo.cores} cores, the run has {cores} (--cores): "
                "every topology gets the same total, so that none is credited for more hardware"
            )
    return ClusterPlan(cluster, tuple(dict.fromkeys(shapes)))


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


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
    rows: Annotated[
        list[str] | None,
        typer.Option("--rows", "-n", help="row counts to use instead of the suite's (repeatable), e.g. 1e6"),
    ] = None,
    repeats: Annotated[int, typer.Option(help="timed repeats after the cold run")] = 3,
    timeout: Annotated[float, typer.Option(help="seconds per case (and for engine start-up plus loading)")] = 600.0,
    memory_budget: Annotated[
        str | None,
        typer.Option(
            help="resident memory of a case's whole process tree, e.g. 8GiB; default: the suite's "
            "(budget: 2GiB), else 80% of RAM"
        ),
    ] = None,
    cores: Annotated[int, typer.Option(help="cores each engine may use")] = os.cpu_count() or 1,
    results: Annotated[Path, typer.Option(help="results folder", envvar="BREAKEVEN_RESULTS")] = Path("results"),
    data: Annotated[Path, typer.Option(help="cache folder for generated data", envvar="BREAKEVEN_DATA")] = Path("data"),
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
    cluster_secret_file: Annotated[
        Path | None,
        typer.Option(
            help="the running cluster's Spark secret or Ray token (default: from breakeven cluster up)",
            envvar="BREAKEVEN_SECRET_FILE",
        ),
    ] = None,
) -> None:
    """Run a suite; prints the results table and the helps/hurts verdict at the end."""
    import psutil

    if repeats < 1:
        raise UsageError(f"repeats must be at least 1, got {repeats}")
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, got {timeout}")
    if cores < 1:
        raise UsageError(f"cores must be at least 1, got {cores}")
    chosen = get_suite(suite)
    memory_budget = memory_budget or chosen.memory_budget
    budget = parse_size(memory_budget) if memory_budget else int(psutil.virtual_memory().total * 0.8)
    row_counts = tuple(parse_rows(r) for r in rows) if rows else None
    plan = cluster_plan(cluster, cluster_address, cluster_secret_file, topology, cores, budget)
    configs = _engines(engine, plan, chosen.engines)
    cases = chosen.cases(configs, row_counts)
    if workload:
        names = {w.name for w in select_workloads(workload)}
        cases = [c for c in cases if c.workload in names]
        if not cases:  # not in this suite: take the full suite's variants at the given rows (or 1e6)
            cases = [c for c in get_suite("full").cases(configs, row_counts or (10**6,)) if c.workload in names]
    if not cases:
        raise UsageError("nothing to run: the suite, engines, workloads and rows select no case")
    check_writable(results)
    options = Options(repeats=repeats, timeout=timeout, memory_budget=budget, cores=cores, data_dir=data, cluster=plan)
    if resume:
        store = RunStore.open(results, run_id)
        done = store.done_ids()
        skipped = len([c for c in cases if c.id in done])
        cases = [c for c in cases if c.id not in done]
        console.print(f"resuming run {store.run_id}: {skipped} cases already finished, {len(cases)} to go")
    else:
        run_id = run_id or new_run_id()
        if (results / "runs" / run_id).exists():
            raise UsageError(f"run {run_id!r} exists already: pass --resume to continue it, or another --run-id")
        store = RunStore.create(results, run_id, run_meta(suite, options, cases))
    # Both signals stop the run the same way. SIGINT too is set explicitly: a process started in
    # the background by a non-interactive shell (CI, nohup scripts) inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    console.print(
        f"run {store.run_id}: {len(cases)} cases of suite {suite!r} "
        f"on {len(configs)} engine configurations -> {store.root}"
    )
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
    ) as progress:
        task = progress.add_task("cases", total=len(cases), current="")

        def emit(kind: str, info: dict[str, Any]) -> None:
            if kind == "data":
                progress.update(task, current=f"generating {info['name']}")
            elif kind == "cluster_start":
                progress.update(task, current=f"starting a {info['engine']} cluster {info['topology']}")
            elif kind == "cluster_up":
                progress.console.print(
                    f"{info['engine']} cluster {info['topology']} up in {info['seconds']:.1f} s (127.0.0.1)"
                )
            elif kind == "case_start":
                progress.update(task, current=info["case_id"])
            elif kind == "case":
                progress.advance(task)
                if info["status"] != "ok":
                    progress.console.print(
                        f"[yellow]{info['case_id']}: {info['status']}[/] {escape(info['reason'] or '')}"
                    )

        try:
            Runner(options, store, emit).run(cases)
        except KeyboardInterrupt:
            progress.stop()
            err.print(f"interrupted: finished cases are kept in {store.root}; continue with --resume")
            raise typer.Exit(130) from None
    store.update_meta(finished=now_iso(), wall_seconds=time.monotonic() - started)
    _show(store)


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
    for name in REGISTRY:
        try:
            cls = engine_class(name)
            ver = ", ".join(f"{k} {v}" for k, v in cls.versions().items())
        except EngineUnavailable as exc:
            from breakeven.cases import engine_meta

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


@app.command()
def report(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="runs to include (default: every readable run under RESULTS/runs)")
    ] = None,
    results: Annotated[Path, typer.Option(help="results folder", envvar="BREAKEVEN_RESULTS")] = Path("results"),
    out: Annotated[Path | None, typer.Option(help="site folder (default: RESULTS/site)")] = None,
) -> None:
    """Build the static results site: the verdict matrix, and charts per workload family."""
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
    with console.status(f"building the site from {len(stores)} runs"):
        index = site.build(stores, target)
    console.print(
        f"site: {index} ({len(stores)} runs). Serve the folder with any static host, e.g. "
        f"python -m http.server --bind 127.0.0.1 --directory {target}"
    )


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _short(label: str) -> str:
    """'duckdb:single:default' -> 'duckdb', 'polars:eager:default' -> 'polars:eager'."""
    return ":".join(p for p in label.split(":") if p not in ("single", "default"))


def _header(label: str) -> str:
    return label.replace(":", "\n")


def _show(store: RunStore) -> None:
    meta, records = store.meta(), store.records()
    if not records:
        console.print(f"run {store.run_id} has no finished case yet")
        return
    machine = meta.get("machine", {})
    console.print(
        f"\nrun [bold]{store.run_id}[/]: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{(machine.get('memory_bytes') or 0) / 2**30:.0f} GiB; "
        + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    )
    scens = summary.scenarios(records)
    labels = summary.configs(records)
    table = Table(title="median compute / end-to-end (start-up + load + compute); * fastest compute", show_lines=False)
    table.add_column("scenario", no_wrap=True)
    for label in labels:
        table.add_column(_header(label), justify="right")
    for scen in scens:
        best = scen.fastest()
        cells = []
        for label in labels:
            r = scen.cells.get(label)
            if r is None:
                cells.append("")
            elif r["status"] != "ok":
                cells.append(f"[red]{r['status']}[/]")
            else:
                text = f"{_fmt(r['times']['compute_median'])} / {_fmt(r['times']['end_to_end'])}"
                if r["noisy"]:
                    text += " [dim]~[/]"
                cells.append(f"[bold green]*{text}[/]" if label == best else text)
        table.add_row(scen.label, *cells)
    console.print(table)
    dist = [label for label in labels if any(r["distributed"] for s in scens if (r := s.cells.get(label)))]
    if not dist:
        return
    table = Table(title="distributed vs best single-machine engine: speed-up of compute / end-to-end")
    table.add_column("scenario", no_wrap=True)
    table.add_column("best single", justify="right")
    for label in dist:
        table.add_column(_header(label), justify="right")
    tally = {label: [0, 0] for label in dist}
    for scen in scens:
        best = scen.fastest(distributed=False)
        cells = []
        for label in dist:
            verdict, ratio = scen.verdict(label)
            _, e2e_ratio = scen.verdict(label, "end_to_end")
            if ratio is None:
                cells.append(f"[red]{verdict}[/]" if verdict not in ("–", "no baseline") else verdict)
                continue
            tally[label][0 if verdict == "helps" else 1] += 1
            colour = "green" if verdict == "helps" else "red"
            cells.append(
                f"[{colour}]{verdict} {ratio:.2f}x[/] / {e2e_ratio:.2f}x"
                if e2e_ratio
                else f"[{colour}]{verdict} {ratio:.2f}x[/]"
            )
        table.add_row(scen.label, _short(best) if best else "–", *cells)
    console.print(table)
    for label, (helps, hurts) in tally.items():
        console.print(f"{label}: distribution helps in {helps} of {helps + hurts} scenarios, hurts in {hurts}")
    _show_verdicts(records)
    _show_clusters(records)
    console.print(f"~ marks a spread between repeats above 10%: noisy, rerun before trusting it. Records: {store.root}")


def _show_verdicts(records: list[dict[str, Any]]) -> None:
    """The verdict matrix: per question and distributed configuration, helps, hurts, or the
    breakeven point in rows (with its range from the repeats) over the sizes measured."""
    found = analysis.matrix(records)
    configs = sorted({c for row in found.values() for c in row})
    sizes = sorted({r["case"]["rows"] for r in records})
    table = Table(
        title=f"verdict vs the best single-machine engine (compute), sizes {', '.join(map(datagen.fmt_num, sizes))}: "
        "helps, hurts, or helps > N rows [range from the repeats]"
    )
    table.add_column("question", no_wrap=True)
    for config in configs:
        table.add_column(_header(config), justify="right")
    colours = {"helps": "green", "hurts": "red", "breaks_even": "yellow"}
    for question, row in found.items():
        cells = []
        for config in configs:
            verdict = row.get(config)
            cells.append(f"[{colours.get(verdict.kind, 'red')}]{verdict.short}[/]" if verdict else "")
        table.add_row(question, *cells)
    console.print(table)


def _show_clusters(records: list[dict[str, Any]]) -> None:
    """The clusters a run used: topology, the engine's own view of it, and start-up time."""
    seen: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("cluster"):
            seen.setdefault(f"{r['case']['engine']}@{r['case']['topology']}", r["cluster"])
    if not seen:
        return
    table = Table("cluster", "kind", "address", "workers x cores, memory per worker (the engine's view)", "start-up")
    for label, info in seen.items():
        view = info.get("engine_view") or {}
        cores = view.get("cores_per_worker") or ["?"]
        shown = [f"{m / 2**30:.1f} GiB" for m in view.get("memory_per_worker") or []]
        startup = info.get("startup_seconds")
        table.add_row(
            label,
            info["kind"],
            info["address"],
            f"{view.get('workers', '?')} x {'/'.join(map(str, cores))}, {'/'.join(shown)}",
            f"{startup:.1f} s" if startup else "–",
        )
    console.print(table)


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2."""
    try:
        app(standalone_mode=True)
    except (UsageError, EngineUnavailable, ClusterError) as exc:
        err.print(f"breakeven: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
