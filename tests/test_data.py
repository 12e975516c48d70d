from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from breakeven.data import DataSpec, chunk_rows_for, generate
from breakeven.errors import UsageError
from breakeven.units import fmt_num


def test_names_follow_db_benchmark() -> None:
    assert DataSpec("G1", 10**7, 100, 0, False).name == "G1_1e7_1e2_0_0"
    assert DataSpec("G1", 10**8, 10**5, 5, True).name == "G1_1e8_1e5_5_1"
    assert DataSpec("J1", 10**7).name == "J1_1e7"
    assert DataSpec("D1", 10**7, dim_rows=10**3).name == "D1_1e7_1e3"
    assert fmt_num(12345) == "12345" and fmt_num(5000) == "5e3" and fmt_num(7) == "7"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "G2", "rows": 10},
        {"kind": "G1", "rows": 0},
        {"kind": "G1", "rows": -5},
        {"kind": "G1", "rows": 10, "nas": 101},
        {"kind": "G1", "rows": 10, "k": 0},
        {"kind": "D1", "rows": 10},
        {"kind": "J1", "rows": 10, "nas": 5},
    ],
)
def test_bad_parameters_fail_at_construction(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        DataSpec(**kwargs)


def test_g1_shape_cardinality_and_nulls(tmp_path: Path) -> None:
    spec = DataSpec("G1", 50_000, k=10, nas=10)
    paths, seconds = generate(spec, tmp_path)
    assert seconds > 0
    table = pq.read_table(paths["x"])
    assert table.column_names == ["id1", "id2", "id3", "id4", "id5", "id6", "v1", "v2", "v3"]
    assert table.num_rows == 50_000
    assert pc.count_distinct(table["id1"]).as_py() == 10
    assert pc.count_distinct(table["id4"]).as_py() == 10
    assert 4_000 < pc.count_distinct(table["id6"]).as_py() <= 5_000  # N/K values drawn with repetition
    assert pc.min(table["v1"]).as_py() == 1 and pc.max(table["v1"]).as_py() == 5
    assert pc.max(table["v2"]).as_py() == 15
    for column in table.column_names:
        frac = table[column].null_count / table.num_rows
        assert 0.08 < frac < 0.12, (column, frac)
    files = sorted(paths["x"].glob("*.parquet"))
    assert len(files) == 5 and all(pq.ParquetFile(f).num_row_groups == 1 for f in files)


def test_generation_is_deterministic_and_cached(tmp_path: Path) -> None:
    spec = DataSpec("T1", 30_000, nas=5)
    a = pq.read_table(generate(spec, tmp_path / "a")[0]["x"])
    b = pq.read_table(generate(spec, tmp_path / "b")[0]["x"])
    assert a.equals(b)
    assert generate(spec, tmp_path / "a")[1] == 0.0  # cached
    other = pq.read_table(generate(DataSpec("T1", 30_000, nas=5, seed=1), tmp_path / "a")[0]["x"])
    assert not a.equals(other)
    assert np.array_equal(a["rid"].to_numpy(), np.arange(30_000))


def test_join_tables_match_about_ninety_percent(tmp_path: Path) -> None:
    spec = DataSpec("J1", 100_000)
    paths, _ = generate(spec, tmp_path)
    x, medium = pq.read_table(paths["x"]), pq.read_table(paths["medium"])
    assert medium.num_rows == 100 and pc.count_distinct(medium["id2"]).as_py() == 100
    matched = pc.sum(pc.is_in(x["id2"], medium["id2"])).as_py() / x.num_rows
    assert 0.85 < matched < 0.95
    assert pq.read_table(paths["big"]).num_rows == 100_000


def test_join_tables_have_db_benchmarks_columns(tmp_path: Path) -> None:
    from breakeven.workloads.join import J1_COLUMNS

    paths, _ = generate(DataSpec("J1", 10**4), tmp_path)
    columns = {role: tuple(pq.read_schema(next(path.glob("*.parquet"))).names) for role, path in paths.items()}
    assert columns == J1_COLUMNS
    x, medium = pq.read_table(paths["x"]), pq.read_table(paths["medium"])
    assert x["id5"].to_pylist()[:3] == [f"id{i}" for i in x["id2"].to_pylist()[:3]]  # the string form of id2
    assert medium["id4"].to_pylist()[:3] == [f"id{i}" for i in medium["id1"].to_pylist()[:3]]


def test_a_set_made_by_an_older_generator_is_made_again(tmp_path: Path) -> None:
    from breakeven.data import get_kind, is_generated

    spec = DataSpec("J1", 10**4)
    generate(spec, tmp_path)
    assert get_kind("J1").version > 1 and is_generated(spec, tmp_path)
    (tmp_path / spec.name / "_COMPLETE").write_text(spec.name + "\n")  # as version 1 wrote it
    assert not is_generated(spec, tmp_path)
    assert generate(spec, tmp_path)[1] > 0 and is_generated(spec, tmp_path)


def test_sorted_variant_is_sorted(tmp_path: Path) -> None:
    paths, _ = generate(DataSpec("G1", 20_000, sorted=True), tmp_path)
    ids = pq.read_table(paths["x"])["id1"].to_pylist()
    assert ids == sorted(ids)


def test_interrupted_generation_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import breakeven.data as data

    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(data, "_write_table", boom)
    with pytest.raises(RuntimeError):
        generate(DataSpec("G1", 1000), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_chunking_lays_out_parallel_files() -> None:
    assert chunk_rows_for(10**8) == 10**6
    assert chunk_rows_for(10**6) == 125_000
    assert chunk_rows_for(5_000) == 5_000
