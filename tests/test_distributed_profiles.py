"""The distributed engines' settings that are not visible in an answer: Dask's tuned shuffle
method and split_out rule, Spark's limit on results brought to the driver; Ray's tuned
per-block answers, right whatever the block size, and its tuned joins on a node of one CPU;
Spark and Ray reading a chunked transform's files without moving rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from inprocess import answer_verdict, engine_session

from breakeven import data as datagen
from breakeven.cases import Case, EngineConfig
from breakeven.engines import memory_estimate
from breakeven.worker import Tables, produce
from breakeven.workloads import Ctx, get_workload
from breakeven.workloads.groupby import split_out


class _Frame:
    npartitions = 6


@pytest.mark.dask
def test_dask_split_out_follows_the_answer_size() -> None:
    import dask

    threads = Ctx({"x": _Frame()}, None, True, None, 2, {"x": 10**7})
    workers = Ctx({"x": _Frame()}, object(), True, None, 2, {"x": 10**7})
    assert split_out(threads, "few") == split_out(threads, "per_key") == {"split_out": 1}  # a tree reduction
    assert split_out(threads, "per_row") == {"split_out": 6}  # 1e9 bytes of answer: as many as partitions
    assert split_out(workers, "per_row") == {"split_out": 1}  # under 1 GiB: no shuffle between processes
    assert split_out(threads, "few", shuffle=True) == {"split_out": 2}  # the median shuffles anyway: every core
    with dask.config.set({"dataframe.shuffle.method": "disk"}):  # threads, a table larger than memory
        assert split_out(threads, "per_row") == {"split_out": 1}  # under 1 GiB: no shuffle through files
    assert split_out(Ctx({"x": _Frame()}, None, False, None, 2, {"x": 10**7}), "per_row") == {}  # default: Dask's


@pytest.mark.dask
def test_dask_tuned_threads_shuffles_in_memory_what_fits(tmp_path: Path) -> None:
    import dask

    folder = tmp_path / "x"
    folder.mkdir()
    pq.write_table(pa.table({"id1": list(range(1000))}), folder / "part-0.parquet")
    size = memory_estimate(folder)
    # from files: in memory (tasks) within half the session's memory, else on disk; loaded: in memory
    config = EngineConfig("dask", "threads", "tuned")
    for budget, from_files in ((2 * size, "tasks"), (2 * size - 2, "disk")):
        # the shuffle method is put back as it was for the tests after this one
        with dask.config.set({"dataframe.shuffle.method": None}), engine_session(config, memory_budget=budget) as eng:
            eng.scan("x", folder, 1000, None, ["id1"])
            assert dask.config.get("dataframe.shuffle.method") == from_files
            eng.load("x", folder, 1000, None)
            assert dask.config.get("dataframe.shuffle.method") == "tasks"


@pytest.mark.spark
def test_spark_results_may_be_as_large_as_half_the_budget() -> None:
    with engine_session(EngineConfig("spark", "local", "default")) as eng:  # no budget given: 8 GiB
        assert eng.session.conf.get("spark.driver.maxResultSize") == "4096m"


@pytest.mark.ray
@pytest.mark.parametrize("workload", ["groupby_q8", "transform_cumsum"])
def test_ray_tuned_keyed_questions_are_right_whatever_the_block_size(
    workload: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tuned q8 and the running total hash-partition by key and then work per block: right only
    if a partition stays one block. Ray keeps it one (its keyed repartition never splits a
    block), and this holds it to that with blocks forced far below a partition's size."""
    import ray.data

    from breakeven.engines import ray_engine

    monkeypatch.setattr(ray_engine, "SORT_SHUFFLE_BELOW_BYTES", 0)  # the hash shuffle at any size
    chunks = {"chunk_rows": 5_000} if get_workload(workload).data_kind == "T1" else {}
    case = Case(workload, "ray", "local", "tuned", 20_000, nas=5, **chunks)
    with engine_session(EngineConfig("ray", "local", "tuned")) as eng:
        # 16 KiB blocks, for this test only: the context outlives the session in this process
        monkeypatch.setattr(ray.data.DataContext.get_current(), "target_max_block_size", 16 * 2**10)
        verdict = answer_verdict(eng, case, data_dir)
        assert eng.session.hash_shuffle and eng.session.partitions == 4
        x = eng.load("x", datagen.dataset_paths(case.data, data_dir)["x"], 20_000, None)
        assert x.num_blocks() > 4 * eng.session.partitions  # blocks far smaller than a partition
    assert verdict is not None and verdict.ok, verdict.reason


