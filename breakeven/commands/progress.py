"""A run's progress on the terminal: a bar of cases with what runs now, and a line for each
failure, cluster and change of memory method (``breakeven.events``)."""

from __future__ import annotations

from functools import partial

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from breakeven import api, events
from breakeven.cases import Case
from breakeven.commands.common import console
from breakeven.results import RunStore
from breakeven.runner import Options


def with_progress(store: RunStore, cases: list[Case], options: Options) -> api.Run:
    """``api.run_cases`` under a progress bar."""
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
        try:
            return api.run_cases(store, cases, options, partial(_progress, progress, task))
        except KeyboardInterrupt:
            progress.stop()
            raise


def _progress(progress: Progress, task: TaskID, event: events.Event) -> None:
    """A run's event on the progress bar's line, or above it."""
    current: str | None = None
    match event:
        case events.DataGenerating(name=name):
            current = f"generating {name}"
        case events.MakingReferences(name=name, workloads=workloads):
            current = f"reference answers on {name}: {', '.join(workloads)}"
        case events.ClusterStarting(engine=engine, topology=topology):
            current = f"starting a {engine} cluster {topology}"
        case events.ClusterUp(engine=engine, topology=topology, seconds=seconds, network_rate=rate):
            limited = f", loopback limited to {rate}" if rate else ""
            progress.console.print(f"{engine} cluster {topology} up in {seconds:.1f} s (127.0.0.1{limited})")
        case events.MemoryMethodChanged(method=method, why=why):
            progress.console.print(f"[yellow]memory: from now on {method}[/] ({escape(why)})")
        case events.CaseStarted(case_id=case_id):
            current = case_id
        case events.CaseFinished(record=record):
            progress.advance(task)
            if not record.ok:
                progress.console.print(f"[yellow]{record.case_id}: {record.status}[/] {escape(record.reason or '')}")
    if current is not None:
        progress.update(task, current=current)
