"""``breakeven advise``: what the records say a question takes at a data size on a machine or a
cluster, and the command that would measure what they do not cover."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from breakeven import advice, tables, user_data
from breakeven import data as datagen
from breakeven import workload_file as user_file
from breakeven.cluster.plan import Topology
from breakeven.commands.common import Tables, WorkloadFiles, check_choices, console, err
from breakeven.defaults import CORES, RESULTS_DIR
from breakeven.errors import UsageError
from breakeven.units import fmt_num, parse_rows, parse_size
from breakeven.workloads import SINKS, SOURCES, get_workload

SHORT_HELP = "What the records say a question takes at a size, on a machine or a cluster."


def advise(
    workload: Annotated[str, typer.Argument(help="the question: a built-in workload, or one of --workload-file")],
    rows: Annotated[str | None, typer.Option("--rows", "-n", help="the data's size in rows, e.g. 1e8")] = None,
    size: Annotated[
        str | None,
        typer.Option("--bytes", help="or its size in memory (Arrow), e.g. 5GB, converted with the data's bytes a row"),
    ] = None,
    cores: Annotated[int, typer.Option(help="the machine's cores (per worker on a cluster)")] = CORES,
    memory: Annotated[
        str | None, typer.Option(help="the machine's memory (per worker on a cluster); default: this machine's")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="a cluster instead of one machine: WORKERSxCORES, e.g. 4x8 (with --memory each)")
    ] = None,
    sink: Annotated[str | None, typer.Option(help="where a large answer goes (collect, parquet); default: any")] = None,
    source: Annotated[str, typer.Option("--from", help="where the tables come from: memory or files")] = "memory",
    table: Tables = None,
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
    workload_file: WorkloadFiles = None,
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
    check_choices("--from", [source], SOURCES)
    check_choices("--sink", [sink] if sink else [], SINKS)
    workers = 1
    if cluster is not None:
        shape = Topology.parse(cluster, 0)  # the shape only: --memory is each worker's
        workers, cores = shape.workers, shape.cores
    machine = advice.Hardware(cores, parse_size(memory) if memory else psutil.virtual_memory().total, workers)
    prices = advice.parse_prices(price) if price else None
    n = parse_rows(rows) if rows else max(1, round(parse_size(size or "") / datagen.arrow_bytes_per_row(wl.data_kind)))
    folders = results or [f for f in (RESULTS_DIR, RESULTS_DIR / "published") if f.is_dir()]
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
    console.print(f"{workload} ({wl.question}) at {fmt_num(n)} rows on {machine.label}", highlight=False)
    if not found:
        command = advice.suggest(workload, n, machine, extra)
        console.print(f"no record of this question on such a machine; measure it with: {command}", highlight=False)
        return
    console.print(tables.advice_table(found, prices))
    for line in advice.summary(found, prices):
        console.print(line, highlight=False)
