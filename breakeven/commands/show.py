"""``breakeven show``: a run as tables."""

from __future__ import annotations

from typing import Annotated

import typer

from breakeven.commands.common import Results, show_run
from breakeven.defaults import RESULTS_DIR
from breakeven.results import RunStore


def show(
    run_id: Annotated[str | None, typer.Argument(help="run to show (default: the newest)")] = None,
    results: Results = RESULTS_DIR,
) -> None:
    """A finished run as tables: median times per engine, the fastest, and the verdict."""
    show_run(RunStore.open(results, run_id))
