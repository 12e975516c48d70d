from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from breakeven.cases import Case
from breakeven.engines import PARQUET_CODEC
from breakeven.errors import UsageError
from breakeven.files import write_json_atomic
from breakeven.results import RunMeta, RunStore, make_record
from breakeven.schema import SCHEMA_VERSION


def test_records_round_trip_with_machine_and_versions(run_cases, tmp_path) -> None:
    records, runner = run_cases([Case("groupby_q1", "pandas", "single", "default", 10_000)])
    store = runner.store
    loaded = store.records()
    assert loaded == records
    record = loaded[0]
    assert record.run_cores == store.meta().settings.cores == 2  # from run.json, not the record
    raw = json.loads((store.cases_dir / f"{record.case_id}.json").read_text())
    assert raw["schema"] == SCHEMA_VERSION and "run_cores" not in raw
    assert raw["case"] == {
        "workload": "groupby_q1",
        "engine": "pandas",
        "mode": "single",
        "profile": "default",
        "rows": 10_000,
        "k": 100,
        "nas": 0,
        "sorted": False,
        "dim_rows": None,
        "chunk_rows": None,
        "seed": 0,
        "topology": None,
        "sink": None,
        "source": "memory",
        "user_data": None,
        "data_kind": "G1",
    }
    assert raw["reference"] == "function" and raw["data_source"] is None
    assert record.question == "sum v1 by id1" and record.takes_chunks is False
    assert record.memory_method.startswith(("cgroup", "sampled")) and record.runner_cpu_seconds >= 0
    assert record.cluster is None
    assert set(raw["times"]) == {"startup", "load", "cold", "repeats", "compute_median", "end_to_end"}
    assert store.done_ids() == {record.case_id}
    assert not list(store.cases_dir.glob(".*"))  # no temporary file left by the atomic writes


def test_newest_run_and_missing_run(tmp_path) -> None:
    for run_id in ("20260101T000000Z", "20260102T000000Z"):
        RunStore.create(tmp_path, run_id, RunMeta())
    assert RunStore.open(tmp_path, None).run_id == "20260102T000000Z"
    with pytest.raises(UsageError, match="no run 'nope'"):
        RunStore.open(tmp_path, "nope")


def test_corrupt_and_future_records_are_refused(tmp_path) -> None:
    store = RunStore.create(tmp_path, "r", RunMeta())
    (store.cases_dir / "a.json").write_text("{truncated")
    with pytest.raises(UsageError, match="corrupt"):
        store.records()
    write_json_atomic(store.cases_dir / "a.json", {"schema": 99, "case_id": "a"})
    with pytest.raises(UsageError, match="schema 99"):
        store.records()
    write_json_atomic(store.cases_dir / "a.json", {"schema": SCHEMA_VERSION, "case_id": "a"})
    with pytest.raises(UsageError, match="a.json is not a whole record"):
        store.records()


def _old(schema: int, **changes: Any) -> dict[str, Any]:
    """A record as breakeven wrote it at ``schema``: 5 had no source; 4 had no sink either; 3 had no
    memory method, runner CPU, data kind, question or takes_chunks either; 2 had no cluster mode either."""
    case = Case("transform_udf", "pandas", "single", "default", 10_000, chunk_rows=1000, sink="collect")
    raw = make_record(case, "r", "ok", None, repeats=[1.0], startup=0.1, load=0.2).to_dict()
    del raw["case"]["source"]
    if schema == 5:
        return raw | {"schema": schema} | changes
    del raw["case"]["sink"]
    if schema == 4:
        return raw | {"schema": schema} | changes
    for key in ("memory_method", "runner_cpu_seconds", "question", "takes_chunks"):
        del raw[key]
    del raw["case"]["data_kind"]
    if schema == 2:
        del raw["cluster"], raw["case"]["topology"]
    return raw | {"schema": schema} | changes


def test_schema_2_3_and_4_records_load_with_what_they_lack(tmp_path) -> None:
    store = RunStore.create(tmp_path, "r", RunMeta())
    write_json_atomic(store.cases_dir / "a.json", _old(2, case_id="a"))
    write_json_atomic(store.cases_dir / "b.json", _old(3, case_id="b"))
    write_json_atomic(store.cases_dir / "c.json", _old(4, case_id="c"))
    for record in store.records():
        assert record.schema == SCHEMA_VERSION
        assert record.memory_method == ("pss-50ms" if record.case_id != "c" else record.memory_method)
        assert record.cluster is None and record.case.topology is None
        assert record.reference == "function"  # every built-in question's, before schema 7 said so
        assert record.case.data_kind == "T1" and record.takes_chunks is True
        # every answer came back to the driver before the sinks
        assert record.case.sink == "collect" and record.case.question_label == "transform_udf chunk=1e3 sink=collect"


