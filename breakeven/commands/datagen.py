"""``breakeven datagen``: generate a data set (or find it cached) and print its rows per second."""

from __future__ import annotations

from typing import Annotated

import typer

from breakeven import data as data_sets
from breakeven.commands.common import Data, console
from breakeven.defaults import DATA_DIR
from breakeven.results import check_writable
from breakeven.units import parse_rows


def datagen(
    kind: Annotated[str, typer.Option(help="G1 (group-by), J1 (joins), D1 (merge sweep) or T1 (transforms)")] = "G1",
    rows: Annotated[str, typer.Option("--rows", "-n", help="rows, e.g. 1e7")] = "1e7",
    k: Annotated[int, typer.Option(help="key cardinality K")] = 100,
    nas: Annotated[int, typer.Option(help="percent of nulls")] = 0,
    sorted_: Annotated[bool, typer.Option("--sorted", help="sort by the id columns")] = False,
    dim_rows: Annotated[str, typer.Option(help="D1 only: rows of the dimension table")] = "0",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    data: Data = DATA_DIR,
    force: Annotated[bool, typer.Option(help="regenerate even if cached")] = False,
) -> None:
    """Generate (or find cached) a data set and print its rows per second."""
    spec = data_sets.DataSpec(kind, parse_rows(rows), k, nas, sorted_, int(float(dim_rows)), seed)
    check_writable(data)
    if force:
        import shutil

        shutil.rmtree(data / spec.name, ignore_errors=True)
    with console.status(f"generating {spec.name}"):
        paths, seconds = data_sets.generate(spec, data)
    total = sum(spec.table_rows().values())
    if seconds:
        console.print(
            f"{spec.name}: {total:,} rows in {seconds:.2f} s = {total / seconds / 1e6:.2f} M rows/s"
            f" -> {data / spec.name}"
        )
    else:
        console.print(f"{spec.name}: cached in {data / spec.name} (--force regenerates)")
