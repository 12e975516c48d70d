"""References of data larger than memory (the 1e8 and 1e9-row slices): made a batch or a part of
x at a time, they equal the reference made whole; a digest made so equals the digest of the whole
answer, and tells a dropped row or a wrong value; a question that can be made none of these ways
is refused."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breakeven import data as datagen
from breakeven import reference
from breakeven.data import DataSpec
from breakeven.verify import Digest, DigestBuilder, compare, compare_digests
from breakeven.workloads import CATALOGUE, FAMILIES, get_workload

# The catalogue's questions (the fault workloads of breakeven.testing, registered by the test
# modules that import it, copy q1's ways and one of them kills its reference's process).
QUESTIONS = {n: wl for n, wl in CATALOGUE.items() if wl.family in FAMILIES}
BATCHED = sorted(n for n, wl in QUESTIONS.items() if wl.merge is not None)
ROWWISE = sorted(n for n, wl in QUESTIONS.items() if wl.rowwise)
BY_PARTS = sorted(n for n, wl in QUESTIONS.items() if wl.parts_by)


def _spec(kind: str) -> DataSpec:
    """1e5 rows: eight files of x."""
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
    pieces = list(reference.batches(wl, paths, 3))
    assert len(pieces) == 3 and sum(p["x"].num_rows for p in pieces) == whole["x"].num_rows
    verdict = compare(reference.batched_answer(wl, paths, 3), wl.reference(whole), list(wl.keys))
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("name", ROWWISE)
def test_a_rowwise_digest_made_in_batches_is_the_digest_of_the_answer(name: str, data_dir: Path) -> None:
    wl = get_workload(name)
    paths, whole = _tables(name, data_dir)
    builder = DigestBuilder()
    builder.add(wl.reference(whole))
    verdict = compare_digests(reference.digest_of(wl, reference.batches(wl, paths, 3)), builder.digest())
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("name", BY_PARTS)
def test_a_reference_made_a_part_at_a_time_is_the_reference(name: str, data_dir: Path) -> None:
    """Every group-by and the running total: x split by a key's values (nulls among them)."""
    wl = get_workload(name)
    paths, whole = _tables(name, data_dir)
    pieces = list(reference.parts(wl, paths, 3))
    assert len(pieces) == 3 and sum(p["x"].num_rows for p in pieces) == whole["x"].num_rows
    verdict = compare(pa.concat_tables([wl.reference(p) for p in pieces]), wl.reference(whole), list(wl.keys))
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