@pytest.mark.ray
@pytest.mark.timeout(180)
@pytest.mark.parametrize(("cores", "actor_join"), [(1, False), (2, True)])
def test_ray_tuned_join_runs_on_nodes_of_one_cpu(cores: int, actor_join: bool, data_dir: Path) -> None:
    """Ray's actor-based join cannot start its map tasks on a node of one CPU (its aggregators
    hold part of it): the tuned profile joins with the task-based shuffle there, and only there."""
    case = Case("join_big_inner_agg", "ray", "local", "tuned", 2_000, nas=5)
    with engine_session(EngineConfig("ray", "local", "tuned"), cores=cores) as eng:
        assert eng.session.actor_join is actor_join
        verdict = answer_verdict(eng, case, data_dir)
    assert verdict is not None and verdict.ok, verdict.reason


@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("profile", ["default", "tuned"])  # tuned repartitions what it loaded
@pytest.mark.parametrize("workload", ["groupby_q8", "groupby_q1"])
def test_dask_between_runs_the_cluster_holds_only_the_loaded_tables(
    workload: str, profile: str, data_dir: Path
) -> None:
    """A run's result keys are released asynchronously: the worker waits (settle, untimed) until
    the scheduler has forgotten them, so that the next run recomputes rather than reuses them."""
    case = Case(workload, "dask", "processes", profile, 20_000)
    wl = get_workload(workload)
    config = EngineConfig("dask", "processes", profile)
    with engine_session(config) as eng:  # the data and its reference
        verdict = answer_verdict(eng, case, data_dir)
        assert verdict is not None and verdict.ok, verdict.reason
    with engine_session(config) as eng:
        paths, rows = datagen.dataset_paths(case.data, data_dir), case.data.table_rows()
        tables = Tables("memory", {r: paths[r] for r in wl.tables}, {r: rows[r] for r in wl.tables})
        tables.load(eng, None)
        assert eng.held  # the persisted partitions' keys
        for _ in range(3):
            answer = produce(eng, wl, tables.context(eng, wl, None), None, data_dir / "unused")
            assert len(answer) > 0
            del answer
            eng.settle()
            assert eng.leftover() == 0  # nothing of the run is left to reuse


ROWWISE_TRANSFORMS = ["transform_udf", "transform_arith", "transform_string"]


def _chunked_from_files(eng: Any, data_dir: Path, workload: str) -> tuple[Any, Any]:
    """A row-wise transform of 20,000 rows in chunks of 5,000, read from its files as a timed
    run reads them; and the table loaded as a run from memory holds it."""
    case = Case(workload, eng.name, "local", "default", 20_000, chunk_rows=5_000, source="files")
    if not datagen.is_generated(case.data, data_dir):
        datagen.generate(case.data, data_dir, 1)
    path = datagen.dataset_paths(case.data, data_dir)["x"]
    x = eng.scan("x", path, 20_000, 5_000, get_workload(workload).reads("x"))
    return eng.build(get_workload(workload), eng.context({"x": x}, {"x": 20_000}, 5_000)), eng.load(
        "x", path, 20_000, 5_000
    )


@pytest.mark.spark
def test_spark_reads_chunked_transforms_from_files_without_a_shuffle(data_dir: Path) -> None:
    """From files, a row-wise transform maps the files' own splits: no Exchange (a round-robin
    repartition to the chunk count would move every row inside the timed part). Loaded, the
    cached table is in partitions of the chunk size."""
    with engine_session(EngineConfig("spark", "local", "default")) as eng:
        for workload in ROWWISE_TRANSFORMS:
            answer, loaded = _chunked_from_files(eng, data_dir, workload)
            plan = answer._jdf.queryExecution().executedPlan().toString()
            assert "FileScan parquet" in plan and "Exchange" not in plan, plan
            assert loaded.rdd.getNumPartitions() == 4


