"""The parquet sink: the engine writes the answer, the runner reads it back and verifies it as
it verifies a collected one, and no written file outlives its case, even after a kill."""

from __future__ import annotations

import re

import pytest

from breakeven.cases import Case, get_suite, parse_engines
from breakeven.errors import UsageError
from breakeven.workloads import CATALOGUE, SINKS

PLUGIN = ("breakeven.testing",)


def _case(workload: str, sink: str | None, engine: str = "pandas", mode: str = "single") -> Case:
    return Case(workload, engine, mode, "default", 10_000, sink=sink)


@pytest.mark.pandas
def test_a_written_answer_is_verified_and_deleted(run_cases, no_orphans) -> None:
    import breakeven.testing  # noqa: F401  (registers the fault workloads here too)

    cases = [
        _case("fault_dropped_row", "parquet"),
        _case("fault_dropped_row", "collect"),
        _case("fault_write_hang", "parquet"),  # killed at its timeout, one file written
        _case("transform_arith", "parquet"),
    ]
    records, runner = run_cases(cases, plugins=PLUGIN)
    status = {r.case_id: (r.status, r.reason) for r in records}
    for sink in ("parquet", "collect"):
        state, reason = status[_case("fault_dropped_row", sink).id]
        assert state == "wrong_result" and "rows" in reason, reason  # one row short, either way
    assert status[cases[2].id][0] == "timeout"
    assert status[cases[3].id] == ("ok", None)
    ok = next(r for r in records if r.status == "ok")
    assert ok.rows_out > 0 and ok.case.sink == "parquet" and ok.case.question_label.endswith("sink=parquet")
    no_orphans(runner.seen_pids)  # and no temporary folder: the written answers went with the scratch


@pytest.mark.pandas
def test_answers_too_large_to_hold_are_verified_by_digest(run_cases, monkeypatch, tmp_path) -> None:
    """A machine of 1 kB, for the references (BREAKEVEN_REFERENCE_MEMORY): the answers of a row
    per row are checked by digest (written, or collected as q10's), a row short is still caught;
    q3's reference is made in batches, q10's and the running total's a part of x at a time."""
    import breakeven.testing  # noqa: F401
    from breakeven import reference

    monkeypatch.setenv("BREAKEVEN_REFERENCE_MEMORY", "1000")
    cases = [
        Case("transform_arith", "pandas", "single", "default", 20_000, nas=5, sink="parquet"),
        Case("fault_dropped_row", "pandas", "single", "default", 20_000, nas=5, sink="parquet"),
        Case("groupby_q3", "pandas", "single", "default", 20_000, nas=5),
        Case("groupby_q10", "pandas", "single", "default", 20_000, nas=5),
        Case("transform_cumsum", "pandas", "single", "default", 20_000, nas=5, sink="parquet"),
    ]
    data_dir = tmp_path / "data"  # its own: a reference made whole by another test would be found
    records, _ = run_cases(cases, plugins=PLUGIN, data_dir=data_dir)
    status = {r.case_id: (r.status, r.reason) for r in records}
    assert [status[c.id] for c in (cases[0], *cases[2:])] == [("ok", None)] * 4
    state, reason = status[cases[1].id]
    rows = re.fullmatch(r"(\d+) rows, reference has (\d+)", reason or "")
    assert state == "wrong_result" and rows and int(rows.group(2)) - int(rows.group(1)) == 1, reason
    for c in (cases[0], *cases[3:]):
        assert reference.found(c.data, c.workload, data_dir).name.endswith(".digest2.json"), c.id


def test_sinks_are_a_dimension_of_large_answers_only() -> None:
    cases = get_suite("smoke").cases(parse_engines(["pandas"]))
    sinks = {(c.wl.family, c.sink) for c in cases}
    assert sinks == {("groupby", None), ("join", None), *((f, s) for f in ("join", "transform") for s in SINKS)}
    assert {c.workload for c in cases if c.wl.family == "join" and c.sink is None} == {
        name for name in CATALOGUE if name.startswith("join_") and name.endswith("_agg")
    }  # the merges that aggregate have small answers
    standard = get_suite("standard").cases(parse_engines(["pandas"]))
    assert {c.sink for c in standard if c.wl.family == "transform"} == {"parquet"}  # the default sink
    collect = get_suite("standard").cases(parse_engines(["pandas"]), sinks=("collect",))
    assert {c.sink for c in collect if c.wl.family == "transform"} == {"collect"}
    with pytest.raises(UsageError, match="has no sink"):
        Case("groupby_q1", "pandas", "single", "default", 10_000, sink="parquet")
    with pytest.raises(UsageError, match="has no sink 'disk'"):
        Case("transform_udf", "pandas", "single", "default", 10_000, sink="disk")
    assert Case("transform_udf", "pandas", "single", "default", 10_000).sink == "collect"


def test_a_chunked_pandas_job_writes_each_chunk_before_it_reads_the_next(tmp_path) -> None:
    """The chunked pandas job people move to Dask reads a chunk, transforms it and writes it."""
    import pandas as pd

    from breakeven.engines import SessionSettings
    from breakeven.engines.pandas_engine import PandasEngine
    from breakeven.workloads import Chunks, Ctx
    from breakeven.workloads.transform import in_chunks

    folder = tmp_path / "answer"
    written_before: list[int] = []

    def transform(chunk: pd.DataFrame) -> pd.DataFrame:
        written_before.append(len(list(folder.glob("*.parquet"))) if folder.exists() else 0)
        return chunk.assign(w=chunk["v"] * 2)

    frame = pd.DataFrame({"rid": range(1000), "v": range(1000)})
    answer = in_chunks(frame, Ctx({}, chunk_rows=100), transform)
    assert isinstance(answer, Chunks) and written_before == []  # nothing read or made yet
    PandasEngine("single", "default", SessionSettings(1)).write(answer, folder)
    assert written_before == list(range(10))  # chunk i was made once the i chunks before it were written
    assert pd.read_parquet(folder)["w"].sum() == 2 * sum(range(1000))


@pytest.mark.pandas
def test_a_chunked_pandas_job_holds_a_chunk_not_the_table(run_cases) -> None:
    """Read from files and written as Parquet, in chunks of 1e5 rows: at ten times the rows its
    peak stays within 1.5x (held whole, the answers of 1e7 rows took 4.4 times that of 1e6). The
    memory of the process tree (PSS), not a control group's, which counts the page cache of the
    files read and written."""
    cases = [
        Case("transform_udf", "pandas", "single", "default", rows, chunk_rows=10**5, sink="parquet", source="files")
        for rows in (10**6, 10**7)
    ]
    small, large = run_cases(cases, memory_method="sampled", repeats=2)[0]
    assert small.ok and large.ok
    assert large.peak_memory_bytes < 1.5 * small.peak_memory_bytes, (small.peak_memory_bytes, large.peak_memory_bytes)
