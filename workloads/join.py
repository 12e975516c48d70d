"""Merges, each engine side by side: merges that keep their rows, and merges followed by an
aggregate.

Merges that keep every row and column of both sides (the answer is as large as the merged
table, so it has a sink, ``SINKS``):

- db-benchmark's five join questions on J1: ``join_small_inner`` (x with N/1e6 rows on id1),
  ``join_medium_inner`` (N/1e3 rows on id2), ``join_medium_left`` (its "medium outer"),
  ``join_medium_inner_str`` (on the string key id5), ``join_big_inner`` (N rows on id3). The
  answer is every column of x, then the right side's other columns, ``_r`` added to the names
  that x has too.
- ``join_dim_inner``: D1's fact table with a dimension table of ``dim_rows`` rows (the sweep
  across each engine's broadcast threshold): the fact's columns, then ``grp`` and ``weight``.

Merges then an aggregate (``_agg``), whose merged table is never built:

- ``join_{small,medium,big}_{inner,left}_agg``: x merged with a right table, then n, matched n,
  sum v1 and sum v2 by x.id1; ``join_dim_{inner,left}_agg``: the same by the dimension's ``grp``.
  A join that drops or duplicates rows, or gets left-join semantics wrong, fails verification.
  Both sides are projected to the columns the question needs before the merge, in every engine.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from breakeven.workloads import Ctx, Workload, rayops, sparkops, sum_merge, workload

HOWS = {"inner": ("inner", "INNER", "inner"), "left": ("left", "LEFT", "left outer")}  # pandas/polars, SQL, pyarrow
RAY_HOWS = {"inner": "inner", "left": "left_outer"}
BROADCAST_RATIO = 10  # tuned profiles broadcast a right side of at most a tenth of the left side's rows
SUFFIX = "_r"  # added to the right side's columns that the left side has too
# J1's columns (breakeven.data): a test checks them against the generated tables.
J1_COLUMNS = {
    "x": ("id1", "id2", "id3", "id4", "v1", "id5", "id6"),
    "small": ("id1", "id4", "v2"),
    "medium": ("id1", "id2", "id4", "id5", "v2"),
    "big": ("id1", "id2", "id3", "id4", "id5", "id6", "v2"),
}


def small_right(c: Ctx, right: str) -> bool:
    """Whether the tuned profile broadcasts table ``right`` to every partition of ``x``."""
    return c.tuned and c.rows.get(right, 0) * BROADCAST_RATIO <= c.rows.get("x", 0)


def dask_broadcast(c: Ctx, right: str) -> dict[str, Any]:
    """The tuned profile forces a broadcast join when the right side is small.

    A single-partition right side is already merged blockwise without a shuffle; a right side
    of several partitions is hash-shuffled by default. ``broadcast=True`` sends the small side
    to every partition of the big one instead ("Large to Small Joins",
    https://docs.dask.org/en/stable/dataframe-joins.html#large-to-small-joins).
    """
    if small_right(c, right):
        return {"broadcast": True}
    return {}


def spark_broadcast(c: Ctx, right: str, frame: Any) -> Any:
    """The tuned profile marks a small right side for a broadcast hash join, whatever Spark's
    size estimate (autoBroadcastJoinThreshold, 10 MB by default) makes of it
    (https://spark.apache.org/docs/latest/sql-performance-tuning.html#join-strategy-hints-for-sql-queries)."""
    if small_right(c, right):
        from pyspark.sql import functions as F

        return F.broadcast(frame)
    return frame


def ray_join(
    c: Ctx, right: str, left: Any, other: Any, key: str, right_key: str, how: str, suffix: str | None = None
) -> Any:
    """Ray Data: the tuned profile broadcasts a small right side (see ``rayops.broadcast_join``);
    otherwise ``Dataset.join``, a hash shuffle of both sides into the profile's partitions."""
    if small_right(c, right):
        return rayops.broadcast_join(left, rayops.fetch(other), key, right_key, HOWS[how][2], suffix)
    rayops.task_shuffle(c, left)
    partitions = c.session.join_partitions
    return left.join(other, RAY_HOWS[how], partitions, on=(key,), right_on=(right_key,), right_suffix=suffix)


def _ray_summary(c: Ctx, merged: Any, by: str, matched: str, value: str) -> Any:
    from ray.data.aggregate import Count, Sum

    n, n_match = Count(alias_name="n"), Count(matched, ignore_nulls=True, alias_name="n_match")
    sums = Sum("v1", alias_name="v1"), Sum(value, alias_name="v2")
    return rayops.aggregate(c, merged, [by], n, n_match, *sums, zero=("v1", "v2"))


def _spark_summary(merged: Any, by: str, matched: str, value: str) -> Any:
    from pyspark.sql import functions as F

    n, n_match = F.count(F.lit(1)).alias("n"), F.count(matched).alias("n_match")
    return merged.groupBy(by).agg(n, n_match, sparkops.sum_or_zero("v1"), sparkops.sum_or_zero(value, "v2"))


def _pandas_summary(merged: Any, by: str, matched: str, value: str, dask_ctx: Ctx | None = None) -> Any:
    """Group the merged rows: count, count of ``matched``, sum of v1 and of ``value`` (pandas, Dask)."""
    if dask_ctx is None:
        grouped = merged.groupby(by, dropna=False, observed=True, sort=False)
        extra: dict[str, Any] = {}
    else:
        grouped = merged.groupby(by, dropna=False)
        extra = {"split_out": 1} if dask_ctx.tuned else {}  # few groups: no output shuffle
    return grouped.agg(
        n=("v1", "size"), n_match=(matched, "count"), v1=("v1", "sum"), v2=(value, "sum"), **extra
    ).reset_index()


def _arrow_summary(merged: pa.Table, by: str, matched: str, value: str) -> pa.Table:
    zero_if_empty = pc.ScalarAggregateOptions(min_count=0)
    out = merged.group_by(by, use_threads=False).aggregate(
        [([], "count_all"), (matched, "count"), ("v1", "sum"), (value, "sum", zero_if_empty)]
    )
    return out.select([by, "count_all", f"{matched}_count", "v1_sum", f"{value}_sum"]).rename_columns(
        [by, "n", "n_match", "v1", "v2"]
    )


def _j1_workload(size: str, key: str, how: str) -> Workload:
    pd_how, sql_how, arrow_how = HOWS[how]
    left_cols = list(dict.fromkeys(["id1", key, "v1"]))
    wl = workload(
        f"join_{size}_{how}_agg",
        "join",
        f"x {how} join {size} on {key}, then n, matched n, sum v1, sum v2 by x.id1",
        "J1",
        tables=("x", size),
        keys=("id1",),
        columns={"x": tuple(left_cols), size: (key, "v2")},
    )
    wl.sql(
        f"SELECT x.id1, count(*) AS n, count(r.v2) AS n_match, sum(x.v1) AS v1, coalesce(sum(r.v2), 0) AS v2"
        f" FROM x {sql_how} JOIN {size} AS r ON x.{key} = r.{key} GROUP BY x.id1"
    )

    @wl.implement("pandas")
    def _pandas(c: Ctx) -> Any:
        merged = c.x[left_cols].merge(c.tables[size][[key, "v2"]], on=key, how=pd_how)
        return _pandas_summary(merged, "id1", "v2", "v2")

    @wl.implement("polars")
    def _polars(c: Ctx) -> Any:
        import polars as pl

        merged = c.x.select(left_cols).join(c.tables[size].select(key, "v2"), on=key, how=pd_how)
        return merged.group_by("id1").agg(
            pl.len().alias("n"), pl.col("v2").count().alias("n_match"), pl.col("v1").sum(), pl.col("v2").sum()
        )

    @wl.implement("dask")
    def _dask(c: Ctx) -> Any:
        merged = c.x[left_cols].merge(c.tables[size][[key, "v2"]], on=key, how=pd_how, **dask_broadcast(c, size))
        return _pandas_summary(merged, "id1", "v2", "v2", c)

    @wl.implement("spark")
    def _spark(c: Ctx) -> Any:
        right = spark_broadcast(c, size, c.tables[size].select(key, "v2"))
        merged = c.x.select(left_cols).join(right, on=key, how=pd_how)
        return _spark_summary(merged, "id1", "v2", "v2")

    @wl.implement("ray")
    def _ray(c: Ctx) -> Any:
        right = c.tables[size].select_columns([key, "v2"])
        merged = ray_join(c, size, c.x.select_columns(left_cols), right, key, key, how)
        return _ray_summary(c, merged, "id1", "v2", "v2")

    @wl.ref
    def _ref(t: dict[str, pa.Table]) -> pa.Table:
        merged = t["x"].select(left_cols).join(t[size].select([key, "v2"]), key, join_type=arrow_how)
        return _arrow_summary(merged, "id1", "v2", "v2")

    wl.batched(merge=sum_merge(["id1"]))  # counts and sums by id1, of each batch of x merged whole
    return wl


def _d1_workload(how: str) -> Workload:
    pd_how, sql_how, arrow_how = HOWS[how]
    wl = workload(
        f"join_dim_{how}_agg",
        "join",
        f"fact {how} join dimension of dim_rows rows, then n, matched n, sum v1, sum v1*weight by grp",
        "D1",
        tables=("x", "dim"),
        keys=("grp",),
    )
    wl.sql(
        f"SELECT d.grp, count(*) AS n, count(d.weight) AS n_match, sum(x.v1) AS v1,"
        f" coalesce(sum(x.v1 * d.weight), 0) AS v2 FROM x {sql_how} JOIN dim AS d ON x.fk = d.key GROUP BY d.grp"
    )

    @wl.implement("pandas")
    def _pandas(c: Ctx) -> Any:
        merged = c.x.merge(c.dim, left_on="fk", right_on="key", how=pd_how)
        return _pandas_summary(merged.assign(vw=merged["v1"] * merged["weight"]), "grp", "weight", "vw")

    @wl.implement("polars")
    def _polars(c: Ctx) -> Any:
        import polars as pl

        merged = c.x.join(c.dim, left_on="fk", right_on="key", how=pd_how)
        return merged.group_by("grp").agg(
            pl.len().alias("n"),
            pl.col("weight").count().alias("n_match"),
            pl.col("v1").sum(),
            (pl.col("v1") * pl.col("weight")).sum().alias("v2"),
        )

    @wl.implement("dask")
    def _dask(c: Ctx) -> Any:
        merged = c.x.merge(c.dim, left_on="fk", right_on="key", how=pd_how, **dask_broadcast(c, "dim"))
        return _pandas_summary(merged.assign(vw=merged["v1"] * merged["weight"]), "grp", "weight", "vw", c)

    @wl.implement("spark")
    def _spark(c: Ctx) -> Any:
        from pyspark.sql import functions as F

        dim = spark_broadcast(c, "dim", c.dim)
        merged = c.x.join(dim, c.x["fk"] == dim["key"], how=pd_how)
        return _spark_summary(merged.withColumn("vw", F.col("v1") * F.col("weight")), "grp", "weight", "vw")

    @wl.implement("ray")
    def _ray(c: Ctx) -> Any:
        from ray.data.expressions import col

        merged = ray_join(c, "dim", c.x, c.dim, "fk", "key", how)
        return _ray_summary(c, merged.with_column("vw", col("v1") * col("weight")), "grp", "weight", "vw")

    @wl.ref
    def _ref(t: dict[str, pa.Table]) -> pa.Table:
        merged = t["x"].join(t["dim"], "fk", right_keys="key", join_type=arrow_how)
        weighted = merged.append_column("vw", pc.multiply(merged["v1"], merged["weight"]))
        return _arrow_summary(weighted, "grp", "weight", "vw")

    wl.batched(merge=sum_merge(["grp"]))  # counts and sums by grp, of each batch of x merged whole
    return wl


def _rows_workload(name: str, size: str, key: str, how: str, question: str) -> Workload:
    """A J1 merge that keeps every row and column: x's columns, then the right side's others."""
    pd_how, sql_how, arrow_how = HOWS[how]
    renamed = {col: col + SUFFIX if col in J1_COLUMNS["x"] else col for col in J1_COLUMNS[size] if col != key}
    columns = [*J1_COLUMNS["x"], *renamed.values()]
    # No column identifies a merged row: the answer is compared sorted by all of them.
    wl = workload(name, "join", question, "J1", tables=("x", size), keys=tuple(columns), large_answer=True)
    picked = ", ".join(f"r.{col} AS {out}" for col, out in renamed.items())
    wl.sql(f"SELECT x.*, {picked} FROM x {sql_how} JOIN {size} AS r ON x.{key} = r.{key}")

    @wl.implement("pandas")
    def _pandas(c: Ctx) -> Any:
        return c.x.merge(c.tables[size], on=key, how=pd_how, suffixes=("", SUFFIX))

    @wl.implement("polars")
    def _polars(c: Ctx) -> Any:
        return c.x.join(c.tables[size], on=key, how=pd_how, suffix=SUFFIX)

    @wl.implement("dask")
    def _dask(c: Ctx) -> Any:
        return c.x.merge(c.tables[size], on=key, how=pd_how, suffixes=("", SUFFIX), **dask_broadcast(c, size))

    @wl.implement("spark")
    def _spark(c: Ctx) -> Any:
        from pyspark.sql import functions as F

        # Spark keeps both sides' names as they are: the right side's are renamed first.
        right = c.tables[size].select(key, *(F.col(col).alias(out) for col, out in renamed.items()))
        return c.x.join(spark_broadcast(c, size, right), on=key, how=pd_how)

    @wl.implement("ray")
    def _ray(c: Ctx) -> Any:
        return ray_join(c, size, c.x, c.tables[size], key, key, how, SUFFIX).select_columns(columns)

    @wl.ref
    def _ref(t: dict[str, pa.Table]) -> pa.Table:
        return t["x"].join(t[size], key, join_type=arrow_how, right_suffix=SUFFIX).select(columns)

    wl.rowwise = True  # each row of x merged on its own: a batch of x gives the rows of its answer
    return wl


def _dim_rows_workload() -> Workload:
    """The dimension sweep's merge that keeps every row: the fact's columns, grp and weight."""
    columns = ["fk", "v1", "grp", "weight"]
    wl = workload(
        "join_dim_inner",
        "join",
        "fact inner join dimension of dim_rows rows, every row: fk, v1, grp, weight",
        "D1",
        tables=("x", "dim"),
        keys=tuple(columns),
        large_answer=True,
    )
    wl.sql("SELECT x.*, d.grp, d.weight FROM x INNER JOIN dim AS d ON x.fk = d.key")

    @wl.implement("pandas")
    def _pandas(c: Ctx) -> Any:
        return c.x.merge(c.dim, left_on="fk", right_on="key").drop(columns="key")

    @wl.implement("polars")
    def _polars(c: Ctx) -> Any:
        return c.x.join(c.dim, left_on="fk", right_on="key")  # an inner join keeps one key column

    @wl.implement("dask")
    def _dask(c: Ctx) -> Any:
        return c.x.merge(c.dim, left_on="fk", right_on="key", **dask_broadcast(c, "dim")).drop(columns="key")

    @wl.implement("spark")
    def _spark(c: Ctx) -> Any:
        dim = spark_broadcast(c, "dim", c.dim)
        return c.x.join(dim, c.x["fk"] == dim["key"]).drop("key")

    @wl.implement("ray")
    def _ray(c: Ctx) -> Any:
        return ray_join(c, "dim", c.x, c.dim, "fk", "key", "inner").select_columns(columns)

    @wl.ref
    def _ref(t: dict[str, pa.Table]) -> pa.Table:
        return t["x"].join(t["dim"], "fk", right_keys="key", join_type="inner").select(columns)

    wl.rowwise = True  # each row of x merged on its own: a batch of x gives the rows of its answer
    return wl


for _name, _size, _key, _how, _question in (
    ("join_small_inner", "small", "id1", "inner", "x inner join small on id1, every row and column"),
    ("join_medium_inner", "medium", "id2", "inner", "x inner join medium on id2, every row and column"),
    ("join_medium_left", "medium", "id2", "left", "x left join medium on id2, every row and column"),
    ("join_medium_inner_str", "medium", "id5", "inner", "x inner join medium on the string key id5, every row"),
    ("join_big_inner", "big", "id3", "inner", "x inner join big on id3, every row and column"),
):
    _rows_workload(_name, _size, _key, _how, _question)
_dim_rows_workload()
for _size, _key in (("small", "id1"), ("medium", "id2"), ("big", "id3")):
    for _how in HOWS:
        _j1_workload(_size, _key, _how)
for _how in HOWS:
    _d1_workload(_how)
