"""The distributed engines' settings that are not visible in an answer: Dask's tuned shuffle and
split_out rule, Spark's limit on results brought to the driver."""

from __future__ import annotations

import pytest
from inprocess import engine_session

from breakeven.cases import EngineConfig
from breakeven.workloads import Ctx
from breakeven.workloads.groupby import split_out


class _Frame:
    npartitions = 6


def test_dask_split_out_follows_the_answer_size() -> None:
    threads = Ctx({"x": _Frame()}, None, True, None, 2, {"x": 10**7})
    workers = Ctx({"x": _Frame()}, object(), True, None, 2, {"x": 10**7})
    assert split_out(threads, "few") == split_out(threads, "per_key") == {"split_out": 1}  # a tree reduction
    assert split_out(threads, "per_row") == {"split_out": 6}  # 1e9 bytes of answer: as many as partitions
    assert split_out(workers, "per_row") == {"split_out": 1}  # under 1 GiB: no shuffle between processes
    assert split_out(threads, "few", shuffle=True) == {"split_out": 2}  # the median shuffles anyway: every core
    assert split_out(Ctx({"x": _Frame()}, None, False, None, 2, {"x": 10**7}), "per_row") == {}  # default: Dask's


@pytest.mark.dask
def test_dask_tuned_threads_shuffle_in_memory() -> None:
    import dask

    with engine_session(EngineConfig("dask", "threads", "tuned")):
        assert dask.config.get("dataframe.shuffle.method") == "tasks"


@pytest.mark.spark
def test_spark_results_may_be_as_large_as_half_the_budget() -> None:
    with engine_session(EngineConfig("spark", "local", "default")) as eng:  # no budget given: 8 GiB
        assert eng.session.conf.get("spark.driver.maxResultSize") == "4096m"
