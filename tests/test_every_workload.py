"""Every workload on every installed engine, in this process, on 1,000 rows (with nulls, so that
the null paths run too), with each of its sinks and sources, checked against the reference: the fast check
that an implementation answers the question, before any timing. One engine session per configuration, shared by its
workloads; Spark and Ray in their tuned profile only (the default ones pay seconds of fixed
cost per shuffle: test_engines.py checks their answers through the runner), Ray from files on a
sample (test_ray_from_files.py), Dask with threads and with worker processes (its clusters are the
runner's tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from inprocess import answer_verdict, engine_session

from breakeven import data as datagen
from breakeven.cases import Case, EngineConfig, parse_engines
from breakeven.engines import Engine, engine_class
from breakeven.errors import EngineUnavailable
from breakeven.verify import compare
from breakeven.workloads import CATALOGUE, FAMILIES, SOURCES

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
    for c in parse_engines(
        ["pandas", "polars", "duckdb", "dask:threads", "dask:processes", "spark:local:tuned", "ray:local:tuned"]
    )
    if c.mode != "cluster"
]
# One session per configuration and source, as the runner's: its tables loaded, or read from files
# (Ray from files: test_ray_from_files.py).
SESSIONS = [(c, source) for c in CONFIGS for source in SOURCES if (c.engine, source) != ("ray", "files")]


def _tunes(config: EngineConfig, workload: str, source: str) -> bool:
    """Whether ``config`` answers ``workload`` from ``source`` with other code or settings than
    its default profile does (``Engine.tunes``): a tuned profile identical to the default is not
    checked twice. An engine that is not installed keeps its cases (they skip, saying so)."""
    if config.profile != "tuned":
        return True
    try:
        return engine_class(config.engine).tunes(CATALOGUE[workload.partition("-")[0]].data_kind, source)
    except EngineUnavailable:
        return True


def keep(item: pytest.Item) -> bool:
    """Whether conftest's collection keeps this case (a tuned profile identical to the default is
    not checked twice: it is deselected)."""
    params = getattr(item, "callspec", None)
    if params is None or "session" not in params.params:
        return True
    (config, source), workload = params.params["session"], params.params["workload"]
    return _tunes(config, workload, source)


# One engine start per session, its cases sharing it; each session's cases carry its engine's
# marker (``-m spark`` is every Spark test).
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            s,
            # Dask's worker processes are the slow tier's (as Spark's and Ray's servers: conftest)
            marks=[getattr(pytest.mark, s[0].engine)] + ([pytest.mark.slow] if s[0].mode == "processes" else []),
            id=f"{s[0].label}-{s[1]}",
        )
        for s in SESSIONS
    ],
)
def session(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, str]]:
    config, source = request.param
    with engine_session(config) as eng:
        yield eng, source


@pytest.mark.parametrize("workload", WORKLOADS)
def test_the_answer_is_the_reference(session: tuple[Engine, str], workload: str, data_dir: Path) -> None:
    check_answer(session, workload, data_dir)


def check_answer(session: tuple[Engine, str], workload: str, data_dir: Path) -> None:
    engine, source = session
    name, _, sink = workload.partition("-")
    wl = CATALOGUE[name]
    params = PARAMS[wl.data_kind]
    case = Case(name, engine.name, engine.mode, engine.profile, ROWS, sink=sink or None, source=source, **params)
    verdict = answer_verdict(engine, case, data_dir)
    assert verdict is None or verdict.ok, verdict.reason


@pytest.mark.parametrize("name", [n for n, wl in CATALOGUE.items() if wl.columns])
def test_a_workload_declares_the_columns_it_reads(name: str, data_dir: Path) -> None:
    """What pandas reads from files (``Workload.columns``) is what the question needs: its
    reference answers the same from those columns alone, and fails without any one of them."""
    wl = CATALOGUE[name]
    case = Case(
        name, "pandas", "single", "default", ROWS, sink=wl.sinks[0] if wl.sinks else None, **PARAMS[wl.data_kind]
    )
    if not datagen.is_generated(case.data, data_dir):
        datagen.generate(case.data, data_dir, 1)
    paths = datagen.dataset_paths(case.data, data_dir)
    full = {role: pq.read_table(paths[role]) for role in wl.tables}
    assert wl.reference is not None
    whole = wl.reference(full)

    def narrowed(role: str, drop: str | None = None) -> pa.Table:
        cols = wl.reads(role)
        return full[role] if cols is None else full[role].select([c for c in cols if c != drop])

    verdict = compare(wl.reference({role: narrowed(role) for role in wl.tables}), whole, list(wl.keys))
    assert verdict.ok, verdict.reason
    for role, cols in wl.columns.items():
        for col in cols:
            tables = {r: narrowed(r, col if r == role else None) for r in wl.tables}
            with pytest.raises((KeyError, pa.ArrowInvalid)):
                wl.reference(tables)
