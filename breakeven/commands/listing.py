"""``breakeven list``: the engines (installed or not, with versions), the workloads and the suites."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from breakeven.cases import SUITES, parse_engines
from breakeven.commands.common import console
from breakeven.engines import engine_class, engine_meta, registry
from breakeven.errors import EngineUnavailable
from breakeven.java import find_java
from breakeven.workloads import CATALOGUE


def list_all() -> None:
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
