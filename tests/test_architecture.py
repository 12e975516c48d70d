"""The shape of the code: no import cycles in the package, and the CLI imported by no library
module nor by the asv benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "breakeven"
WORKLOADS = ROOT / "workloads"  # installed as breakeven.workloads (pyproject.toml's package-dir)


def module_name(path: Path) -> str:
    if path.is_relative_to(WORKLOADS):
        parts = ("breakeven", *path.relative_to(ROOT).with_suffix("").parts)
    else:
        parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    """Each module of the package and the modules it imports: at module level, inside functions,
    and by name through importlib (``breakeven.engines.registry`` loads every ``*_engine`` module)."""
    files = {module_name(p): p for p in [*PACKAGE.rglob("*.py"), *WORKLOADS.rglob("*.py")]}
    known = set(files)
    edges = {}
    for name, path in files.items():
        # a package's __init__ is imported with any of its modules: not an edge to itself
        edges[name] = {m for m in imports(path, known) if m != name and not name.startswith(m + ".")}
    edges["breakeven.engines"] |= {m for m in known if m.startswith("breakeven.engines.") and m.endswith("_engine")}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycles_in_the_package() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_sees_imports_inside_functions_and_through_importlib() -> None:
    edges = graph()
    assert "breakeven.engines.spark_engine" in edges["breakeven.engines"]  # importlib, by name
    assert "breakeven.cluster.access" in edges["breakeven.engines.ray_engine"]  # inside RayEngine.start
    looped = {**edges, "breakeven.cluster.access": edges["breakeven.cluster.access"] | {"breakeven.engines"}}
    assert cycles(looped)  # were access to import the engines, the engines' drivers would close a cycle


def test_the_cli_is_imported_by_no_library_module_and_no_benchmark() -> None:
    """The command line (``cli``, ``cluster.cli``, ``commands``) is on top: nothing else imports it."""
    cli = {m for m in graph() if m in ("breakeven.cli", "breakeven.cluster.cli") or m.startswith("breakeven.commands")}
    assert {"breakeven.commands.run", "breakeven.commands.report"} <= cli
    users = {m for m, deps in graph().items() if deps & cli and m not in cli}
    assert users == set()
    known = set(graph())
    for path in (ROOT / "benchmarks").glob("*.py"):
        assert not imports(path, known) & cli, path.name


def test_a_command_is_a_module_of_its_own_and_a_short_one() -> None:
    """One module per command (the cluster's commands are one), none over about 250 lines."""
    modules = [ROOT / "breakeven" / "cli.py", ROOT / "breakeven" / "cluster" / "cli.py"]
    modules += sorted((ROOT / "breakeven" / "commands").glob("*.py"))
    long = {p.name: n for p in modules if (n := len(p.read_text().splitlines())) > 270}
    assert not long
    assert {p.stem for p in modules} >= {"run", "advise", "datagen", "listing", "show", "report"}


def test_every_workload_is_implemented_or_declared_unsupported_on_every_engine() -> None:
    from breakeven.engines import registry
    from breakeven.workloads import CATALOGUE, FAMILIES

    engines = registry()
    for wl in CATALOGUE.values():
        assert set(wl.impls) | set(wl.unsupported) <= set(engines), f"{wl.name} names an unknown engine"
    gaps = {
        wl.name: [name for name, cls in engines.items() if not cls.implements(wl) and name not in wl.unsupported]
        for wl in CATALOGUE.values()
        if wl.family in FAMILIES
    }
    assert {name: found for name, found in gaps.items() if found} == {}


def test_a_gap_is_declared_with_its_reason_never_beside_an_implementation() -> None:
    import pytest

    from breakeven.engines import engine_meta
    from breakeven.workloads import Workload

    wl = Workload("w", "groupby", "q", "G1", ("x",), ("id1",))
    wl.sql("SELECT 1")
    wl.not_supported("ray", "Ray Data has no such aggregation")
    assert wl.unsupported == {"ray": "Ray Data has no such aggregation"}
    assert not engine_meta("ray").implements(wl) and engine_meta("duckdb").implements(wl)  # SQL serves DuckDB
    wl.impls["pandas"] = lambda c: None
    with pytest.raises(ValueError, match="cannot also be unsupported"):
        wl.not_supported("pandas", "no")


def test_every_engine_is_declared_completely_once() -> None:
    from breakeven.cluster import plan, roles
    from breakeven.engines import Engine, registry
    from breakeven.machine import packages

    engines = registry()
    assert list(engines)[:3] == ["pandas", "polars", "duckdb"]  # single-machine engines first
    for name, cls in engines.items():
        assert issubclass(cls, Engine) and cls.name == name
        for attr in ("order", "modes", "profiles", "packages", "extra", "colour"):
            assert getattr(cls, attr, None), f"{name} declares no {attr}"
        assert set(cls.packages) <= set(packages())  # its versions go into run.json
        if cls.cluster_kind:
            assert cls.distributed and "cluster" in cls.modes
            assert name in plan.ENGINES and name in roles.DEFAULT_PORTS
            assert set(cls.cluster_kind.roles) <= set(roles.ROLES)
            if cls.cluster_kind.scheme:
                assert plan.SCHEMES[cls.cluster_kind.scheme.split(":")[0]] == name


def test_a_sql_engine_is_one_module(tmp_path, monkeypatch, data_dir) -> None:
    """The steps of CONTRIBUTING.md, counted: a second SQL engine (DuckDB under another name,
    with no implementation of its own) is one module, and the registry, the configurations, the
    versions and the workloads' SQL text all take it from there."""
    import pyarrow.parquet as pq

    import breakeven.engines as engines
    from breakeven import data as datagen
    from breakeven import reference
    from breakeven.cases import Case, parse_engines
    from breakeven.engines import SessionSettings, engine_class, registry
    from breakeven.machine import packages
    from breakeven.verify import compare
    from breakeven.workloads import get_workload

    (tmp_path / "sqlcopy_engine.py").write_text(
        "from breakeven.engines.duckdb_engine import DuckDBEngine\n\n\n"
        "class SqlCopyEngine(DuckDBEngine):\n"
        "    name = 'sqlcopy'\n    order = 50\n    colour = '#000000'\n"
    )
    monkeypatch.setattr(engines, "__path__", [*engines.__path__, str(tmp_path)])
    registry.cache_clear()
    try:
        assert list(registry())[-1] == "sqlcopy" and "duckdb" in packages()
        assert [c.label for c in parse_engines(["sqlcopy"])] == ["sqlcopy:single:default", "sqlcopy:single:tuned"]
        cls = engine_class("sqlcopy")
        assert cls.implements(get_workload("groupby_q1"))  # its SQL text
        assert not cls.implements(get_workload("transform_udf"))  # a Python function: DuckDB's own code
        case = Case("groupby_q1", "sqlcopy", "single", "default", 1_000)
        datagen.generate(case.data, data_dir, 1)
        reference.compute(case.data, ["groupby_q1"], data_dir)
        eng = cls("single", "default", SessionSettings(1))
        eng.start()
        wl = case.wl
        tables = {"x": eng.load("x", datagen.dataset_paths(case.data, data_dir)["x"], 1_000, None)}
        answer = eng.materialise(eng.build(wl, eng.context(tables, {"x": 1_000}, None)))
        eng.close()
        expected = pq.read_table(reference.reference_path(case.data, "groupby_q1", data_dir))
        assert compare(eng.to_arrow(answer), expected, list(wl.keys)).ok
    finally:
        monkeypatch.undo()
        registry.cache_clear()


def test_the_top_level_is_the_layout_the_project_names() -> None:
    import breakeven.workloads

    for name in ("benchmarks", "workloads", "cluster", "results", "asv.conf.json", "pyproject.toml", "README.md"):
        assert (ROOT / name).exists(), name
    # The catalogue lives at workloads/ and is imported as breakeven.workloads (no copy inside the package).
    assert Path(breakeven.workloads.__file__).parent == WORKLOADS and not (PACKAGE / "workloads").exists()


def test_a_clone_ships_no_run_where_a_users_runs_go() -> None:
    """``results/runs/`` is the user's (the newest run there is theirs): what is published or
    kept as evidence lives in its own folder (``results/published``, ``results/network``, ...)."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "results/runs"], cwd=ROOT, capture_output=True, text=True, check=False)
    shipped = tracked.stdout.split() if tracked.returncode == 0 else list((ROOT / "results/runs").glob("*/run.json"))
    assert not shipped, shipped[:3]


def test_each_default_of_a_run_is_stated_once() -> None:
    """The default repeats, timeout and memory budget live in defaults.py (REPEATS, TIMEOUT,
    default_budget); anywhere else they are imported, never written again."""
    import re

    literals = re.compile(r"\b600(\.0)?\b|\b0\.8 \*|\* 0\.8\b|\brepeats\b.*\bor 3\b|\"600\"|\"3\"\)")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
        if path.name != "defaults.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literals.search(line.split("#")[0])
    ]
    assert found == []


def test_every_package_of_the_tree_is_installed() -> None:
    """A wheel (asv's environments, the cluster's image) holds only the packages pyproject.toml
    lists: each folder of the package is one of them."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