def test_schema_5_records_were_in_memory_but_polars_streaming_read_files(tmp_path) -> None:
    store = RunStore.create(
        tmp_path, "r", RunMeta(planned=("q.polars-streaming-default.T1", "q.pandas-single-default.T1"))
    )
    write_json_atomic(store.cases_dir / "a.json", _old(5, case_id="a"))
    streaming = {"engine": "polars", "mode": "streaming", "chunk_rows": None}
    write_json_atomic(store.cases_dir / "b.json", _old(5, case_id="b") | {"case": _old(5)["case"] | streaming})
    a, b = sorted(store.records(), key=lambda r: r.case_id)
    assert a.case.source == "memory" and a.case_id == "a"
    assert a.case.question_label == "transform_udf chunk=1e3 sink=collect"
    # until the sources, Polars' streaming mode scanned the files inside the query
    assert b.case.source == "files" and b.case_id == "b.files"
    assert b.case.question_label == "transform_udf sink=collect from=files"
    raw = json.loads((store.root / "run.json").read_text())
    write_json_atomic(store.root / "run.json", raw | {"schema": 5})
    assert store.meta().planned == ("q.polars-streaming-default.T1.files", "q.pandas-single-default.T1")


def test_an_old_record_of_a_workload_no_longer_in_the_catalogue_still_loads(tmp_path) -> None:
    store = RunStore.create(tmp_path, "r", RunMeta())
    raw = _old(3, case_id="a", data="T1_1e4_1e2_0_0")
    raw["case"]["workload"] = "transform_renamed_since"
    write_json_atomic(store.cases_dir / "a.json", raw)
    (record,) = store.records()
    assert record.case.data_kind == "T1" and record.question == "transform_renamed_since"
    assert record.case.question_label == "transform_renamed_since chunk=1e3 sink=collect"


def test_schema_7_records_gain_their_codec_and_the_cores_they_used(tmp_path) -> None:
    """Before one codec, Polars wrote its Parquet sink with zstd and every other engine with snappy."""
    store = RunStore.create(tmp_path, "r", RunMeta())
    for name, engine, mode, sink in (("a", "polars", "eager", "parquet"), ("b", "pandas", "single", "parquet"),
                                     ("c", "polars", "eager", "collect")):  # fmt: skip
        case = Case("transform_udf", engine, mode, "default", 10_000, sink=sink)
        raw = make_record(case, "r", "ok", None, repeats=[1.0, 3.0], cold=2.0, cpu_seconds=9.0).to_dict()
        del raw["parquet_codec"], raw["cores_used"]
        write_json_atomic(store.cases_dir / f"{name}.json", raw | {"schema": 7, "case_id": name})
    a, b, c = sorted(store.records(), key=lambda r: r.case_id)
    assert (a.parquet_codec, b.parquet_codec, c.parquet_codec) == ("zstd", "snappy", None)
    assert a.cores_used == 1.5  # 9 CPU seconds over the cold run's 2 s and the repeats' 4 s
    new = make_record(Case("transform_udf", "polars", "eager", "default", 10_000, sink="parquet"), "r", "ok", None)
    assert new.parquet_codec == PARQUET_CODEC and new.cores_used is None  # no CPU metered


def test_the_newest_run_is_the_one_started_last_whatever_its_name(tmp_path: Path) -> None:
    """A clone may hold runs named after what they measured (``network-spark-none``), which sort
    after a user's dated run id: "the newest" (show, --resume, advise) is by start time."""
    RunStore.create(tmp_path, "network-spark-none", RunMeta(created="2026-12-01T10:00:00+00:00"))
    RunStore.create(tmp_path, "20261207T180000Z", RunMeta(created="2026-12-07T18:00:00+00:00"))
    old = RunStore.create(tmp_path, "zz-no-date", RunMeta())
    os.utime(old.root / "run.json", (0, 0))  # a run.json without its start: its file's time, 1970
    assert [s.run_id for s in RunStore.all(tmp_path)] == ["zz-no-date", "network-spark-none", "20261207T180000Z"]
    assert RunStore.open(tmp_path, None).run_id == "20261207T180000Z"
