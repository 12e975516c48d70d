"""Every engine configuration through the real runner (worker processes, limits, records), once
per path a case can take: in memory and from files, a merge's two tables, chunks, an answer
collected and one written as Parquet. That each workload answers its question is the in-process
tier's check (test_every_workload.py); here it is checked again only where nothing else runs the
code: Spark's and Ray's default profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakeven.cases import Case, get_suite, parse_engines
from breakeven.engines import engine_class, registry
from breakeven.workloads import CATALOGUE

CONFIGS = [cfg for name in registry() for cfg in parse_engines([name])]
# (workload, source, sink): the paths every configuration takes through the runner.
PATHS = {
    ("groupby_q1", "memory", None),
    ("groupby_q1", "files", None),
    ("join_small_inner", "memory", "parquet"),  # two tables loaded, the answer written by the engine
    ("transform_cumsum", "memory", "collect"),  # in chunks, a large answer collected
    ("transform_cumsum", "files", "parquet"),  # chunks read from files, written
}

# Spark's and Ray's default profiles are not in the in-process tier (they pay seconds of fixed cost
# per shuffle even on 1e4 rows), so their answers are checked here:
# - Spark's default profile runs every question in memory, with one sink (the other writes the same answer);
# - Ray's default profile, whose every shuffle starts a pool of 200 hash-shuffle aggregators
#   (8 to 50 s a case here on 1e4 rows), runs each of its code paths once: q1 for the aggregates
#   (q2 to q7 differ from it only in their aggregate functions, which the tuned profile runs), q8
#   and q9, whose default code is its own (a function per group), q10 (a group per row: the largest
#   shuffle), Dataset.join once per kind of merge (inner, left, on a dimension), every transform.
ANSWERS_HERE = {"spark:local:default", "ray:local:default"}
RAY_DEFAULT_PATHS = {
    "groupby_q1", "groupby_q8", "groupby_q9", "groupby_q10",
    "join_small_inner", "join_medium_left_agg", "join_dim_inner_agg",
    "transform_arith", "transform_string", "transform_udf", "transform_cumsum",
}  # fmt: skip


def _smoke(cfg_label: str) -> list[Case]:
    cases = get_suite("smoke").cases(parse_engines([cfg_label]))
    # nulls everywhere they are allowed: the semantics of null keys and values are checked too
    return [Case(**(c.to_dict() | ({"nas": 5} if c.data.kind in ("G1", "T1") else {}))) for c in cases]


def _through_the_runner(cfg_label: str) -> list[Case]:
    """The paths (a tuned profile's where it differs from the default: ``Engine.tunes``), or,
    for Spark's and Ray's default profiles, the questions nothing else checks."""
    cases = _smoke(cfg_label)
    if cfg_label == "spark:local:default":
        return [c for c in cases if c.source == "memory" and c.sink in (None, "collect")]
    if cfg_label == "ray:local:default":
        return [
            c for c in cases if c.source == "memory" and c.sink in (None, "collect") and c.workload in RAY_DEFAULT_PATHS
        ]
    cls = engine_class(cfg_label.split(":")[0])  # an engine that is not installed fails here, loudly
    tuned = cfg_label.endswith(":tuned")
    return [
        c
        for c in cases
        if (c.workload, c.source, c.sink) in PATHS
        and (not tuned or cls.tunes(CATALOGUE[c.workload].data_kind, c.source))
    ]


@pytest.mark.parametrize(
    "label", [pytest.param(c.label, marks=getattr(pytest.mark, c.engine), id=c.label) for c in CONFIGS]
)
def test_every_path_through_the_runner(label: str, run_cases) -> None:
    cls = engine_class(label.split(":")[0])  # an engine that is not installed fails here, loudly
    cases = _through_the_runner(label)
    ran = {(c.workload, c.source, c.sink) for c in cases}
    if label in ANSWERS_HERE:
        wanted = {n for n in CATALOGUE if not n.startswith("fault_")}
        wanted = wanted & RAY_DEFAULT_PATHS if label.startswith("ray") else wanted
        assert not RAY_DEFAULT_PATHS - set(CATALOGUE), RAY_DEFAULT_PATHS - set(CATALOGUE)  # each a workload's
        assert {c.workload for c in cases} == wanted
    else:
        tuned = label.endswith(":tuned")
        assert ran == {p for p in PATHS if not tuned or cls.tunes(CATALOGUE[p[0]].data_kind, p[1])}
    # Spark's and Ray's default profiles cost seconds per shuffle even on tiny data: their cases
    # run once (the cold run, verified; the repeats' path is the same runner code as every
    # other configuration's); every other configuration also has a timed repeat, verified too.
    cold_only = label in ANSWERS_HERE
    records, runner = run_cases(cases, repeats=0 if cold_only else 1)
    bad = [(r.case_id, r.status, r.reason) for r in records if r.status != "ok"]
    assert not bad
    # One engine session across the data sets, sources and chunk sizes: started once, each
    # part's tables loaded (and let go) in turn.
    assert runner.sessions_started == 1 and len({(r.log, r.times.startup) for r in records}) == 1
    for r in records:
        assert r.times.cold > 0 and r.times.startup > 0
        assert cold_only or r.times.compute_median > 0
        assert r.peak_memory_bytes > 10 * 2**20 and r.cpu_seconds >= 0
        assert r.rows_out > 0 and r.checksum
        assert r.case.source == "memory" or r.times.load < 0.05  # from files, nothing is loaded
        assert r.case.sink != "parquet" or r.parquet_codec == "snappy"


@pytest.mark.dask
def test_dask_running_total_across_many_partitions(run_cases) -> None:
    """Regression: with read_parquet's repeated per-file index, Dask's threaded scheduler gave
    wrong running totals at 1e6 rows (and crashed when repartitioned)."""
    cases = [Case("transform_cumsum", "dask", "threads", "default", 10**6, chunk_rows=c) for c in (None, 10**5)]
    records, _ = run_cases(cases)
    assert [(r.status, r.reason) for r in records] == [("ok", None), ("ok", None)]


@pytest.mark.ray
def test_ray_tuned_large_data_path(run_cases, monkeypatch) -> None:
    """The tuned profile's hash-shuffle path (keyed repartition for q8 and the running total),
    which the quick suite's data sizes never reach, forced on tiny data by a worker plugin."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent / "plugins"))
    # in memory only: the path is the same from files (load picks it by size either way)
    wanted = ("groupby_q8", "transform_cumsum")
    cases = [
        c for c in _smoke("ray:local:tuned") if c.workload in wanted and c.source == "memory" and c.sink != "parquet"
    ]
    assert len(cases) == len(wanted)
    # the cold run only, verified: the path is the question, not its timing (a repeat costs 20-40 s here)
    records, runner = run_cases(cases, repeats=0, plugins=("ray_hash_shuffle",))
    assert [(r.status, r.reason) for r in records] == [("ok", None)] * len(cases)
    logs = {(runner.store.root / r.log).read_text() for r in records}
    assert all("shuffle strategy shuffle_v2" in log for log in logs)
