"""Every workload on every installed engine, in this process, on 1,000 rows (with nulls, so that
the null paths run too), with each of its sinks, checked against the reference: the fast check
that an implementation answers the question, before any timing. One engine session per configuration, shared by its
workloads; Spark and Ray in their tuned profile only (the default ones pay seconds of fixed
cost per shuffle), Dask in its threaded mode (its processes and clusters are the runner's
tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inprocess import answer_verdict, engine_session

from breakeven.cases import Case, parse_engines
from breakeven.engines import Engine
from breakeven.workloads import CATALOGUE, FAMILIES

ROWS = 1_000
PARAMS = {"G1": {"nas": 5}, "T1": {"nas": 5, "chunk_rows": 250}, "D1": {"dim_rows": 100}, "J1": {}}
# Every question, and a large answer both collected and written as Parquet by the engine.
WORKLOADS = [
    f"{wl.name}-{sink}" if sink else wl.name
    for wl in CATALOGUE.values()
    if wl.family in FAMILIES
    for sink in wl.sinks or (None,)
]
CONFIGS = [
    c
    for c in parse_engines(["pandas", "polars", "duckdb", "dask:threads", "spark:local:tuned", "ray:local:tuned"])
    if c.mode != "cluster"
]


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: c.label)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with engine_session(request.param) as eng:
        yield eng


@pytest.mark.parametrize("workload", WORKLOADS)
def test_the_answer_is_the_reference(engine: Engine, workload: str, data_dir: Path) -> None:
    name, _, sink = workload.partition("-")
    wl = CATALOGUE[name]
    case = Case(name, engine.name, engine.mode, engine.profile, ROWS, sink=sink or None, **PARAMS[wl.data_kind])
    verdict = answer_verdict(engine, case, data_dir)
    assert verdict is None or verdict.ok, verdict.reason
