"""A user's own workloads (``--workload-file``): the example file run end to end and verified,
and each thing that can be wrong in such a file said in one line, with its file and line,
before any case runs, or recorded with the case when it goes wrong inside the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakeven import workload_file
from breakeven.errors import UsageError
from breakeven.tables import SHOW_WIDTH
from breakeven.workloads import CATALOGUE

EXAMPLE = Path(__file__).parents[1] / "examples" / "my_questions.py"
HEADER = "from breakeven.workloads import workload\n"


@pytest.fixture
def catalogue() -> Iterator[None]:
    """Whatever a test's files register is gone after it (other tests walk the catalogue)."""
    before, loaded = dict(CATALOGUE), dict(workload_file.LOADED)
    yield
    for name in set(workload_file.LOADED) - set(loaded):
        sys.modules.pop(name, None)
        del workload_file.LOADED[name]
    CATALOGUE.clear()
    CATALOGUE.update(before)


def _file(tmp_path: Path, body: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    results, data = str(tmp_path / "results"), str(tmp_path / "data")
    cmd = [sys.executable, "-m", "breakeven.cli", "run", "--results", results, "--data", data, "--suite", "smoke",
           "--repeats", "1", "--timeout", "120", *args]  # fmt: skip
    env = os.environ | {"COLUMNS": str(SHOW_WIDTH)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _records(tmp_path: Path, run_id: str) -> dict[str, dict]:
    cases = tmp_path / "results" / "runs" / run_id / "cases"
    return {p.stem: json.loads(p.read_text()) for p in cases.glob("*.json")}


GOOD = """
Q = workload("{name}", "groupby", "sum v1 by id4", "G1", keys=("id4",), columns={{"x": ("id4", "v1")}})


@Q.implement("pandas")
def _pandas(c):
    return c.x.groupby("id4", as_index=False).agg(v1=("v1", "sum"))


@Q.ref
def _ref(t):
    return t["x"].group_by("id4").aggregate([("v1", "sum")]).rename_columns(["id4", "v1"])
"""


def test_the_example_file_declares_two_questions_and_their_references(catalogue) -> None:
    found = {wl.name: wl for wl in workload_file.load(EXAMPLE)}
    assert sorted(found) == ["my_revenue_high_v3", "my_v3_spread"]
    assert found["my_revenue_high_v3"].reference_label == "function"
    assert found["my_v3_spread"].reference_label == "engine pandas"
    assert sorted(found["my_v3_spread"].impls) == ["dask", "pandas"]
    line = EXAMPLE.read_text().splitlines().index("SPREAD = workload(") + 1
    assert found["my_v3_spread"].origin == (str(EXAMPLE), line)  # where its workload(...) call is
    assert workload_file.load(EXAMPLE) == list(found.values())  # a second load finds the same ones


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("x = (1,\n", 2, "SyntaxError: '(' was never closed"),
        ("import nonexistent_module_of_mine\n", 2, "ModuleNotFoundError: No module named 'nonexistent_module_of_mine'"),
        (GOOD.format(name="groupby_q1"), 3, "ValueError: workload 'groupby_q1' defined twice"),
        (GOOD.format(name="mine_a").replace('implement("pandas")', 'implement("pandsa")'), 6,
         "mine_a: unknown engine 'pandsa' (engines: pandas, polars, duckdb, dask, spark, ray)"),
        (GOOD.format(name="mine_b").replace("@Q.ref", "@staticmethod"), 3, "mine_b has no reference: decorate"),
        (GOOD.format(name="mine_c") + 'Q.reference_engine("dask")\n', 3,
         "mine_c: reference engine 'dask' is not a single-machine engine (pandas, polars, duckdb)"),
        (GOOD.format(name="mine_d") + 'Q.reference_engine("polars")\n', 3,
         "mine_d: reference engine 'polars' has no implementation of it"),
        ("X = 1\n", None, "declares no workload"),
    ],
    ids=["syntax", "import", "duplicate", "unknown-engine", "no-reference", "distributed-reference",
         "reference-not-implemented", "empty"],
)  # fmt: skip
def test_a_bad_file_is_one_line_with_its_file_and_line(tmp_path, catalogue, body, line, message) -> None:
    path = _file(tmp_path, body)
    before = dict(CATALOGUE)
    with pytest.raises(UsageError) as caught:
        workload_file.load(path)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(caught.value).startswith(where + message), str(caught.value)
    assert "\n" not in str(caught.value)
    assert dict(CATALOGUE) == before  # nothing of the bad file stays registered
    assert "mine" not in sys.modules


