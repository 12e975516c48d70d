"""A user's own Parquet (``--table x=PATH``): described, never copied into a record; resized
deterministically for a size sweep; checked against what each question reads; run end to end,
verified."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breakeven import user_data
from breakeven.cases import SUITES, on_user_data, parse_engines
from breakeven.errors import UsageError
from breakeven.labels import question_label
from breakeven.tables import SHOW_WIDTH


def _sales(path: Path, rows: int = 1000) -> Path:
    """A user's table with the columns q1 reads (id1, v1) and one more."""
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "id1": pa.array([f"id{i:03d}" for i in rng.integers(1, 20, rows)]),
            "v1": pa.array(rng.integers(1, 6, rows)),
            "rid": pa.array(np.arange(rows)),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["x"], "--table 'x': write ROLE=PATH"),
        (["dim=a.parquet"], "--table: name the big table x"),
        (["x=a", "x=b"], "--table x given twice"),
    ],
)
def test_bad_table_options_are_one_line(specs, message) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        user_data.parse(specs)


def test_a_table_is_described_by_its_footers_and_named_by_its_content(tmp_path) -> None:
    path = _sales(tmp_path / "sales.parquet")
    first = user_data.register({"x": path})
    assert first.id.startswith("sales-") and first.id == user_data.register({"x": path}).id
    table = first.tables["x"]
    assert (table.rows, table.bytes) == (1000, path.stat().st_size)
    assert table.columns == {"id1": "string", "v1": "int64", "rid": "int64"}
    _sales(path, rows=999)  # changed: another set
    assert user_data.register({"x": path}).id != first.id
    for bad, message in [
        (tmp_path / "none.parquet", "does not exist"),
        (tmp_path, "holds no *.parquet file"),
        (tmp_path / "text.parquet", "is not Parquet that pyarrow reads"),
    ]:
        if bad.name == "text.parquet":
            bad.write_text("not parquet")
        elif bad == tmp_path:
            path.unlink()
        with pytest.raises(UsageError, match=message.replace("*", r"\*")):
            user_data.register({"x": bad})


def test_resizing_is_deterministic_down_and_up(tmp_path) -> None:
    user_set = user_data.register({"x": _sales(tmp_path / "sales.parquet")})
    for rows in (300, 2500):
        user_data.resize(user_set, rows, tmp_path / f"a{rows}")
        user_data.resize(user_set, rows, tmp_path / f"b{rows}")
        a, b = pq.read_table(tmp_path / f"a{rows}"), pq.read_table(tmp_path / f"b{rows}")
        assert a.num_rows == rows and a.equals(b)
    down = pq.read_table(tmp_path / "a300")["rid"].to_pylist()
    assert down == sorted(set(down))  # a sample without repeats, in the table's order
    up = pq.read_table(tmp_path / "a2500")["rid"].to_pylist()
    assert up[:2000] == list(range(1000)) * 2 and up[2000:] == sorted(set(up[2000:]))


