"""Every name breakeven gives a configuration, a session and a question, built here once.

A case being planned (``cases.Case``) and a case as a record keeps it (``results.RecordedCase``)
have the same fields, so both are named by these functions: a label never differs between the
run that measured a case and the report that reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from breakeven.data import get_kind
from breakeven.units import fmt_num


@dataclass(frozen=True)
class CaseParams:
    """The fields that name a case: ``cases.Case`` (which checks them against today's catalogue)
    and ``results.RecordedCase`` (which keeps them as recorded) both have exactly these."""

    workload: str
    engine: str
    mode: str
    profile: str
    rows: int
    k: int = 100
    nas: int = 0
    sorted: bool = False
    dim_rows: int | None = None
    chunk_rows: int | None = None
    seed: int = 0
    topology: str | None = None  # the cluster mode's topology
    sink: str | None = None  # where a large answer goes (workloads.SINKS); None for a small one
    source: str = "memory"  # where the tables come from (workloads.SOURCES)
    user_data: str | None = None  # a user's own tables (--table): their set's id, see user_data


class CaseFields(Protocol):
    """What a label reads of a case (``cases.Case`` and ``results.RecordedCase`` both have it)."""

    workload: str
    engine: str
    mode: str
    profile: str
    rows: int
    k: int
    nas: int
    sorted: bool
    dim_rows: int | None
    chunk_rows: int | None
    topology: str | None
    sink: str | None
    source: str
    user_data: str | None

    @property
    def data_kind(self) -> str: ...


def config_label(engine: str, mode: str, profile: str, topology: str | None = None) -> str:
    """``engine:mode:profile``, with ``@topology`` in the cluster mode: ``dask:cluster:tuned@2x1``."""
    at = f"@{topology}" if topology else ""
    return f"{engine}:{mode}:{profile}{at}"


def short_config(label: str) -> str:
    """``duckdb:single:default`` -> ``duckdb``, ``polars:eager:default`` -> ``polars:eager``."""
    return ":".join(p for p in label.split(":") if p not in ("single", "default"))


def session_label(
    engine: str,
    mode: str,
    profile: str,
    topology: str | None,
    data_name: str,
    chunk_rows: int | None,
    source: str = "memory",
) -> str:
    """One engine session's name: ``dask-processes-tuned.G1_1e6_1e2_0_0.c1e5``, and ``.files``
    where the tables are read from files; a case's id is its workload's name, a dot, and this."""
    chunk = f".c{fmt_num(chunk_rows)}" if chunk_rows else ""
    files = f".{source}" if source != "memory" else ""
    return f"{worker_label(engine, mode, profile, topology)}.{data_name}{chunk}{files}"


def worker_label(engine: str, mode: str, profile: str, topology: str | None) -> str:
    """An engine session's worker, the first part of its cases' session labels (and of its log's
    name): ``dask-processes-tuned``, ``spark-cluster@2x1-default``."""
    at = f"@{topology}" if topology else ""
    return f"{engine}-{mode}{at}-{profile}"


def question_label(case: CaseFields, chunked: bool = True) -> str:
    """The workload, the data parameters other than rows, the sink and a source other than memory:
    ``transform_udf nas=5% chunk=1e5 sink=parquet from=files``; without the chunk size when
    ``chunked`` is false (where engines that choose their own chunks ran the question). Verdicts
    compare configurations on one question: never across sources."""
    if case.user_data:  # the user's tables: none of a generated kind's parameters
        parts = [case.workload, f"data={case.user_data}"]
    else:
        parts = [case.workload, *get_kind(case.data_kind).describe(case)]
    if chunked and case.chunk_rows:
        parts.append(f"chunk={fmt_num(case.chunk_rows)}")
    if case.sink:
        parts.append(f"sink={case.sink}")
    if case.source != "memory":
        parts.append(f"from={case.source}")
    return " ".join(parts)


def workload_label(workload: str, sink: str | None) -> str:
    """A case id's first part: the workload, and its sink where it has one (``transform_udf-parquet``)."""
    return f"{workload}-{sink}" if sink else workload
