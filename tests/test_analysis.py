"""Breakeven points from records: interpolation on log scale, the band from the repeats, failed
baselines, the memory cliff, and the verdict matrix's grouping."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from breakeven import analysis, scenarios
from breakeven.analysis import Point, crossing, verdict
from breakeven.cases import Case
from breakeven.labels import question_label, session_label
from breakeven.results import Record, RecordedCase, Times, make_record
from breakeven.workloads import get_workload


def record(
    engine: str,
    mode: str,
    rows: int,
    times: list[float] | None,
    status: str = "ok",
    profile: str = "default",
    **case: Any,
) -> Record:
    """A record as the runner writes it, of groupby_q1 unless ``workload`` is given."""
    wl = get_workload(case.setdefault("workload", "groupby_q1"))
    repeats = tuple(times or ())
    median = sorted(repeats)[len(repeats) // 2] if repeats else None
    recorded = RecordedCase(engine=engine, mode=mode, profile=profile, rows=rows, data_kind=wl.data_kind, **case)
    return Record(
        run_id="test",
        case_id=f"{wl.name}.{recorded.config_label}.{rows}.{recorded.chunk_rows}",
        case=recorded,
        family=wl.family,
        question=wl.question,
        takes_chunks=wl.uses_chunks(engine),
        data=f"{wl.data_kind}_{rows}",
        distributed=engine in ("dask", "spark", "ray"),
        status=status,
        reason=None if status == "ok" else f"{status}, for the test",
        times=Times(repeats=repeats, compute_median=median, end_to_end=median),
        finished_at="2026-11-23T10:00:00+00:00",
        peak_memory_bytes=2**30 if status == "ok" else None,
    )


def test_crossing_is_interpolated_on_log_scale() -> None:
    # ratio 2 at 1e6 and 0.5 at 1e7: log ratio is linear in log rows, zero half-way (in logs)
    segment, at = crossing([10**6, 10**7], [2.0, 0.5])
    assert segment == 0 and at == pytest.approx(math.sqrt(1e13))
    assert crossing([10**6, 10**7, 10**8], [4.0, 2.0, 0.5]) == (1, pytest.approx(10 ** (7 + 0.5)))
    assert crossing([10**6, 10**7], [2.0, 1.5]) is None


def test_a_distributed_engine_that_catches_up_breaks_even_with_a_band_from_the_repeats() -> None:
    single = {"polars": [Point(10**6, "ok", 1.0, 0.9, 1.1), Point(10**7, "ok", 10.0, 9.0, 11.0)]}
    dist = [Point(10**6, "ok", 4.0, 3.8, 4.2), Point(10**7, "ok", 5.0, 4.5, 5.5)]
    found = verdict(dist, single)
    assert found.kind == "breaks_even" and found.direction == "above"
    assert found.rows is not None and found.low is not None and found.high is not None
    assert found.low < found.rows < found.high
    assert 10**6 < found.rows < 10**7
    assert "breaks even at" in found.text and found.short.startswith("helps >")


def test_a_points_spread_is_its_repeats_or_with_one_repeat_the_cold_run_too() -> None:
    """The 1e9 slice runs once after its cold run: the band and the clear-win test both take the
    cold run in, rather than claim a zero-width spread; one time alone says it has no spread."""
    three = Point.of(record("dask", "threads", 10**6, [1.0, 2.0, 1.5]))
    assert (three.median, three.fastest, three.slowest, three.times) == (1.5, 1.0, 2.0, 3)
    one = record("dask", "threads", 10**9, [50.0])
    assert Point.of(one).times == 1 and Point.of(one).fastest == Point.of(one).slowest == 50.0
    one = replace(one, times=replace(one.times, cold=60.0, end_to_end=80.0))
    assert (Point.of(one).fastest, Point.of(one).slowest, Point.of(one).times) == (50.0, 60.0, 2)
    # end to end: start-up and loading (30 s here) were measured once and shift both extremes
    assert (Point.of(one, "end_to_end").fastest, Point.of(one, "end_to_end").slowest) == (80.0, 90.0)
    failed = Point.of(record("dask", "threads", 10**9, None, status="memory"))
    assert (failed.status, failed.median, failed.config) == ("memory", None, "dask:threads:default")


def test_never_breaking_even_and_always_helping() -> None:
    single = {"duckdb": [Point(10**6, "ok", 0.1, 0.1, 0.1), Point(10**7, "ok", 1.0, 1.0, 1.0)]}
    slow = [Point(10**6, "ok", 2.0, 2.0, 2.0), Point(10**7, "ok", 3.0, 3.0, 3.0)]
    assert verdict(slow, single).kind == "hurts"
    assert verdict(slow, single).text == (
        "hurts: never breaks even in 1e6–1e7 (3x slower than the best single-machine engine, duckdb, at 1e7)"
    )
    assert verdict(slow, single).short == "hurts 3x"
    fast = [Point(10**6, "ok", 0.05, 0.05, 0.05), Point(10**7, "ok", 0.4, 0.4, 0.4)]
    assert verdict(fast, single).kind == "helps"
    assert verdict(fast, single).short == "helps 2.5x"  # one convention: a factor of at least 1, and its direction
    assert verdict(fast, single).baseline == "duckdb"


def test_show_and_the_verdicts_take_one_baseline_and_one_ratio() -> None:
    """The per-size table and the verdict matrix compare a chunked question with the same
    engines (own-chunk ones included) and write the same number."""
    records = [
        record("pandas", "single", 10**6, [1.0], workload="transform_udf", chunk_rows=10**5),
        record("duckdb", "single", 10**6, [0.25], workload="transform_udf"),
        record("dask", "threads", 10**6, [2.0], workload="transform_udf", chunk_rows=10**5),
    ]
    (chunked,) = [s for s in scenarios.by_size(records) if "chunk" in s.question]
    assert chunked.baseline() == "duckdb:single:default" and "duckdb:single:default" in chunked.borrowed
    ratio = chunked.ratio("dask:threads:default")
    assert ratio == 8.0 and analysis.direction(ratio) == "hurts"
    found = analysis.matrix(records)["transform_udf chunk=1e5"]["dask:threads:default"]
    assert found.short == f"hurts {analysis.fmt_ratio(ratio)}" == "hurts 8x"


def test_a_baseline_that_runs_out_of_memory_is_a_win_and_the_memory_cliff() -> None:
    single = {
        "pandas": [Point(10**7, "ok", 1.0, 1.0, 1.0), Point(10**8, "memory")],
        "polars": [Point(10**7, "ok", 0.5, 0.5, 0.5), Point(10**8, "memory")],
    }
    dist = [Point(10**7, "ok", 2.0, 2.0, 2.0), Point(10**8, "ok", 30.0, 29.0, 31.0)]
    found = verdict(dist, single)
    assert found.kind == "breaks_even"
    assert (found.low, found.high) == (10**7, 10**8)  # only the segment is known
    assert found.memory_cliff == 10**8
    assert "memory cliff at 1e8" in found.text


def test_a_failed_distributed_engine_is_reported_not_dropped() -> None:
    single = {"pandas": [Point(10**6, "ok", 1.0, 1.0, 1.0)]}
    found = verdict([Point(10**6, "timeout")], single)
    assert found.kind == "failed" and found.reason == "timeout"


def test_the_matrix_groups_by_question_and_compares_with_the_best_single_engine_per_size() -> None:
    records = [
        record("pandas", "single", 10**6, [1.0, 1.1, 0.9]),
        record("pandas", "single", 10**7, [10.0, 10.5, 9.5]),
        record("polars", "eager", 10**6, [0.5, 0.5, 0.5]),
        record("polars", "eager", 10**7, [6.0, 6.0, 6.0]),
        record("dask", "threads", 10**6, [2.0, 2.0, 2.0]),
        record("dask", "threads", 10**7, [3.0, 3.0, 3.0]),
        record("dask", "threads", 10**6, [0.1, 0.1, 0.1], workload="groupby_q3"),
    ]
    found = analysis.matrix(records)
    assert set(found) == {"groupby_q1", "groupby_q3"}
    q1 = found["groupby_q1"]["dask:threads:default"]
    assert q1.kind == "breaks_even"  # 4x slower than Polars at 1e6, 2x faster at 1e7
    assert q1.rows == pytest.approx(10 ** (6 + math.log(4) / math.log(8)))
    assert found["groupby_q3"]["dask:threads:default"].kind == "no_baseline"


def test_question_labels_keep_the_data_parameters_but_not_rows() -> None:
    case = Case("join_dim_inner_agg", "pandas", "single", "default", 10**7, dim_rows=10**4)
    assert question_label(case) == "join_dim_inner_agg dim=1e4"
    case = Case("groupby_q1", "dask", "processes", "tuned", 10**7, k=10**5, nas=5, chunk_rows=10**5)
    assert question_label(case) == "groupby_q1 k=1e5 nas=5% chunk=1e5"
    assert question_label(case, chunked=False) == "groupby_q1 k=1e5 nas=5%"


def test_a_planned_case_and_its_record_carry_the_same_labels() -> None:
    case = Case("transform_udf", "dask", "processes", "tuned", 10**6, nas=5, chunk_rows=10**5)
    recorded = make_record(case, "r", "ok", None, repeats=[1.0]).case
    assert recorded.question_label == question_label(case) == "transform_udf nas=5% chunk=1e5 sink=collect"
    assert recorded.unchunked_label == "transform_udf nas=5% sink=collect"
    assert recorded.config_label == case.config.label == "dask:processes:tuned"
    session = session_label("dask", "processes", "tuned", None, case.data.name, 10**5)
    assert case.id == f"transform_udf-collect.{session}"


def test_engines_that_choose_their_own_chunks_are_the_baseline_at_every_chunk_size() -> None:
    chunked = {"workload": "transform_udf", "chunk_rows": 10**5}
    records = [
        record("pandas", "single", 10**6, [1.0], **chunked),
        record("dask", "threads", 10**6, [0.5], **chunked),
        record("duckdb", "single", 10**6, [0.1], workload="transform_udf"),  # DuckDB takes no chunk size
    ]
    found = analysis.matrix(records)
    assert list(found) == ["transform_udf chunk=1e5"]  # no verdict row for the question only DuckDB ran
    assert found["transform_udf chunk=1e5"]["dask:threads:default"].short == "hurts 5x"  # against DuckDB, not pandas


def test_an_unchunked_scenario_is_left_out_only_where_a_chunked_one_shows_it() -> None:
    chunked = {"workload": "transform_udf", "chunk_rows": 10**5}
    records = [
        record("pandas", "single", 10**6, [1.0], **chunked),
        record("duckdb", "single", 10**6, [0.1], workload="transform_udf"),
        record("duckdb", "single", 10**7, [1.0], workload="transform_udf"),  # no chunked question at 1e7
    ]
    shown = {(s.question, s.rows): s for s in scenarios.by_size(records) if not s.shown_elsewhere}
    assert set(shown) == {("transform_udf chunk=1e5", 10**6), ("transform_udf", 10**7)}
    assert shown[("transform_udf chunk=1e5", 10**6)].borrowed == {"duckdb:single:default"}
    (q,) = [q for q in analysis.questions(records).values() if q.label == "transform_udf"]
    assert q.lent == {10**6} and q.shown_elsewhere  # the report draws it with the chunked question


def _p(rows: int, median: float, spread: float = 0.02, **about: Any) -> Point:
    """A point with repeats within ``spread`` of the median, either side."""
    return Point(rows, "ok", median, median * (1 - spread), median * (1 + spread), 3, median * 4, **about)


def test_a_verdict_names_every_change_of_direction() -> None:
    """Ratios 1.45, 0.93, 1.05 (the published dask:threads:default on join_small_inner): not a
    breakeven point at 7e6 above which it helps, but a help at 1e7 only."""
    single = {"polars": [_p(10**6, 1.0), _p(10**7, 10.0), _p(10**8, 100.0)]}
    dist = [_p(10**6, 1.45), _p(10**7, 9.3), _p(10**8, 105.0)]
    found = verdict(dist, single)
    assert found.kind == "mixed" and found.short == "helps 1e7 only"
    assert found.text.startswith("helps at 1e7; hurts at 1e6, 1e8")


def test_within_the_repeats_spread_a_size_is_even() -> None:
    """0.200 s against 0.201 s, with repeats 5% either side: not "helps at every size"."""
    single = {"duckdb": [_p(10**6, 0.201, 0.05), _p(10**7, 2.0)]}
    even = verdict([_p(10**6, 0.200, 0.05), _p(10**7, 1.0)], single)
    assert even.states == ((10**6, "even"), (10**7, "helps"))
    assert even.kind == "mixed" and even.text.startswith("helps at 1e7; even within the repeats' spread at 1e6")
    assert verdict([_p(10**6, 0.200, 0.05)], single).kind == "even"


def test_a_memory_cliff_is_where_no_single_machine_configuration_finished() -> None:
    """Polars eager out of memory while Polars streaming finished is no cliff."""
    single = {"polars:eager": [Point(10**9, "memory")], "polars:streaming": [_p(10**9, 59.0)]}
    assert verdict([_p(10**9, 116.0)], single).memory_cliff is None
    single = {"polars:eager": [Point(10**9, "memory")], "polars:streaming": [Point(10**9, "timeout", timeout=2400.0)]}
    found = verdict([_p(10**9, 116.0)], single)
    assert found.memory_cliff == 10**9 and found.kind == "helps"


def test_a_failure_under_smaller_limits_is_no_win() -> None:
    """pandas timed out at 300 s where Spark had 2400 s and its case took 1600 s: not comparable,
    said apart; under the same 2400 s, or where Spark's whole case took less than pandas had, it
    would have been a win."""
    spark = [_p(10**9, 400.0, config="spark:local:default", run="outofcore", timeout=2400.0)]
    short = {"pandas": [Point(10**9, "timeout", timeout=300.0, config="pandas:single:default", run="outofcore")]}
    found = verdict(spark, short, "pandas")
    assert found.kind == "no_baseline" and found.ratio is None
    assert found.notes == ("not comparable at 1e9: pandas had 300 s, spark:local 2400 s, its case took 1600 s",)
    quick = [replace(spark[0], took=200.0)]
    assert verdict(quick, short, "pandas").kind == "helps"  # pandas' 300 s covered all Spark took
    same = {"pandas": [Point(10**9, "timeout", timeout=2400.0, config="pandas:single:default", run="outofcore")]}
    assert verdict(spark, same, "pandas").kind == "helps"
    budget = {"pandas": [Point(10**9, "memory", budget=2**30, config="pandas:single:default", run="outofcore")]}
    found = verdict([replace(spark[0], budget=2 * 2**30)], budget, "pandas")
    assert found.notes == ("not comparable at 1e9: pandas had 1 GiB of memory, spark:local 2 GiB",)


def test_the_baseline_comes_from_the_contenders_own_run_where_it_ran_there() -> None:
    single = {
        "polars": [_p(10**7, 1.0, config="polars:eager:default", run="quick-1e7")],
        "duckdb": [_p(10**7, 0.5, config="duckdb:single:default", run="scaleout")],
    }
    found = verdict([_p(10**7, 2.0, run="quick-1e7")], single)
    assert found.baseline == "polars:eager:default" and found.ratio == 2.0 and not found.notes
    found = verdict([_p(10**7, 2.0, run="elsewhere")], single)
    assert found.baseline == "duckdb:single:default" and found.notes == (
        "the best single-machine engine at 1e7 from another run",
    )