def test_a_question_needs_its_tables_and_columns(tmp_path) -> None:
    user_set = user_data.register({"x": _sales(tmp_path / "sales.parquet")})
    configs = parse_engines(["pandas:single:default"])
    q1, _ = SUITES["quick"].select(["groupby_q1"], configs)
    moved = on_user_data(q1, user_set, sized=False)
    assert [(c.rows, c.data.name) for c in moved] == [(1000, f"U_{user_set.id}_1e3")]
    assert question_label(moved[0]) == f"groupby_q1 data={user_set.id}"
    sized = on_user_data(SUITES["quick"].select(["groupby_q1"], configs, (500, 4000))[0], user_set, sized=True)
    assert sorted(c.rows for c in sized) == [500, 4000]
    q3, _ = SUITES["quick"].select(["groupby_q3"], configs)
    with pytest.raises(UsageError, match=r"groupby_q3 reads column\(s\) id3, v3 of table x, which .* lacks"):
        on_user_data(q3, user_set, sized=False)
    merge, _ = SUITES["quick"].select(["join_dim_inner_agg"], configs)
    with pytest.raises(UsageError, match=r"join_dim_inner_agg reads table dim: pass --table dim=PATH too"):
        on_user_data(merge, user_set, sized=False)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    results, data = str(tmp_path / "results"), str(tmp_path / "data")
    cmd = [sys.executable, "-m", "breakeven.cli", "run", "--results", results, "--data", data, "--repeats", "1",
           "--timeout", "120", *args]  # fmt: skip
    env = os.environ | {"COLUMNS": str(SHOW_WIDTH)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_a_table_that_lacks_a_column_stops_the_run_before_any_case(tmp_path) -> None:
    path = _sales(tmp_path / "sales.parquet")
    done = _cli(tmp_path, "--table", f"x={path}", "-w", "groupby_q3", "-e", "pandas", "--run-id", "r")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "groupby_q3 reads column(s) id3, v3" in done.stderr
    assert not (tmp_path / "results" / "runs" / "r").exists()


@pytest.mark.slow
@pytest.mark.pandas
def test_questions_run_on_a_users_parquet_verified_at_its_size_and_resized(tmp_path) -> None:
    path = _sales(tmp_path / "sales.parquet", rows=5000)
    done = _cli(tmp_path, "--table", f"x={path}", "-w", "groupby_q1", "-e", "pandas", "-e", "polars:eager",
                "-e", "duckdb", "--rows", "2e3", "--rows", "5e3", "--rows", "2e4", "--run-id", "mine")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "your data, x:" in done.stdout
    records = [json.loads(p.read_text()) for p in (tmp_path / "results/runs/mine/cases").glob("*.json")]
    assert len(records) == 18  # two profiles of three engines at three sizes
    assert all(r["status"] == "ok" for r in records), [(r["case_id"], r["reason"]) for r in records]
    (set_id,) = {r["case"]["user_data"] for r in records}
    assert {r["data"] for r in records} == {f"U_{set_id}_2e3", f"U_{set_id}_5e3", f"U_{set_id}_2e4"}
    source = records[0]["data_source"]
    assert source["tables"]["x"] == {
        "path": str(path.resolve()),
        "rows": 5000,
        "bytes": path.stat().st_size,
        "columns": {"id1": "string", "v1": "int64", "rid": "int64"},
    }
    data = tmp_path / "data"
    assert (data / f"U_{set_id}_2e4" / "x").is_dir() and (data / f"U_{set_id}_2e3" / "x").is_dir()
    assert not (data / f"U_{set_id}_5e3" / "x").exists()  # its own size: linked, not copied
    assert (data / f"U_{set_id}" / "x" / "part-00000.parquet").is_symlink()


def _advise(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "breakeven.cli", "advise", "--results", "results", "--cores", "2", *args]
    env = os.environ | {"COLUMNS": str(SHOW_WIDTH + 40)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


@pytest.mark.slow
@pytest.mark.pandas
def test_advise_measures_what_the_records_do_not_cover_on_the_users_own_data(tmp_path) -> None:
    path = _sales(tmp_path / "sales.parquet", rows=5000)
    first = _cli(tmp_path, "--table", f"x={path}", "-w", "groupby_q1", "-e", "pandas:single:default", "--rows", "2e3")
    assert first.returncode == 0, first.stderr
    before = _advise(tmp_path, "groupby_q1", "--table", f"x={path}", "--rows", "1e4")
    said = " ".join(before.stdout.split())
    assert "pandas:single:default: measured at 2e3 only: too few sizes to extrapolate" in said, before.stdout
    command = f"breakeven run -w groupby_q1 -e pandas:single:default --rows 1e4 --table x={path}"
    assert f"measure it with: {command}" in said
    done = _advise(tmp_path, "groupby_q1", "--table", f"x={path}", "--rows", "1e4", "--measure")
    assert done.returncode == 0, done.stderr
    assert f"measuring: {command}" in " ".join(done.stdout.split()), done.stdout
    assert "fastest: pandas:single:default" in done.stdout and "(measured)" in done.stdout
    assert re.search(r"pandas:single:default rests on: .*\(1e4\)", done.stdout), done.stdout
    records = [json.loads(p.read_text()) for p in (tmp_path / "results/runs").glob("*/cases/*.json")]
    assert sorted((r["case"]["rows"], r["status"]) for r in records) == [(2000, "ok"), (10000, "ok")]
    assert len({r["case"]["user_data"] for r in records}) == 1
    # By the set's id instead of its files: the records say where they are.
    (set_id,) = {r["case"]["user_data"] for r in records}
    again = _advise(tmp_path, "groupby_q1", "--data", set_id, "--rows", "1e4")
    assert again.returncode == 0 and "(measured)" in again.stdout, again.stdout


def test_advise_on_a_set_by_id_needs_a_record_of_its_files(tmp_path) -> None:
    path = _sales(tmp_path / "sales.parquet")
    (tmp_path / "results").mkdir()
    for args, message in [
        (("--data", "nothing-12345678", "--measure"), "--data nothing-12345678: no record says where its files are"),
        (("--data", "other-12345678", "--table", f"x={path}"), "--data other-12345678 and --table name different sets"),
    ]:
        bad = _advise(tmp_path, "groupby_q1", "--rows", "1e4", *args)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
