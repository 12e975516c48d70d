"""Merges followed by an aggregate, each engine side by side.

- ``join_{small,medium,big}_{inner,left}``: J1's big table ``x`` merged with a right table of
  N/1e6, N/1e3 or N rows (keys id1, id2, id3), then grouped by x.id1.
- ``join_dim_{inner,left}``: D1's fact table merged with a dimension table of ``dim_rows``
  rows (the sweep across each engine's broadcast threshold), then grouped by the dimension's
  ``grp``.

Each answer has the row count, the matched count, and sums from both sides, so a join that
drops or duplicates rows, or gets left-join semantics wrong, fails verification. Both sides
are projected to the columns the question needs before the merge, in every engine.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from breakeven.workloads import Ctx, Workload, rayops, sparkops, workload

HOWS = {"inner": ("inner", "INNER", "inner"), "left": ("left", "LEFT", "left outer")}  # pandas/polars, SQL, pyarrow
RAY_HOWS = {"inner": "inner", "left": "left_outer"}
BROADCAST_RATIO = 10  # tuned profiles broadcast a right side of at most a tenth of the left side's rows


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


def ray_join(c: Ctx, right: str, left: Any, other: Any, key: str, right_key: str, how: str) -> Any:
    """Ray Data: the tuned profile broadcasts a small right side (see ``rayops.broadcast_join``);
    otherwise ``Dataset.join``, a hash shuffle of both sides into the profile's partitions."""
    if small_right(c, right):
        return rayops.broadcast_join(left, rayops.fetch(other), key, right_key, HOWS[how][2])
    return left.join(other, RAY_HOWS[how], c.session.join_partitions, on=(key,), right_on=(right_key,))


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
        f"join_{size}_{how}",
        "join",
        f"x {how} join {size} on {key}, then n, matched n, sum v1, sum v2 by x.id1",
        "J1",
        tables=("x", size),
        keys=("id1",),
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

    return wl


def _d1_workload(how: str) -> Workload:
    pd_how, sql_how, arrow_how = HOWS[how]
    wl = workload(
        f"join_dim_{how}",
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

    return wl


for _size, _key in (("small", "id1"), ("medium", "id2"), ("big", "id3")):
    for _how in HOWS:
        _j1_workload(_size, _key, _how)
for _how in HOWS:
    _d1_workload(_how)
