from __future__ import annotations

import json

import pytest

from breakeven.cases import Case
from breakeven.errors import UsageError
from breakeven.files import write_json_atomic
from breakeven.results import SCHEMA_VERSION, RunStore


def test_records_round_trip_with_machine_and_versions(run_cases, tmp_path) -> None:
    records, runner = run_cases([Case("groupby_q1", "pandas", "single", "default", 10_000)])
    store = runner.store
    loaded = store.records()
    assert loaded == [json.loads(json.dumps(records[0]))]
    record = loaded[0]
    assert record["schema"] == SCHEMA_VERSION
    assert record["case"] == {
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
        "data_kind": "G1",
    }
    assert record["question"] == "sum v1 by id1" and record["takes_chunks"] is False
    assert record["memory_method"].startswith(("cgroup", "sampled")) and record["runner_cpu_seconds"] >= 0
    assert record["cluster"] is None
    assert set(record["times"]) == {"startup", "load", "cold", "repeats", "compute_median", "end_to_end"}
    assert store.done_ids() == {record["case_id"]}
    assert not list(store.cases_dir.glob(".*"))  # no temporary file left by the atomic writes


def test_newest_run_and_missing_run(tmp_path) -> None:
    for run_id in ("20260101T000000Z", "20260102T000000Z"):
        RunStore.create(tmp_path, run_id, {})
    assert RunStore.open(tmp_path, None).run_id == "20260102T000000Z"
    with pytest.raises(UsageError, match="no run 'nope'"):
        RunStore.open(tmp_path, "nope")


def test_corrupt_and_future_records_are_refused(tmp_path) -> None:
    store = RunStore.create(tmp_path, "r", {})
    (store.cases_dir / "a.json").write_text("{truncated")
    with pytest.raises(UsageError, match="corrupt"):
        store.records()
    write_json_atomic(store.cases_dir / "a.json", {"schema": 99, "case_id": "a"})
    with pytest.raises(UsageError, match="schema 99"):
        store.records()


def test_schema_2_records_read_as_single_machine(tmp_path) -> None:
    store = RunStore.create(tmp_path, "r", {})
    write_json_atomic(store.cases_dir / "a.json", {"schema": 2, "case_id": "a", "case": {"engine": "pandas"}})
    (record,) = store.records()
    assert record["schema"] == SCHEMA_VERSION
    assert record["cluster"] is None and record["case"]["topology"] is None
