"""Chunked transforms on T1 data, each engine side by side. Every answer is one row per input
row (or per kept row), keyed by ``rid``: brought back whole to the driver or written as Parquet
by the engine (the sink, ``SINKS``).

``chunk_rows`` is the partitions/chunk-size parameter. pandas processes the frame in slices of
that many rows (the chunked pandas job people move to Dask) and Dask uses partitions of that
many rows. Spark and Ray hand their Python functions batches of that many rows, and hold a
loaded table in partitions (blocks) of that size; from files they read in their own splits,
since moving rows into chunk-sized partitions would shuffle (Spark) or stop the stream (Ray)
inside the timed part. Polars and DuckDB choose their own morsel sizes, so for them the
parameter does not apply and their cases are run once, without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from breakeven.workloads import Chunks, Ctx, rayops, workload
from breakeven.workloads.arrowref import floats, running_sum

CHUNKED = frozenset({"pandas", "dask", "spark", "ray"})


def score(v1: np.ndarray, v2: np.ndarray, v3: np.ndarray) -> np.ndarray:
    """The Python function applied per chunk: a row-wise NumPy score (NaN in, NaN out)."""
    return np.where(v1 >= 3, np.log1p(v3) * v2, np.sqrt(v3) - v1)


def chunks_of(frame: Any, c: Ctx) -> Iterator[Any]:
    """pandas: the input in chunks of at most ``chunk_rows`` rows (the whole frame if unset), in
    order: slices of a loaded frame, or what the engine's reader yields from the files."""
    if isinstance(frame, Iterator):  # read chunk by chunk from the files (PandasEngine.scan)
        yield from frame
        return
    step = c.chunk_rows or max(len(frame), 1)
    for i in range(0, max(len(frame), 1), step):
        yield frame.iloc[i : i + step]


def in_chunks(frame: Any, c: Ctx, fn: Callable[[Any], Any]) -> Any:
    """pandas: ``fn`` applied to each chunk as the engine takes its answer (concatenated, or
    written one file each: ``Chunks``); to the whole frame at once if ``chunk_rows`` is unset."""
    if not c.chunk_rows:
        return fn(frame)
    return Chunks(fn(chunk) for chunk in chunks_of(frame, c))


# arithmetic and filter --------------------------------------------------------------------
ARITH = workload(
    "transform_arith",
    "transform",
    "w = v1 * v3 + 0.5 * v2 where v3 > 50",
    "T1",
    keys=("rid",),
    chunked_engines=CHUNKED,
    large_answer=True,
    columns={"x": ("rid", "v1", "v2", "v3")},
)
ARITH.sql("SELECT rid, v1 * v3 + 0.5 * v2 AS w FROM x WHERE v3 > 50")


def _arith_pandas(frame: Any) -> Any:
    kept = frame[frame["v3"] > 50]
    return kept[["rid"]].assign(w=kept["v1"] * kept["v3"] + 0.5 * kept["v2"])


@ARITH.implement("pandas")
def _arith_on_pandas(c: Ctx) -> Any:
    return in_chunks(c.x, c, _arith_pandas)


@ARITH.implement("polars")
def _arith_polars(c: Ctx) -> Any:
    import polars as pl

    return c.x.filter(pl.col("v3") > 50).select("rid", (pl.col("v1") * pl.col("v3") + 0.5 * pl.col("v2")).alias("w"))


@ARITH.implement("dask")
def _arith_dask(c: Ctx) -> Any:
    return _arith_pandas(c.x)  # the same expression, blockwise on every partition


@ARITH.implement("spark")
def _arith_spark(c: Ctx) -> Any:
    from pyspark.sql import functions as F

    w = F.col("v1") * F.col("v3") + 0.5 * F.col("v2")
    return c.x.where(F.col("v3") > 50).select("rid", w.alias("w"))


@ARITH.implement("ray")
def _arith_ray(c: Ctx) -> Any:
    from ray.data.expressions import col

    # Ray Data expressions: evaluated in Arrow on every block, no Python per batch
    # (https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.with_column.html).
    kept = c.x.filter(expr=col("v3") > 50)
    return kept.with_column("w", col("v1") * col("v3") + 0.5 * col("v2")).select_columns(["rid", "w"])


