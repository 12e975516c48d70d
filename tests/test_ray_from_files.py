"""Ray Data from files, in the test process, on a sample of the questions: it costs seconds a
question even on 1,000 rows (its streaming executor and tasks), and its reads stream into the
same operators as in memory, where test_every_workload.py runs every question. One question of
each data set and a merge of each kind, with each sink, in a Ray session of its own (a module of
its own, so that it never shares the process with that module's Ray session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inprocess import engine_session
from test_every_workload import WORKLOADS, check_answer

from breakeven.cases import parse_engines
from breakeven.engines import Engine
from breakeven.workloads import CATALOGUE

RAY_FROM_FILES = ["groupby_q1", "join_small_inner", "join_big_left_agg", "join_dim_inner_agg", "transform_cumsum"]
assert not set(RAY_FROM_FILES) - set(CATALOGUE), set(RAY_FROM_FILES) - set(CATALOGUE)

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[Engine, str]]:
    (config,) = parse_engines(["ray:local:tuned"])
    with engine_session(config) as eng:
        yield eng, "files"


@pytest.mark.parametrize("workload", [w for w in WORKLOADS if w.partition("-")[0] in RAY_FROM_FILES])
def test_the_answer_is_the_reference(session: tuple[Engine, str], workload: str, data_dir: Path) -> None:
    check_answer(session, workload, data_dir)
