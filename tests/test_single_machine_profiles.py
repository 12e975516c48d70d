"""The single-machine engines' profiles do what their docstrings say: ``tuned`` stores the string
group-by keys as the engine's categorical type (and only those), Polars' ``lazy`` mode keeps a
LazyFrame for the optimizer, streaming has no tuned profile, and DuckDB's top-two query runs as
a top-N aggregate, not a window (its own implementation), in the tuned profile only."""

from __future__ import annotations

from pathlib import Path

import pytest
from inprocess import engine_session

from breakeven import columns
from breakeven import data as datagen
from breakeven.cases import EngineConfig, get_suite, parse_engines
from breakeven.errors import UsageError
from breakeven.workloads import get_workload

G1 = datagen.DataSpec("G1", 1_000, nas=5)
T1 = datagen.DataSpec("T1", 1_000)


def _table(spec: datagen.DataSpec, data_dir: Path) -> Path:
    paths, _ = datagen.generate(spec, data_dir, 1)
    return paths["x"]


def test_string_group_keys_are_declared_by_the_data_kind(data_dir: Path) -> None:
    assert columns.string_keys(_table(G1, data_dir)) == ["id1", "id2", "id3"]
    assert columns.string_keys(_table(T1, data_dir)) == []  # the transforms work on their strings


@pytest.mark.pandas
def test_pandas_tuned_keys_are_category(data_dir: Path) -> None:
    for profile, expected in (("default", "str"), ("tuned", "category")):
        with engine_session(EngineConfig("pandas", "single", profile)) as eng:
            frame = eng.load("x", _table(G1, data_dir), 1_000, None)
            assert {str(frame[k].dtype) for k in ("id1", "id2", "id3")} == {expected}
            assert str(frame["id4"].dtype) != "category"  # integer keys stay as they are


@pytest.mark.polars
def test_polars_modes_and_profiles(data_dir: Path) -> None:
    import polars as pl

    with engine_session(EngineConfig("polars", "lazy", "tuned")) as eng:
        frame = eng.load("x", _table(G1, data_dir), 1_000, None)
        assert isinstance(frame, pl.LazyFrame)
        assert frame.collect_schema()["id3"] == pl.Categorical
        assert isinstance(eng.materialise(frame.group_by("id1").len()), pl.DataFrame)
    with engine_session(EngineConfig("polars", "eager", "default")) as eng:
        assert eng.load("x", _table(G1, data_dir), 1_000, None).schema["id3"] == pl.String
    with pytest.raises(UsageError, match="no profile 'tuned' in mode streaming"):
        EngineConfig("polars", "streaming", "tuned")


@pytest.mark.duckdb
def test_duckdb_tuned_keys_are_enums_and_top_two_is_an_aggregate(data_dir: Path) -> None:
    with engine_session(EngineConfig("duckdb", "single", "tuned")) as eng:
        eng.load("x", _table(G1, data_dir), 1_000, None)
        types = dict(eng.session.sql("SELECT column_name, data_type FROM information_schema.columns").fetchall())
        assert types["id1"].startswith("ENUM") and not types["id4"].startswith("ENUM")
        setting = eng.session.sql("SELECT current_setting('preserve_insertion_order')").fetchall()
        assert setting == [(False,)]
        # q8 is DuckDB's top-N aggregate (max(v3, 2)): a grouped aggregate, no window, no sort.
        plan = eng.session.sql(
            "EXPLAIN " + get_workload("groupby_q8").impls["duckdb"](eng.context({}, {}, None)).sql_query()
        )
        text = plan.fetchall()[0][1]
        assert (
            "GROUP_BY" in text.upper().replace(" ", "_")
            and "WINDOW" not in text.upper()
            and "ORDER" not in text.upper()
        )


@pytest.mark.duckdb
def test_duckdb_default_top_two_is_the_portable_window(data_dir: Path) -> None:
    with engine_session(EngineConfig("duckdb", "single", "default")) as eng:
        eng.load("x", _table(G1, data_dir), 1_000, None)
        q8 = get_workload("groupby_q8")
        assert eng.build(q8, eng.context({}, {}, None)).sql_query() == eng.sql(q8.query).sql_query()


def test_tuned_twins_of_the_default_are_not_planned() -> None:
    """pandas' and Polars' tuned profiles change the group-by data (G1) and the merges' (J1, D1)
    loaded in memory: no tuned case is planned elsewhere; DuckDB's (preserve_insertion_order)
    applies to every kind."""
    cases = get_suite("standard").cases(parse_engines(["pandas", "polars:lazy", "duckdb"]))
    tuned = {(c.engine, c.data_kind) for c in cases if c.profile == "tuned"}
    assert {kind for engine, kind in tuned if engine in ("pandas", "polars")} == {"G1", "J1", "D1"}
    from_files = {(c.engine, c.data_kind) for c in cases if c.profile == "tuned" and c.source == "files"}
    assert {kind for engine, kind in from_files if engine in ("pandas", "polars")} == {"G1"}
    assert {kind for engine, kind in tuned if engine == "duckdb"} == {"G1", "J1", "D1", "T1"}
    assert {c.data_kind for c in cases if c.engine == "pandas" and c.profile == "default"} == {"G1", "J1", "D1", "T1"}


J1 = datagen.DataSpec("J1", 10_000)


@pytest.mark.pandas
def test_pandas_tuned_types_a_merges_tables_as_its_experts_do(data_dir: Path) -> None:
    """Integer keys int32, strings category; a string key's categories the same on both sides."""
    paths, _ = datagen.generate(J1, data_dir, 1)
    for profile in ("default", "tuned"):
        with engine_session(EngineConfig("pandas", "single", profile)) as eng:
            x, medium = (eng.load(r, paths[r], 10_000, None) for r in ("x", "medium"))
            dtypes = {k: str(x[k].dtype) for k in ("id1", "id3", "id4", "id5", "v1")}
            if profile == "default":
                assert dtypes == {"id1": "int64", "id3": "int64", "id4": "str", "id5": "str", "v1": "float64"}
                continue
            assert dtypes == {"id1": "int32", "id3": "int32", "id4": "category", "id5": "category", "v1": "float64"}
            assert list(x["id5"].cat.categories) == list(medium["id5"].cat.categories)
            assert str(eng.scan("x", paths["x"], 10_000, None, None)["id1"].dtype) == "int64"  # from files: as read


@pytest.mark.polars
def test_polars_tuned_types_a_merges_tables_as_its_experts_do(data_dir: Path) -> None:
    import polars as pl

    paths, _ = datagen.generate(J1, data_dir, 1)
    with engine_session(EngineConfig("polars", "eager", "tuned")) as eng:
        x = eng.load("x", paths["x"], 10_000, None)
        assert (x.schema["id1"], x.schema["id5"], x.schema["v1"]) == (pl.Int32, pl.Categorical, pl.Float64)
