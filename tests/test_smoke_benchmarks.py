"""Smoke benchmarks (pytest-benchmark): the compute phase of three headline workloads at 1e4 rows
on every installed engine's single-machine configurations, for quick local comparisons.

    python -m pytest tests/test_smoke_benchmarks.py --benchmark-only --benchmark-autosave
    python -m pytest tests/test_smoke_benchmarks.py --benchmark-only --benchmark-compare

pytest-benchmark times a call in this process, so here the engine runs in the pytest process
(the same Engine protocol and workload code as the runner's worker, without its isolation,
timeouts or process-tree memory); sizes are tiny and figures are for comparing two versions of
the code on one machine, not for breakeven verdicts: those come from ``breakeven run`` and asv.
Every answer is checked against the reference. A plain ``python -m pytest`` runs these too,
so that no benchmark rots (``--benchmark-disable`` there runs each once, untimed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from inprocess import engine_session

from breakeven import data as datagen
from breakeven import reference
from breakeven.cases import Case, parse_engines
from breakeven.engines import Engine
from breakeven.verify import compare

pytestmark = pytest.mark.slow  # Spark and Ray jobs, twenty rounds a case

ROWS = 10**4
SCENARIOS = {  # workload -> case parameters beyond rows
    "groupby_q1": {},
    "join_dim_inner": {"dim_rows": 10**2},
    "transform_udf": {"chunk_rows": 2_000},
}
# The single-machine modes; Spark and Ray only in their tuned profile, since their default ones
# pay seconds of fixed cost per shuffle even on 1e4 rows (docs/workloads.md: suites).
CONFIGS = [
    c
    for c in parse_engines(["pandas", "polars", "duckdb", "dask:threads", "spark:local:tuned", "ray:local:tuned"])
    if c.mode != "cluster"
]
SLOW_ENGINES = {"spark", "ray"}  # a few rounds only: each one starts Spark or Ray jobs


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: c.label)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """One engine session for all scenarios of a configuration, closed (processes and all) after."""
    with engine_session(request.param) as eng:
        yield eng


@pytest.mark.parametrize("workload", list(SCENARIOS))
def test_compute(benchmark: Any, engine: Engine, workload: str, data_dir: Path) -> None:
    case = Case(workload, engine.name, engine.mode, engine.profile, ROWS, **SCENARIOS[workload])
    wl = case.wl
    chunk = case.chunk_rows if wl.uses_chunks(engine.name) else None
    if not datagen.is_generated(case.data, data_dir):
        datagen.generate(case.data, data_dir)
    assert reference.ensure(case.data, [workload], data_dir) == {}
    paths = datagen.dataset_paths(case.data, data_dir)
    rows = case.data.table_rows()
    tables = {role: engine.load(role, paths[role], rows[role], chunk) for role in wl.tables}
    ctx = engine.context(tables, {role: rows[role] for role in wl.tables}, chunk)

    def compute() -> Any:
        return engine.materialise(engine.build(wl, ctx))

    rounds = 3 if engine.name in SLOW_ENGINES else 20
    benchmark.extra_info.update(engine=f"{engine.name}:{engine.mode}:{engine.profile}", rows=ROWS, chunk_rows=chunk)
    answer = benchmark.pedantic(compute, rounds=rounds, warmup_rounds=1)
    expected = pq.read_table(reference.reference_path(case.data, workload, data_dir))
    verdict = compare(engine.to_arrow(answer), expected, list(wl.keys))
    assert verdict.ok, verdict.reason
