"""Spark idioms the workloads share."""

from __future__ import annotations

from typing import Any


def sum_or_zero(col: str, alias: str | None = None) -> Any:
    """``sum`` with an empty sum of 0, as the questions define it (Spark's sum gives null)."""
    from pyspark.sql import functions as F

    return F.coalesce(F.sum(col), F.lit(0)).alias(alias or col)
