"""The records' schema: its versions, what each added, and how a record (or ``run.json``) of an
older version is read as today's (``upgrade``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from breakeven.errors import UsageError

# 2: memory is the tree's PSS (peak_memory_bytes), was a sum of RSS
# 3: the cluster mode: ``case.topology`` and ``cluster`` (kind, address, topology, engine's view, start-up)
# 4: ``memory_method`` (what counted ``peak_memory_bytes``: ``cgroup-v1``, ``cgroup-v2``, ``sampled-pss``;
#    ``pss-50ms`` for the older records, PSS of every process every 50 ms) and ``runner_cpu_seconds``
#    (the runner's own CPU during the timed phase); run.json's ``settings.memory_method``; the
#    question as the report needs it: ``case.data_kind``, ``question``, ``takes_chunks``
# 5: ``case.sink``, where a large answer went (``collect`` for every older transform); the merges
#    that aggregate renamed ``..._agg`` (their old names are the merges that keep their rows)
# 6: ``case.source``, where the tables came from (``memory``; ``files`` for Polars' streaming mode,
#    which until then always scanned the files inside the query: its case ids gain ``.files``)
# 7: ``reference``, how the reference answer was made: ``function`` (every older record), or
#    ``engine polars`` for a user's workload that takes an engine's answer as the reference;
#    ``case.user_data`` and ``data_source``: a user's own tables (``--table``), described
# 8: ``parquet_codec``, the codec of a written answer (``engines.PARQUET_CODEC``; older records of
#    Polars wrote zstd, the other engines snappy), ``cores_used``, the CPU seconds of the timed
#    runs over their time (derived for older records from ``cpu_seconds``), the case's limits,
#    ``timeout`` and ``memory_budget`` (for older records, their run's settings when read), and
#    ``case_seconds``, what the case took of its timeout (unknown for older records)
SCHEMA_VERSION = 8
OLD_MEMORY_METHOD = "pss-50ms"


def _question_of_old(record: dict[str, Any]) -> None:
    """What a record of schema 3 lacks of its question: the data kind from its data set's name,
    the rest from the workload catalogue if it still has the workload, else the record's own."""
    from breakeven.workloads import CATALOGUE

    case = record["case"]
    name = case.get("workload")
    wl = CATALOGUE.get(name) if name else None
    case.setdefault("data_kind", record["data"].split("_")[0] if record.get("data") else wl and wl.data_kind)
    record.setdefault("question", wl.question if wl else name)
    record.setdefault("takes_chunks", wl.uses_chunks(case["engine"]) if wl else case.get("chunk_rows") is not None)


def _join_renamed(record: dict[str, Any]) -> None:
    """Every merge of schema 4 and before aggregated after merging: it is now ``..._agg`` (the old
    names are those of the merges that keep their rows)."""
    case = record["case"]
    name = case.get("workload") or ""
    if record.get("family") == "join" and not name.endswith("_agg"):
        case["workload"] = f"{name}_agg"
        if str(record.get("case_id", "")).startswith(f"{name}."):
            record["case_id"] = f"{name}_agg{record['case_id'][len(name) :]}"


def _source_of_old(record: dict[str, Any]) -> None:
    """Before the sources every table was loaded into memory, except in Polars' streaming mode,
    which scanned the files inside the query: the ``files`` source's cold query."""
    case = record["case"]
    streaming = case.get("engine") == "polars" and case.get("mode") == "streaming"
    case["source"] = "files" if streaming else "memory"
    if streaming and not str(record.get("case_id", "")).endswith(".files"):
        record["case_id"] = f"{record['case_id']}.files"


def _planned_of_old(meta: dict[str, Any]) -> None:
    """run.json's planned case ids, as ``_source_of_old`` renames them."""
    meta["planned"] = [f"{i}.files" if ".polars-streaming-" in i else i for i in meta.get("planned") or ()]


def upgrade(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a record (or run.json) of an older schema up to date: version 2 had no cluster mode,
    version 3 measured memory only one way and not the runner's own CPU, version 4 had no sinks,
    version 5 no sources, version 6 no word of how the reference was made, version 7 no codec and
    no cores used."""
    version = record.get("schema")
    if version == 2:
        if "case" in record:
            record["case"].setdefault("topology", None)
            record.setdefault("cluster", None)
        record["schema"] = version = 3
    if version == 3:
        if "case" in record:
            record.setdefault("memory_method", OLD_MEMORY_METHOD)
            record.setdefault("runner_cpu_seconds", None)
            _question_of_old(record)
        elif "settings" in record:
            record["settings"].setdefault("memory_method", OLD_MEMORY_METHOD)
        record["schema"] = version = 4
    if "case" in record and "takes_chunks" not in record:  # written while schema 4 was being made
        _question_of_old(record)
    if version == 4:
        if "case" in record:  # before the sinks, every answer came back to the driver
            record["case"]["sink"] = "collect" if record.get("family") == "transform" else None
            _join_renamed(record)
        record["schema"] = version = 5
    if version == 5:
        if "case" in record:
            _source_of_old(record)
        elif "planned" in record:
            _planned_of_old(record)
        record["schema"] = version = 6
    if version == 6:
        if "case" in record:
            record.setdefault("reference", "function")
        record["schema"] = version = 7
    if version == 7:
        if "case" in record:
            sink, engine = record["case"].get("sink"), record["case"].get("engine")
            record["parquet_codec"] = ("zstd" if engine == "polars" else "snappy") if sink == "parquet" else None
            times = record.get("times") or {}
            record["cores_used"] = cores_used(record.get("cpu_seconds"), times.get("cold"), times.get("repeats") or ())
        record["schema"] = version = SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise UsageError(f"results file {path} has schema {version!r}; this breakeven reads schema {SCHEMA_VERSION}")
    return record


def cores_used(cpu_seconds: float | None, cold: float | None, repeats: Iterable[float]) -> float | None:
    """The cores a case kept busy: the CPU seconds of its process tree in the timed runs (the cold
    run and the repeats, metered by the runner) over their time; None where either is missing."""
    runs = [t for t in (cold, *repeats) if t is not None]
    return round(cpu_seconds / sum(runs), 3) if cpu_seconds is not None and runs and sum(runs) > 0 else None