@ARITH.ref
def _arith_ref(t: dict[str, pa.Table]) -> pa.Table:
    kept = t["x"].filter(pc.greater(t["x"]["v3"], 50))
    w = pc.add(
        pc.multiply(pc.cast(kept["v1"], pa.float64()), kept["v3"]), pc.multiply(0.5, pc.cast(kept["v2"], pa.float64()))
    )
    return pa.table({"rid": kept["rid"], "w": w})


ARITH.rowwise = True  # row by row: a batch of x gives the rows of its answer


# string operation -------------------------------------------------------------------------
STRING = workload(
    "transform_string",
    "transform",
    "lbl = upper(id1) || '-' || last four characters of id3",
    "T1",
    keys=("rid",),
    chunked_engines=CHUNKED,
    large_answer=True,
    columns={"x": ("rid", "id1", "id3")},
)
STRING.sql("SELECT rid, upper(id1) || '-' || right(id3, 4) AS lbl FROM x")


def _string_pandas(frame: Any) -> Any:
    return frame[["rid"]].assign(lbl=frame["id1"].str.upper() + "-" + frame["id3"].str[-4:])


@STRING.implement("pandas")
def _string_on_pandas(c: Ctx) -> Any:
    return in_chunks(c.x, c, _string_pandas)


@STRING.implement("polars")
def _string_polars(c: Ctx) -> Any:
    import polars as pl

    lbl = pl.concat_str(pl.col("id1").str.to_uppercase(), pl.lit("-"), pl.col("id3").str.tail(4))
    return c.x.select("rid", lbl.alias("lbl"))


@STRING.implement("dask")
def _string_dask(c: Ctx) -> Any:
    return _string_pandas(c.x)


@STRING.implement("spark")
def _string_spark(c: Ctx) -> Any:
    from pyspark.sql import functions as F

    lbl = F.concat(F.upper("id1"), F.lit("-"), F.substring("id3", -4, 4))
    return c.x.select("rid", lbl.alias("lbl"))


def _string_arrow(batch: pa.Table) -> pa.Table:
    """Ray: the label in Arrow compute on one batch (string expressions have no concatenation)."""
    lbl = pc.binary_join_element_wise(pc.utf8_upper(batch["id1"]), pc.utf8_slice_codeunits(batch["id3"], -4), "-")
    return pa.table({"rid": batch["rid"], "lbl": lbl})


@STRING.implement("ray")
def _string_ray(c: Ctx) -> Any:
    return c.x.map_batches(_string_arrow, batch_format="pyarrow", batch_size=c.chunk_rows)


@STRING.ref
def _string_ref(t: dict[str, pa.Table]) -> pa.Table:
    x = t["x"]
    tail = pc.utf8_slice_codeunits(x["id3"], -4)
    return pa.table({"rid": x["rid"], "lbl": pc.binary_join_element_wise(pc.utf8_upper(x["id1"]), tail, "-")})


STRING.rowwise = True  # row by row: a batch of x gives the rows of its answer


# Python function per chunk ----------------------------------------------------------------
UDF = workload(
    "transform_udf",
    "transform",
    "score = a Python (NumPy) function of v1, v2, v3 applied per chunk",
    "T1",
    keys=("rid",),
    chunked_engines=CHUNKED,
    large_answer=True,
    columns={"x": ("rid", "v1", "v2", "v3")},
)


def _udf_pandas(frame: Any) -> Any:
    v1, v2, v3 = (frame[col].to_numpy(dtype="float64", na_value=np.nan) for col in ("v1", "v2", "v3"))
    return frame[["rid"]].assign(score=score(v1, v2, v3))


@UDF.implement("pandas")
def _udf_on_pandas(c: Ctx) -> Any:
    return in_chunks(c.x, c, _udf_pandas)


@UDF.implement("polars")
def _udf_polars(c: Ctx) -> Any:
    import polars as pl

    def batch(cols: list[pl.Series]) -> pl.Series:
        return pl.Series(score(*(s.cast(pl.Float64).to_numpy() for s in cols)))

    # is_elementwise lets the streaming engine call the function per morsel
    # (https://docs.pola.rs/api/python/stable/reference/expressions/api/polars.map_batches.html).
    expr = pl.map_batches(["v1", "v2", "v3"], batch, return_dtype=pl.Float64, is_elementwise=True)
    return c.x.select("rid", expr.alias("score"))