def test_compute_takes_batches_or_parts_where_the_data_does_not_fit(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("BREAKEVEN_REFERENCE_MEMORY", "1000")  # a machine of 1 kB: everything is large
    g1, t1 = _spec("G1"), _spec("T1")
    for name in ("groupby_q3", "groupby_q6"):  # merged from batches; by parts
        reference.compute(g1, [name], data_dir)
        assert reference.found(g1, name, data_dir) == reference.reference_path(g1, name, data_dir)
        _, whole = _tables(name, data_dir)
        made = pq.read_table(reference.found(g1, name, data_dir))
        assert compare(made, get_workload(name).reference(whole), list(get_workload(name).keys)).ok
    for name in ("transform_udf", "transform_cumsum", "groupby_q10"):  # a row per row of x: digests
        spec = g1 if name.startswith("groupby") else t1
        reference.compute(spec, [name], data_dir)
        digest = reference.found(spec, name, data_dir)
        assert digest == reference.digest_path(spec, name, data_dir)
        builder = DigestBuilder()
        builder.add(get_workload(name).reference(_tables(name, data_dir)[1]))
        assert compare_digests(Digest.from_dict(json.loads(digest.read_text())), builder.digest()).ok, name
    bare = replace(get_workload("transform_cumsum"), name="cumsum_bare", parts_by=None)
    monkeypatch.setitem(CATALOGUE, "cumsum_bare", bare)
    with pytest.raises(SystemExit, match="cumsum_bare at 100,000 rows: its tables are 0 GB in memory, and it"):
        reference.compute(t1, ["cumsum_bare"], data_dir)


def test_an_answer_of_a_row_per_row_is_a_digest_from_digest_rows(data_dir: Path, monkeypatch) -> None:
    """At 1e8 rows q10's answer has about 1e8 rows: kept whole, the worker would compare two of
    them beside the engine's tables. Below DIGEST_ROWS, and for a small answer, it stays whole."""
    g1 = _spec("G1")
    assert not reference.by_digest(g1, get_workload("groupby_q10"))
    monkeypatch.setattr(reference, "DIGEST_ROWS", 10**5)
    assert reference.by_digest(g1, get_workload("groupby_q10"))
    assert not reference.by_digest(g1, get_workload("groupby_q6"))  # 10,000 groups at any size
    reference.compute(g1, ["groupby_q10"], data_dir)
    assert reference.found(g1, "groupby_q10", data_dir) == reference.digest_path(g1, "groupby_q10", data_dir)


@pytest.mark.parametrize("suite", ["large", "outofcore"])
def test_every_question_of_the_big_suites_has_a_reference_at_its_size(suite: str, monkeypatch) -> None:
    """On this project's machines (24 GiB): whole where it fits, else in batches or by digest."""
    from breakeven.cases import SUITES, parse_engines

    monkeypatch.setenv("BREAKEVEN_REFERENCE_MEMORY", str(24 * 2**30))
    for case in SUITES[suite].cases(parse_engines(["pandas"])):
        wl = case.wl
        assert not reference.in_batches(case.data, wl) or wl.merge or wl.rowwise or wl.parts_by, case.id
        # an answer of a row per row is kept as a digest at these sizes, any other answer whole
        assert reference.by_digest(case.data, wl) == wl.answer_per_row, case.id


DIGEST_TEST_ROWS = 50_000_000  # where answers are checked by digest (reference.DIGEST_ROWS)
BATCH_ROWS = 5_000_000


def _digest(table: pa.Table, exact: list[str] | None = None, builder: DigestBuilder | None = None) -> Digest:
    """``table``'s digest, a batch at a time; added to a copy of ``builder``'s if given."""
    builder = copy.deepcopy(builder) if builder is not None else DigestBuilder(exact)
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        builder.add(batch)
    return builder.digest()


def test_a_digest_of_5e7_rows_compares_integers_exactly_and_whole_rows() -> None:
    """Each wrong answer below passed the digests of version 1 (float64 sums within RTOL). The
    answer: a unique key, an integer sum, a float and a label; the faults are in its first
    batch, so the other nine are digested once and each variant adds its own first batch (a
    digest is a sum over batches: the order of rows does not matter)."""
    rng = np.random.default_rng(7)
    rows = DIGEST_TEST_ROWS
    labels = pa.array(["ab", "cd", "ef", "gh"]).take(pa.array(rng.integers(0, 4, rows)))
    answer = pa.table(
        {"rid": np.arange(rows), "v": rng.integers(1, 10**6, rows), "score": rng.random(rows), "lbl": labels}
    )
    first = answer.slice(0, BATCH_ROWS)
    others = DigestBuilder()
    for batch in answer.slice(BATCH_ROWS).to_batches(max_chunksize=BATCH_ROWS):
        others.add(batch)
    expected = _digest(first, builder=others)

    def check(variant: pa.Table, exact: bool = False) -> str:
        found = _digest(variant, builder=others if not exact else _with_exact(others, expected))
        floats = {k: (n, s, 0.0) for k, (n, s, _) in found.columns.items()}
        old_way = Digest(found.rows, floats, {})  # version 1 compared counts exactly, sums within RTOL
        assert compare_digests(
            old_way, Digest(expected.rows, {k: (n, s, 0.0) for k, (n, s, _) in expected.columns.items()}, {})
        ).ok
        return compare_digests(found, expected).reason or "ok"

    # one row dropped and another repeated: the same row count, integer sums off by one row's
    dropped = np.concatenate([np.arange(1, BATCH_ROWS), [BATCH_ROWS // 2]])
    assert check(first.take(dropped)).startswith("column rid: its sums in integer arithmetic differ")

    # 50 integers each off by one
    v = first["v"].to_numpy().copy()
    v[:: BATCH_ROWS // 50] += 1
    assert check(first.set_column(1, "v", pa.array(v))).startswith("column v: its sums in integer arithmetic differ")

    # two rows' labels swapped: every column's sums the same, the rows are not
    lbl = first["lbl"].to_numpy(zero_copy_only=False).copy()
    one, other = 10, int(np.flatnonzero(lbl != lbl[10])[0])
    lbl[one], lbl[other] = lbl[other], lbl[one]
    assert check(first.set_column(3, "lbl", pa.array(lbl))).startswith(
        "the same counts and sums, but not the same rows"
    )


def _with_exact(builder: DigestBuilder, expected: Digest) -> DigestBuilder:
    """A copy of ``builder`` that digests the reference's exact columns as an answer's builder does."""
    found = copy.deepcopy(builder)
    found.wanted = sorted(expected.exact)
    return found


def test_an_integer_answer_in_whole_floats_is_compared_exactly() -> None:
    """An engine may sum integers in float64: whole numbers compare as the integers they are."""
    answer = pa.table(
        {"rid": pa.array(range(1000)), "v": pa.array(range(0, 3000, 3)), "score": [i / 7 for i in range(1000)]}
    )
    expected = _digest(answer)
    as_floats = answer.set_column(1, "v", answer["v"].cast(pa.float64()))
    as_floats = as_floats.set_column(2, "score", pa.array([i / 7 * (1 + 1e-12) for i in range(1000)]))
    assert compare_digests(_digest(as_floats, sorted(expected.exact)), expected).ok
    halves = answer.set_column(1, "v", pa.array([i * 3 + 0.5 for i in range(1000)]))
    reason = compare_digests(_digest(halves, sorted(expected.exact)), expected).reason
    assert reason == "columns ['v']: values that are not whole numbers, reference is integer"
    off = answer.set_column(1, "v", pa.array([i * 3 + (i == 500) for i in range(1000)], pa.float64()))
    assert (compare_digests(_digest(off, sorted(expected.exact)), expected).reason or "").startswith(
        "column v: its sums"
    )


def test_a_digest_hashes_strings_by_their_bytes() -> None:
    """Same lengths, other bytes; sliced arrays, large strings, dictionaries; nulls and empty strings."""
    expected = _digest(pa.table({"s": ["ab", "", None, "xyz"]}))
    assert compare_digests(_digest(pa.table({"s": ["xyz", None, "", "ab"]})), expected).ok
    assert not compare_digests(_digest(pa.table({"s": ["ba", "", None, "xyz"]})), expected).ok
    sliced = pa.array(["zz", "ab", "", None, "xyz"]).slice(1)
    assert compare_digests(_digest(pa.table({"s": sliced})), expected).ok
    large = pa.array(["ab", "", None, "xyz"], pa.large_string())
    assert compare_digests(_digest(pa.table({"s": large})), expected).ok
    assert compare_digests(_digest(pa.table({"s": large.dictionary_encode()})), expected).ok
    empty = pa.table({"s": pa.array([], pa.string())})
    assert compare_digests(_digest(empty), _digest(empty)).ok
