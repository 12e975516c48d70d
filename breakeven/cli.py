"""breakeven: when a distributed dataframe engine (Dask, Spark, Ray) pays off against a single machine
(pandas, Polars, DuckDB), measured on your machine."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer
import typer.main

from breakeven.cluster import cli as cluster_cli
from breakeven.cluster.plan import ClusterError
from breakeven.commands import advise, datagen, listing, report, run, show
from breakeven.commands.common import err
from breakeven.errors import EngineUnavailable, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)
app.command()(run.run)
app.command("advise", short_help=advise.SHORT_HELP)(advise.advise)
app.command()(datagen.datagen)
app.command("list")(listing.list_all)
app.command()(show.show)
app.command(short_help=report.SHORT_HELP)(report.report)
app.add_typer(cluster_cli.app, name="cluster")


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