@pytest.mark.ray
def test_ray_streams_chunked_transforms_from_files(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """From files, a row-wise transform streams the reader's blocks: no Repartition, an
    all-to-all operator that waits for the whole read. Loaded, the table is in blocks of the
    chunk size."""
    with engine_session(EngineConfig("ray", "local", "default")) as eng:
        for workload in ROWWISE_TRANSFORMS:
            answer, loaded = _chunked_from_files(eng, data_dir, workload)
            capsys.readouterr()
            answer.explain()
            plan = capsys.readouterr().out
            assert "Parquet" in plan and "Repartition" not in plan, plan
            assert loaded.num_blocks() == 4


@pytest.mark.spark
def test_spark_settings_of_a_question_do_not_reach_the_next() -> None:
    """A part's Arrow batches are its chunk size, for every case; before each run (settle) the
    settings are put back as they were once the tables were loaded, and before the next part
    (begin) as they were when the session started."""
    with engine_session(EngineConfig("spark", "local", "default"), chunk_rows=250) as eng:
        conf = eng.session.conf
        assert conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "250"
        conf.set("spark.sql.shuffle.partitions", "7")  # as the tuned profile sets it, loading x
        eng.settle()  # before the first run
        conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "5")  # what a question might set
        conf.set("spark.sql.adaptive.enabled", "false")
        conf.unset("spark.sql.shuffle.partitions")
        eng.settle()
        assert conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "250"
        assert conf.get("spark.sql.shuffle.partitions") == "7"
        assert conf.get("spark.sql.adaptive.enabled") == "true"  # Spark's default again
        # The session's next part (another data set, no chunks): as the session started, what
        # the last part's load set gone, and its settle's settings those of the new part's load.
        eng.begin(None)
        assert conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "10000"  # Spark's default
        assert conf.get("spark.sql.shuffle.partitions") == "200"
        conf.set("spark.sql.shuffle.partitions", "3")
        eng.settle()
        conf.set("spark.sql.shuffle.partitions", "4")
        eng.settle()
        assert conf.get("spark.sql.shuffle.partitions") == "3"


@pytest.mark.ray
def test_ray_runs_start_with_every_cpu_free(data_dir: Path) -> None:
    """Right after a run of the hash shuffle, a task or actor of it still holds a CPU; settle
    waits until none does, so that the next run does not share the cores with the last."""
    from breakeven.engines.ray_engine import _busy_cpus

    case = Case("groupby_q1", "ray", "local", "default", 20_000)
    wl = get_workload("groupby_q1")
    with engine_session(EngineConfig("ray", "local", "default")) as eng:
        verdict = answer_verdict(eng, case, data_dir)  # the data, its reference, and a first run
        assert verdict is not None and verdict.ok, verdict.reason
        paths, rows = datagen.dataset_paths(case.data, data_dir), case.data.table_rows()
        tables = Tables("memory", {r: paths[r] for r in wl.tables}, {r: rows[r] for r in wl.tables})
        tables.load(eng, None)
        busy = []
        for _ in range(3):
            produce(eng, wl, tables.context(eng, wl, None), None, data_dir / "unused")
            busy.append(_busy_cpus())
            eng.settle()
            assert _busy_cpus() == 0
        assert max(busy) > 0, busy  # there was something to wait for


@pytest.mark.dask
def test_dask_tuned_loads_one_copy_with_keys_of_few_values_as_category(data_dir: Path, monkeypatch) -> None:
    """id1 (100 values) as category, id3 (a value per 100 rows) a string; partitions sized before
    the one persist, not a persisted table repartitioned and persisted again."""
    case = Case("groupby_q1", "dask", "threads", "tuned", 100_000)
    if not datagen.is_generated(case.data, data_dir):
        datagen.generate(case.data, data_dir, 1)
    path = datagen.dataset_paths(case.data, data_dir)["x"]
    for profile in ("tuned", "default"):
        with engine_session(EngineConfig("dask", "threads", profile)) as eng:
            persisted: list[Any] = []
            monkeypatch.setattr(eng, "_persist", _counted(eng._persist, persisted))
            x = eng.load("x", path, 100_000, None)
            dtypes = {k: str(x.dtypes[k]) for k in ("id1", "id2", "id3")}
            assert len(persisted) == 1
            if profile == "tuned":
                assert x.npartitions == 2 != len(list(path.glob("*.parquet")))  # one per core
                assert dtypes == {"id1": "category", "id2": "category", "id3": "string"}, dtypes
            else:
                assert "category" not in dtypes.values(), dtypes


def _counted(persist: Any, calls: list[Any]) -> Any:
    def counted(frame: Any) -> Any:
        calls.append(frame)
        return persist(frame)

    return counted


@pytest.mark.ray
def test_ray_in_this_process_listens_on_loopback_only(no_orphans: Any) -> None:
    """The GCS, the raylet and every worker of an in-process Ray listen on 127.0.0.1 alone, and
    Ray imported before its environment was set is refused rather than bound to every
    interface (it reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, at import)."""
    import psutil
    from ray._private import ray_constants
    from test_cluster import outward_listeners

    with engine_session(EngineConfig("ray", "local", "default")) as eng:
        assert eng.session is not None
        ray_procs = psutil.Process().children(recursive=True)
        assert ray_procs and not outward_listeners(ray_procs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)  # as if imported with Ray's default
        with (
            pytest.raises(RuntimeError, match="would bind beyond 127.0.0.1"),
            engine_session(EngineConfig("ray", "local", "default")),
        ):
            pass