@UDF.implement("duckdb")
def _udf_duckdb(c: Ctx) -> Any:
    # A vectorised Arrow UDF: DuckDB hands the function whole Arrow vectors, not single values
    # (https://duckdb.org/docs/stable/clients/python/function).
    con = c.session
    if not con.sql("SELECT 1 FROM duckdb_functions() WHERE function_name = 'score'").fetchall():
        import duckdb

        def arrow_score(v1: pa.Array, v2: pa.Array, v3: pa.Array) -> pa.Array:
            out = score(*(pc.cast(v, pa.float64()).to_numpy(zero_copy_only=False) for v in (v1, v2, v3)))
            return pa.array(out, mask=np.isnan(out))

        double = duckdb.sqltype("DOUBLE")
        # null_handling="special": the function sees nulls (the default returns NULL for any
        # NULL argument, but score() is defined when v2 is missing and v1 < 3).
        con.create_function("score", arrow_score, [double] * 3, double, type="arrow", null_handling="special")
    return con.sql("SELECT rid, score(v1, v2, v3) AS score FROM x")


@UDF.implement("dask")
def _udf_dask(c: Ctx) -> Any:
    return c.x.map_partitions(_udf_pandas, meta=_udf_pandas(c.x._meta))


def _udf_arrow(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    """The same function on Arrow columns, no pandas in between (Ray's and Spark's tuned profiles)."""
    out = score(*(pc.cast(batch[col], pa.float64()).to_numpy(zero_copy_only=False) for col in ("v1", "v2", "v3")))
    return pa.table({"rid": batch["rid"], "score": pa.array(out, mask=np.isnan(out))})


def _udf_arrow_batches(batches: Any) -> Any:
    """mapInArrow: Arrow record batches in, Arrow record batches out."""
    for batch in batches:
        yield from _udf_arrow(batch).to_batches()


def _udf_batches(batches: Any) -> Any:
    """mapInPandas: the same pandas function on every Arrow batch of a partition."""
    for frame in batches:
        yield _udf_pandas(frame)


@UDF.implement("spark")
def _udf_spark(c: Ctx) -> Any:
    # mapInPandas moves batches between the JVM and Python workers in Arrow, of the session's
    # chunk size (spark.sql.execution.arrow.maxRecordsPerBatch: SparkEngine.start).
    x = c.x.select("rid", "v1", "v2", "v3")
    if c.tuned:
        # mapInArrow hands the function the Arrow batches themselves: no conversion to pandas and
        # back (https://spark.apache.org/docs/latest/api/python/reference/pyspark.sql/api/pyspark.sql.DataFrame.mapInArrow.html).
        # At 1e7 rows in chunks of 1e5: 5.54 s against 5.88 s with mapInPandas (1e6: 0.80 s both).
        return x.mapInArrow(_udf_arrow_batches, "rid long, score double")
    return x.mapInPandas(_udf_batches, "rid long, score double")


@UDF.implement("ray")
def _udf_ray(c: Ctx) -> Any:
    # The same pandas function on batches of chunk_rows rows
    # (https://docs.ray.io/en/latest/data/transforming-data.html#configuring-batch-size).
    x = c.x.select_columns(["rid", "v1", "v2", "v3"])
    if c.tuned:
        # Blocks are Arrow tables: batch_format="pyarrow" hands them over without a conversion
        # to pandas and back (https://docs.ray.io/en/latest/data/transforming-data.html#configuring-batch-format).
        # At 1e7 rows in chunks of 1e5: 1.68 s against 1.79 s with pandas batches (1e6: 0.23 s, 0.24 s).
        return x.map_batches(_udf_arrow, batch_format="pyarrow", batch_size=c.chunk_rows)
    return x.map_batches(_udf_pandas, batch_format="pandas", batch_size=c.chunk_rows)


@UDF.ref
def _udf_ref(t: dict[str, pa.Table]) -> pa.Table:
    x = t["x"]
    out = score(floats(x, "v1"), floats(x, "v2"), floats(x, "v3"))
    return pa.table({"rid": x["rid"], "score": pa.array(out, mask=np.isnan(out))})


UDF.rowwise = True  # row by row: a batch of x gives the rows of its answer


# per-group running total ------------------------------------------------------------------
CUMSUM = workload(
    "transform_cumsum",
    "transform",
    "csum = running total of v1 (nulls as 0) per id4 in rid order",
    "T1",
    keys=("rid",),
    chunked_engines=CHUNKED,
    large_answer=True,
    columns={"x": ("rid", "id4", "v1")},
)
CUMSUM.parts_by = "id4"  # each id4's running total depends on its own rows alone
CUMSUM.sql(
    "SELECT rid, CAST(sum(coalesce(v1, 0)) OVER (PARTITION BY id4 ORDER BY rid"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS csum FROM x"
)


@CUMSUM.implement("pandas")
def _cumsum_pandas(c: Ctx) -> Any:
    return Chunks(_running_totals(c))


def _running_totals(c: Ctx) -> Iterator[Any]:
    """pandas: each chunk's running totals, carried on from the chunks before it."""
    import pandas as pd

    carry = pd.Series(dtype="float64")  # running total per id4 at the end of the previous chunks
    for chunk in chunks_of(c.x, c):
        values = chunk["v1"].fillna(0)
        within = values.groupby(chunk["id4"], dropna=False, sort=False).cumsum()
        csum = within + chunk["id4"].map(carry).fillna(0).to_numpy()
        yield chunk[["rid"]].assign(csum=csum.to_numpy())
        last = pd.Series(csum.to_numpy(), index=chunk["id4"].to_numpy()).groupby(level=0, dropna=False).last()
        carry = last.combine_first(carry)


@CUMSUM.implement("polars")
def _cumsum_polars(c: Ctx) -> Any:
    import polars as pl

    return c.x.select("rid", pl.col("v1").fill_null(0).cum_sum().over("id4").alias("csum"))


@CUMSUM.implement("dask")
def _cumsum_dask(c: Ctx) -> Any:
    # Cumulative group-bys carry each partition's totals to the next by index: the index must
    # be unique and ordered, and read_parquet's per-file RangeIndex repeats labels (measured:
    # wrong totals on the threaded scheduler). rid is sorted across the files, so
    # set_index(sorted=True) only computes divisions, with no shuffle
    # (https://docs.dask.org/en/stable/generated/dask.dataframe.DataFrame.set_index.html).
    x = c.x[["rid", "id4", "v1"]].set_index("rid", sorted=True)
    running = x.assign(v1=x["v1"].fillna(0)).groupby("id4", dropna=False)["v1"].cumsum()
    return running.rename("csum").reset_index()


@CUMSUM.implement("spark")
def _cumsum_spark(c: Ctx) -> Any:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = Window.partitionBy("id4").orderBy("rid").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return c.x.select("rid", F.sum(F.coalesce("v1", F.lit(0))).over(window).alias("csum"))


def _running_total(frame: Any) -> Any:
    """pandas: running total of v1 per id4 in rid order, for rows holding whole groups (Ray)."""
    frame = frame.sort_values("rid")
    csum = frame["v1"].fillna(0).groupby(frame["id4"], dropna=False, sort=False).cumsum()
    return frame[["rid"]].assign(csum=csum.astype("int64"))


@CUMSUM.implement("ray")
def _cumsum_ray(c: Ctx) -> Any:
    x = c.x.select_columns(["rid", "id4", "v1"])
    if c.tuned and c.session.hash_shuffle:  # (the sort shuffle has no keyed repartition)
        # Hash-partition on id4, then one vectorised pandas pass per block instead of a Python
        # call per group: see rayops.per_key_block for why every group is whole in one batch.
        return rayops.per_key_block(x, ["id4"], c.session.partitions, _running_total)
    return x.groupby("id4").map_groups(_running_total, batch_format="pandas")


@CUMSUM.ref
def _cumsum_ref(t: dict[str, pa.Table]) -> pa.Table:
    x = t["x"]
    return pa.table({"rid": x["rid"], "csum": running_sum(x, "id4", "rid", "v1")})
