"""What the commands share: the consoles, the options several take (declared once here), the
check of an option's choices and a run's tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from breakeven.errors import UsageError
from breakeven.results import RunStore
from breakeven.tables import SHOW_WIDTH, cluster_table, show_tables

# Written to a file or a pipe, the tables keep their columns instead of 80 (rich's default).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else SHOW_WIDTH)
err = Console(stderr=True)

Results = Annotated[Path, typer.Option(help="results folder", envvar="BREAKEVEN_RESULTS")]
Data = Annotated[Path, typer.Option(help="cache folder for generated data", envvar="BREAKEVEN_DATA")]
WorkloadFiles = Annotated[
    list[Path] | None,
    typer.Option(
        help="a Python file of your own workloads (repeatable; see examples/my_questions.py): its questions "
        "are run, or those of them that --workload names"
    ),
]
Tables = Annotated[
    list[str] | None,
    typer.Option(
        help="ROLE=PATH: your own Parquet (a file, or a folder of *.parquet files) instead of generated data; "
        "repeatable, x is required (the others, e.g. dim, join it); with run's --rows, x is sampled down or "
        "repeated up to each size"
    ),
]


def check_choices(option: str, given: list[str], allowed: tuple[str, ...]) -> None:
    if unknown := [g for g in given if g not in allowed]:
        raise UsageError(f"unknown {option} {', '.join(unknown)}: use {' or '.join(allowed)}")


def show_run(store: RunStore) -> None:
    for item in show_tables(store):
        console.print(item)
    clusters = cluster_table(store.records())
    if clusters is not None:
        console.print(clusters)
    console.print(f"Records: {store.root}")
