"""Two questions of my own, on breakeven's group-by table (G1: string keys id1..id3, integer keys
id4..id6, integers v1 and v2, float v3), as a user writes them for

    breakeven run --workload-file examples/my_questions.py --rows 1e6 --rows 1e7

Each question is declared with ``workload`` (its name, family, a sentence, the data kind, the
columns it reads and the keys of its answer), then implemented per engine with
``@question.implement("engine")``: a function of the loaded tables (``c.x``) that returns the
engine's own result; the runner materialises it inside the timer. Engines without an
implementation are recorded ``unsupported``. The reference answer is a pyarrow function
(``@question.ref``), or one engine's answer (``question.reference_engine("pandas")``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from breakeven.workloads import Ctx, workload

# 1. Revenue of the expensive rows, per customer group: a filter, then a grouped sum and count.
REVENUE = workload(
    "my_revenue_high_v3",
    "groupby",
    "sum v1 and count rows with v3 > 50, by id4",
    "G1",
    keys=("id4",),
    columns={"x": ("id4", "v1", "v3")},
)
REVENUE.sql("SELECT id4, sum(v1) AS v1, count(*) AS n FROM x WHERE v3 > 50 GROUP BY id4")  # DuckDB


@REVENUE.implement("pandas")
def _revenue_pandas(c: Ctx) -> Any:
    x = c.x
    return x[x["v3"] > 50].groupby("id4", as_index=False).agg(v1=("v1", "sum"), n=("v1", "size"))


@REVENUE.implement("polars")
def _revenue_polars(c: Ctx) -> Any:
    import polars as pl

    return c.x.filter(pl.col("v3") > 50).group_by("id4").agg(pl.col("v1").sum(), pl.len().alias("n"))


@REVENUE.implement("dask")
def _revenue_dask(c: Ctx) -> Any:
    x = c.x
    return x[x["v3"] > 50].groupby("id4").agg(v1=("v1", "sum"), n=("v1", "count")).reset_index()


@REVENUE.implement("spark")
def _revenue_spark(c: Ctx) -> Any:
    from pyspark.sql import functions as F

    return c.x.where(F.col("v3") > 50).groupBy("id4").agg(F.sum("v1").alias("v1"), F.count("*").alias("n"))


@REVENUE.implement("ray")
def _revenue_ray(c: Ctx) -> Any:
    from ray.data.aggregate import Count, Sum
    from ray.data.expressions import col

    return c.x.filter(expr=col("v3") > 50).groupby("id4").aggregate(Sum("v1", alias_name="v1"), Count(alias_name="n"))


@REVENUE.ref
def _revenue_reference(t: dict[str, pa.Table]) -> pa.Table:
    x = t["x"]
    kept = x.filter(pc.greater(x["v3"], 50))
    out = kept.group_by("id4").aggregate([("v1", "sum"), ("v1", "count")])
    return out.rename_columns(["id4", "v1", "n"])


# 2. The spread of v3 per id4 among the rows with v2 >= 10, written for pandas and Dask only (the
# other engines are recorded unsupported), with a function of my own run on every Dask partition,
# and pandas' answer as the reference.
def keep_high_v2(frame: Any) -> Any:
    """The rows with v2 >= 10 of one pandas frame (a Dask partition)."""
    return frame[frame["v2"] >= 10]


SPREAD = workload(
    "my_v3_spread",
    "groupby",
    "max v3 - min v3 of rows with v2 >= 10, by id4",
    "G1",
    keys=("id4",),
    columns={"x": ("id4", "v2", "v3")},
)
SPREAD.reference_engine("pandas")


@SPREAD.implement("pandas")
def _spread_pandas(c: Ctx) -> Any:
    out = keep_high_v2(c.x).groupby("id4", as_index=False).agg(lo=("v3", "min"), hi=("v3", "max"))
    return out.assign(spread=out["hi"] - out["lo"])[["id4", "spread"]]


@SPREAD.implement("dask")
def _spread_dask(c: Ctx) -> Any:
    out = c.x.map_partitions(keep_high_v2).groupby("id4").agg(lo=("v3", "min"), hi=("v3", "max")).reset_index()
    return out.assign(spread=out["hi"] - out["lo"])[["id4", "spread"]]
