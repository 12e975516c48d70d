"""Every engine configuration x every workload, through the real runner, against the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakeven.cases import Case, get_suite, parse_engines
from breakeven.engines import engine_class, registry
from breakeven.workloads import CATALOGUE

CONFIGS = [cfg for name in registry() for cfg in parse_engines([name])]
# Read from files through the runner too (every workload from files: test_every_workload.py)
FROM_FILES = {"groupby_q1", "join_small_inner", "transform_cumsum"}


# Spark and Ray pay seconds a case even on 1e4 rows (a session per data set; Ray's default
# profile a 200-partition hash shuffle per question), so through the runner they run less of
# what is checked elsewhere:
# - their tuned profiles, whose every question, sink and source test_every_workload.py checks in
#   the test process, run q1, in memory and from files;
# - their default profiles, which differ from the tuned ones in settings and in the questions'
#   default code, run every question in memory, with one sink (the other writes the same answer);
# - but Ray's default profile, whose every shuffle starts a pool of 200 hash-shuffle aggregators
#   (8 to 50 s a case here on 1e4 rows), runs each of its code paths once: q1 for the aggregates
#   (q2 to q7 differ from it only in their aggregate functions, which the tuned profile runs), q8
#   and q9, whose default code is its own (a function per group), q10 (a group per row: the largest
#   shuffle), Dataset.join once per kind of merge (inner, left, on a dimension), every transform.
SECONDS_A_CASE = {"spark", "ray"}
RAY_DEFAULT_PATHS = {
    "groupby_q1", "groupby_q8", "groupby_q9", "groupby_q10",
    "join_small_inner", "join_medium_left_agg", "join_dim_inner_agg",
    "transform_arith", "transform_string", "transform_udf", "transform_cumsum",
}  # fmt: skip


def _smoke(cfg_label: str) -> list[Case]:
    cases = get_suite("smoke").cases(parse_engines([cfg_label]))
    cases = [c for c in cases if c.source == "memory" or c.workload in FROM_FILES]
    # nulls everywhere they are allowed: the semantics of null keys and values are checked too
    return [Case(**(c.to_dict() | ({"nas": 5} if c.data.kind in ("G1", "T1") else {}))) for c in cases]


def _through_the_runner(cfg_label: str) -> list[Case]:
    cases = _smoke(cfg_label)
    if cfg_label.split(":")[0] not in SECONDS_A_CASE:
        return cases
    if cfg_label.endswith(":tuned"):
        return [c for c in cases if c.workload == "groupby_q1"]
    cases = [c for c in cases if c.source == "memory" and c.sink in (None, "collect")]
    if cfg_label == "ray:local:default":
        return [c for c in cases if c.workload in RAY_DEFAULT_PATHS]
    return cases


@pytest.mark.parametrize(
    "label", [pytest.param(c.label, marks=getattr(pytest.mark, c.engine), id=c.label) for c in CONFIGS]
)
def test_every_workload_matches_the_reference(label: str, run_cases) -> None:
    cls = engine_class(label.split(":")[0])  # an engine that is not installed fails here, loudly
    cases = _through_the_runner(label)
    covered = {c.workload for c in cases if c.source == "memory"}
    tuned = label.endswith(":tuned")  # a tuned profile runs the data it changes (Engine.tuned_kinds)
    wanted = {n for n, w in CATALOGUE.items() if not n.startswith("fault_") and (not tuned or cls.tunes(w.data_kind))}
    sampled = cls.name in SECONDS_A_CASE
    if label == "ray:local:default":
        assert not RAY_DEFAULT_PATHS - wanted, RAY_DEFAULT_PATHS - wanted  # every name is a workload's
        wanted = RAY_DEFAULT_PATHS
    assert covered == ({"groupby_q1"} & wanted if tuned and sampled else wanted)
    # Ray Data's default profile costs seconds per shuffle even on tiny data: its cases run once
    # (the cold run, verified); every other configuration also has a timed repeat, verified too.
    cold_only = label == "ray:local:default"
    records, _ = run_cases(cases, repeats=0 if cold_only else 1)
    bad = [(r.case_id, r.status, r.reason) for r in records if r.status != "ok"]
    assert not bad
    for r in records:
        assert r.times.cold > 0 and r.times.startup > 0
        assert cold_only or r.times.compute_median > 0
        assert r.peak_memory_bytes > 10 * 2**20 and r.cpu_seconds >= 0
        assert r.rows_out > 0 and r.checksum
        assert r.case.source == "memory" or r.times.load < 0.05  # from files, nothing is loaded
    if sampled and not tuned:
        from_files = False
    else:
        from_files = not tuned or any(cls.tunes(CATALOGUE[w].data_kind, "files") for w in covered & FROM_FILES)
    assert {r.case.source for r in records} == ({"memory", "files"} if from_files else {"memory"})


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