def test_a_file_named_as_another_module_is_one_line(tmp_path, catalogue) -> None:
    """Its name is its module's (Dask's workers import it by it): it must not hide another."""
    path = _file(tmp_path, GOOD.format(name="mine_g"), name="json.py")
    message = r"json.py: its name 'json' is another module's \(.*json.*\): rename the file$"
    with pytest.raises(UsageError, match=message):
        workload_file.load(path)
    assert "mine_g" not in CATALOGUE


def test_a_bad_file_stops_the_run_before_any_case(tmp_path) -> None:
    path = _file(tmp_path, GOOD.format(name="mine_e").replace('implement("pandas")', 'implement("pandsa")'))
    done = _cli(tmp_path, "--workload-file", str(path), "--engine", "pandas", "--run-id", "bad")
    assert done.returncode == 2
    engines = "pandas, polars, duckdb, dask, spark, ray"
    expected = f"breakeven: error: {path}:6: mine_e: unknown engine 'pandsa' (engines: {engines})"
    assert done.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "results" / "runs" / "bad").exists() and not (tmp_path / "data").exists()
    missing = _cli(tmp_path, "--workload-file", str(tmp_path / "nope.py"), "--engine", "pandas")
    assert missing.returncode == 2 and "nope.py: no such workload file" in missing.stderr


@pytest.mark.slow
@pytest.mark.dask
def test_the_example_runs_end_to_end_verified(tmp_path) -> None:
    """Both questions on pandas, Polars, DuckDB and Dask's processes (whose workers receive the
    file's own function by value); the second question's other engines are unsupported."""
    engines = ["pandas", "polars", "duckdb", "dask:processes:default"]
    done = _cli(tmp_path, "--workload-file", str(EXAMPLE), "--rows", "1e4", "--run-id", "mine",
                *[arg for e in engines for arg in ("--engine", e)])  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = _records(tmp_path, "mine")
    by = {(r["case"]["workload"], r["case"]["engine"]): r for r in records.values()}
    assert {w for w, _ in by} == {"my_revenue_high_v3", "my_v3_spread"}
    for engine in ("pandas", "polars", "duckdb", "dask"):
        revenue = by["my_revenue_high_v3", engine]
        assert revenue["status"] == "ok", revenue["reason"]
        assert revenue["reference"] == "function"
    for engine in ("pandas", "dask"):
        assert by["my_v3_spread", engine]["status"] == "ok", by["my_v3_spread", engine]["reason"]
        assert by["my_v3_spread", engine]["reference"] == "engine pandas"
    for engine in ("polars", "duckdb"):
        assert by["my_v3_spread", engine]["status"] == "unsupported"
        assert by["my_v3_spread", engine]["reason"] == f"my_v3_spread has no {engine} implementation"


RAISES_IN_A_WORKER = """

def _broken(part):
    raise ValueError("my bug in a worker")


@Q.implement("dask")
def _dask(c):
    return c.x.map_partitions(_broken, meta={"id4": "str", "v1": "int64"})
"""


@pytest.mark.slow
@pytest.mark.pandas
@pytest.mark.dask
def test_an_implementation_that_raises_is_recorded_with_its_line(tmp_path) -> None:
    """In the runner's worker (pandas) and in a Dask worker process, which imports its own copy
    of the file (``Client.upload_file``): the line is the user's file's either way."""
    body = GOOD.format(name="mine_f").replace(
        '    return c.x.groupby("id4", as_index=False).agg(v1=("v1", "sum"))',
        '    raise ValueError("my bug")',
    )
    path = _file(tmp_path, body + RAISES_IN_A_WORKER)
    engines = ["-e", "pandas:single:default", "-e", "dask:processes:default"]
    done = _cli(tmp_path, "--workload-file", str(path), *engines, "--from", "memory", "--rows", "1e4", "--run-id", "f")
    assert done.returncode == 0, done.stderr
    records = {r["case"]["engine"]: r for r in _records(tmp_path, "f").values()}
    assert {e: r["status"] for e, r in records.items()} == {"pandas": "crashed", "dask": "crashed"}
    assert records["pandas"]["reason"] == f"raised ValueError: my bug (at {path}:8)"
    assert records["dask"]["reason"].endswith(f"my bug in a worker (at {path}:17)"), records["dask"]["reason"]
