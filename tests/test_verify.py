"""``verify.compare``, one rule a test: each answer here differs from the reference in one way."""

from __future__ import annotations

import pyarrow as pa
import pytest

from breakeven import reference
from breakeven.data import DataSpec
from breakeven.verify import RTOL, compare

KEYS = ["id1"]


def ref() -> pa.Table:
    return pa.table(
        {
            "id1": pa.array(["a", "b", "c"]),
            "n": pa.array([1_000_000, 2, 3], pa.int64()),
            "v": pa.array([0.5, None, 1e6]),
        }
    )


def test_an_equal_answer_in_another_order_and_other_types_passes() -> None:
    answer = pa.table(
        {
            "v": pa.array([1e6, 0.5, float("nan")]),  # NaN and null are the same missing value
            "n": pa.array([3, 1_000_000, 2], pa.int32()),
            "id1": pa.array(["c", "a", "b"]).dictionary_encode(),
        }
    )
    assert compare(answer, ref(), KEYS).ok


def test_a_count_off_by_one_fails() -> None:
    answer = ref().set_column(1, "n", pa.array([1_000_001, 2, 3], pa.int64()))
    verdict = compare(answer, ref(), KEYS)
    assert not verdict.ok
    assert verdict.reason == "column n: 1 of 3 values differ; first at {'id1': 'a'}: 1000001 != reference 1000000"


def test_an_integer_sum_held_in_floats_must_be_exact() -> None:
    exact = ref().set_column(1, "n", pa.array([1e6, 2.0, 3.0]))
    assert compare(exact, ref(), KEYS).ok
    near = ref().set_column(1, "n", pa.array([1e6 + 1, 2.0, 3.0]))  # within a relative 1e-6, but not equal
    assert not compare(near, ref(), KEYS).ok
    fraction = ref().set_column(1, "n", pa.array([1e6, 2.5, 3.0]))
    assert "not whole numbers" in (compare(fraction, ref(), KEYS).reason or "")


def test_an_integer_column_as_strings_fails_with_its_type() -> None:
    answer = ref().set_column(1, "n", pa.array(["1000000", "2", "3"]))
    assert compare(answer, ref(), KEYS).reason == "column n: type string, reference is integer"


def test_floats_within_the_tolerance_pass_and_beyond_it_fail() -> None:
    close = ref().set_column(2, "v", pa.array([0.5 * (1 + RTOL / 10), None, 1e6]))
    assert compare(close, ref(), KEYS).ok
    far = ref().set_column(2, "v", pa.array([0.5 * (1 + RTOL * 10), None, 1e6]))
    assert "column v: 1 of 3 values differ" in (compare(far, ref(), KEYS).reason or "")


def test_a_value_where_the_reference_has_none_fails() -> None:
    answer = ref().set_column(2, "v", pa.array([0.5, 0.0, 1e6]))
    assert "column v: 1 of 3" in (compare(answer, ref(), KEYS).reason or "")


def test_a_missing_column_fails() -> None:
    verdict = compare(ref().drop_columns(["v"]), ref(), KEYS)
    assert verdict.reason == "columns ['v'] missing (answer has ['id1', 'n'])"


def test_an_extra_column_fails() -> None:
    verdict = compare(ref().append_column("w", pa.array([1, 2, 3])), ref(), KEYS)
    assert verdict.reason == "extra columns ['w'] (reference has ['id1', 'n', 'v'])"


def test_a_dropped_or_duplicated_row_fails() -> None:
    assert compare(ref().slice(0, 2), ref(), KEYS).reason == "2 rows, reference has 3"
    doubled = pa.concat_tables([ref(), ref().slice(0, 1)])
    assert compare(doubled, ref(), KEYS).reason == "4 rows, reference has 3"


def test_a_wrong_key_fails() -> None:
    answer = ref().set_column(0, "id1", pa.array(["a", "b", "d"]))
    assert "column id1: 1 of 3 values differ" in (compare(answer, ref(), KEYS).reason or "")


def test_the_reference_cache_is_keyed_by_the_data_and_the_reference_source(monkeypatch, tmp_path) -> None:
    from breakeven.workloads import get_workload

    spec = DataSpec("G1", 10_000)
    q1 = reference.reference_path(spec, "groupby_q1", tmp_path)
    assert q1 != reference.reference_path(spec, "groupby_q2", tmp_path)
    assert q1 != reference.reference_path(DataSpec("G1", 10_000, seed=1), "groupby_q1", tmp_path)
    assert q1 == reference.reference_path(DataSpec("G1", 10_000), "groupby_q1", tmp_path)

    def changed(t: dict[str, pa.Table]) -> pa.Table:  # another question: another answer
        return t["x"].group_by("id1").aggregate([("v1", "count")])

    monkeypatch.setattr(get_workload("groupby_q1"), "reference", changed)
    reference.reference_key.cache_clear()
    try:
        assert reference.reference_path(spec, "groupby_q1", tmp_path) != q1
    finally:
        reference.reference_key.cache_clear()


@pytest.mark.parametrize("helper_changed", [False, True])
def test_the_reference_key_follows_the_helpers_a_reference_calls(monkeypatch, helper_changed: bool) -> None:
    import inspect

    from breakeven.workloads import arrowref

    before = reference._sources(arrowref.grouped_top, set())
    if helper_changed:
        original = inspect.getsource

        def patched(obj: object) -> str:
            return original(obj) + ("# changed" if obj is arrowref.group_ids else "")

        monkeypatch.setattr(inspect, "getsource", patched)
    after = reference._sources(arrowref.grouped_top, set())
    assert (before != after) == helper_changed
