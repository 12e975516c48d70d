"""References of data larger than memory (the 1e9-row slice): made a batch of x at a time, they
equal the reference made whole; a row-wise question's digest equals the digest of its whole
answer, and tells a dropped row or a wrong value; a question that can be neither is refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breakeven import data as datagen
from breakeven import reference
from breakeven.data import DataSpec
from breakeven.verify import DigestBuilder, compare, compare_digests
from breakeven.workloads import CATALOGUE, get_workload

BATCHED = sorted(n for n, wl in CATALOGUE.items() if wl.merge is not None)
ROWWISE = sorted(n for n, wl in CATALOGUE.items() if wl.rowwise)


def _spec(kind: str) -> DataSpec:
    """1e5 rows: eight files of x, so eight batches."""
    return DataSpec(kind, 10**5, nas=5 if kind in ("G1", "T1") else 0, dim_rows=10**3 if kind == "D1" else 0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batches")
    for kind in ("G1", "J1", "D1", "T1"):
        datagen.generate(_spec(kind), folder, 1)
    return folder


def _tables(wl_name: str, data_dir: Path) -> tuple[dict[str, Path], dict[str, pa.Table]]:
    wl = get_workload(wl_name)
    paths = datagen.dataset_paths(_spec(wl.data_kind), data_dir)
    return paths, {role: pq.read_table(paths[role], columns=wl.reads(role)) for role in wl.tables}


@pytest.mark.parametrize("kind", ["G1", "J1", "D1", "T1"])
def test_the_size_of_a_row_in_memory_is_that_of_the_data_read_from_its_files(kind: str, data_dir: Path) -> None:
    """What decides between a reference made whole or in batches (and converts advise --bytes)."""
    x = pq.read_table(datagen.dataset_paths(_spec(kind), data_dir)["x"])
    assert datagen.arrow_bytes_per_row(kind) == pytest.approx(x.nbytes / x.num_rows, rel=0.1)


def test_the_slice_of_1e9_rows_has_a_reference_at_any_size() -> None:
    assert {"groupby_q1", "groupby_q3", "join_dim_inner_agg", "join_small_inner_agg"} <= set(BATCHED)
    assert "transform_udf" in ROWWISE and "transform_cumsum" not in ROWWISE + BATCHED  # a running total


@pytest.mark.parametrize("name", BATCHED)
def test_a_reference_made_in_batches_is_the_reference(name: str, data_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(reference, "MERGE_ROWS", 1_000)  # merge partial answers along the way too
    wl = get_workload(name)
    paths, whole = _tables(name, data_dir)
    assert len(list(reference.batches(wl, paths))) == 8
    verdict = compare(reference.batched_answer(wl, paths), wl.reference(whole), list(wl.keys))
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("name", ROWWISE)
def test_a_rowwise_digest_made_in_batches_is_the_digest_of_the_answer(name: str, data_dir: Path) -> None:
    wl = get_workload(name)
    paths, whole = _tables(name, data_dir)
    builder = DigestBuilder()
    builder.add(wl.reference(whole))
    verdict = compare_digests(reference.batched_digest(wl, paths), builder.digest())
    assert verdict.ok, verdict.reason


def test_a_digest_tells_a_dropped_row_and_a_wrong_value() -> None:
    answer = pa.table(
        {"rid": pa.array(range(1000)), "score": pa.array([i / 7 for i in range(1000)]), "s": ["ab"] * 1000}
    )

    def digest(t: pa.Table):
        builder = DigestBuilder()
        for batch in t.to_batches(max_chunksize=300):
            builder.add(batch)
        return builder.digest()

    expected = digest(answer)
    shuffled = answer.take(pa.array(list(range(999, -1, -1))))
    assert compare_digests(digest(shuffled), expected).ok  # the order does not matter
    assert compare_digests(digest(answer.slice(1)), expected).reason == "999 rows, reference has 1000"
    wrong = answer.set_column(1, "score", pa.array([i / 7 for i in range(999)] + [5.0]))
    assert "column score: sum" in (compare_digests(digest(wrong), expected).reason or "")
    nan = answer.set_column(1, "score", pa.array([math.nan] + [i / 7 for i in range(1, 1000)]))
    null = answer.set_column(1, "score", pa.array([None] + [i / 7 for i in range(1, 1000)]))
    assert compare_digests(digest(nan), digest(null)).ok  # NaN is missing, as verify says


def test_compute_takes_batches_where_the_data_does_not_fit(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("BREAKEVEN_REFERENCE_MEMORY", "1000")  # a machine of 1 kB: everything is large
    g1, t1 = _spec("G1"), _spec("T1")
    reference.compute(g1, ["groupby_q3"], data_dir)
    assert reference.found(g1, "groupby_q3", data_dir) == reference.reference_path(g1, "groupby_q3", data_dir)
    reference.compute(t1, ["transform_udf"], data_dir)
    digest = reference.found(t1, "transform_udf", data_dir)
    assert digest == reference.digest_path(t1, "transform_udf", data_dir)
    assert json.loads(digest.read_text())["rows"] == 10**5
    with pytest.raises(SystemExit, match="transform_cumsum at 100,000 rows: its tables are 0 GB in memory, and it"):
        reference.compute(t1, ["transform_cumsum"], data_dir)


@pytest.mark.parametrize("suite", ["large", "outofcore"])
def test_every_question_of_the_big_suites_has_a_reference_at_its_size(suite: str, monkeypatch) -> None:
    """On this project's machines (24 GiB): whole where it fits, else in batches or by digest."""
    from breakeven.cases import SUITES, parse_engines

    monkeypatch.setenv("BREAKEVEN_REFERENCE_MEMORY", str(24 * 2**30))
    for case in SUITES[suite].cases(parse_engines(["pandas"])):
        wl = case.wl
        assert not reference.in_batches(case.data, wl) or wl.merge or wl.rowwise, case.id
