"""Every workload on every installed engine, in this process, on 1,000 rows (with nulls, so that
the null paths run too), checked against the reference: the fast check that an implementation
answers the question, before any timing. One engine session per configuration, shared by its
workloads; Spark and Ray in their tuned profile only (the default ones pay seconds of fixed
cost per shuffle), Dask in its threaded mode (its processes and clusters are the runner's
tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from inprocess import engine_session

from breakeven import data as datagen
from breakeven import reference
from breakeven.cases import Case, parse_engines
from breakeven.engines import Engine
from breakeven.errors import Unsupported
from breakeven.verify import compare
from breakeven.workloads import CATALOGUE, FAMILIES

ROWS = 1_000
PARAMS = {"G1": {"nas": 5}, "T1": {"nas": 5, "chunk_rows": 250}, "D1": {"dim_rows": 100}, "J1": {}}
WORKLOADS = [wl.name for wl in CATALOGUE.values() if wl.family in FAMILIES]
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
    wl = CATALOGUE[workload]
    case = Case(workload, engine.name, engine.mode, engine.profile, ROWS, **PARAMS[wl.data_kind])
    chunk = case.chunk_rows if wl.uses_chunks(engine.name) else None
    if not datagen.is_generated(case.data, data_dir):
        datagen.generate(case.data, data_dir, 1)
    target = reference.reference_path(case.data, workload, data_dir)
    if not target.exists():
        reference.compute(case.data, [workload], data_dir)
    paths, rows = datagen.dataset_paths(case.data, data_dir), case.data.table_rows()
    tables = {role: engine.load(role, paths[role], rows[role], chunk) for role in wl.tables}
    ctx = engine.context(tables, {role: rows[role] for role in wl.tables}, chunk)
    try:
        answer = engine.materialise(engine.build(wl, ctx))
    except Unsupported as exc:
        assert engine.name in wl.unsupported, f"undeclared gap: {exc}"
        return
    verdict = compare(engine.to_arrow(answer), pq.read_table(target), list(wl.keys))
    assert verdict.ok, verdict.reason
