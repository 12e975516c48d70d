"""Versioned JSON result records: one run folder, one file per finished case, written atomically.

Layout: ``<results>/runs/<run_id>/run.json`` (machine, versions, settings, planned cases) and
``cases/<case_id>.json`` (one record each). A run interrupted at any point keeps every case
that finished; ``--resume`` skips them.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakeven.errors import UsageError
from breakeven.files import read_json, write_json_atomic

if TYPE_CHECKING:
    from breakeven.cases import Case

# 2: memory is the tree's PSS (peak_memory_bytes), was a sum of RSS
# 3: the cluster mode: ``case.topology`` and ``cluster`` (kind, address, topology, engine's view, start-up)
# 4: ``memory_method`` (what counted ``peak_memory_bytes``: ``cgroup-v1``, ``cgroup-v2``, ``sampled-pss``;
#    ``pss-50ms`` for the older records, PSS of every process every 50 ms) and ``runner_cpu_seconds``
#    (the runner's own CPU during the timed phase); run.json's ``settings.memory_method``; the
#    question as the report needs it: ``case.data_kind``, ``question``, ``takes_chunks``
SCHEMA_VERSION = 4
OLD_MEMORY_METHOD = "pss-50ms"
STATUSES = ("ok", "wrong_result", "timeout", "memory", "crashed", "unsupported", "unavailable")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


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


def upgrade(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a record (or run.json) of an older schema up to date: version 2 had no cluster mode,
    version 3 measured memory only one way and not the runner's own CPU."""
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
        record["schema"] = version = SCHEMA_VERSION
    if "case" in record and "takes_chunks" not in record:  # written while schema 4 was being made
        _question_of_old(record)
    if version != SCHEMA_VERSION:
        raise UsageError(f"results file {path} has schema {version!r}; this breakeven reads schema {SCHEMA_VERSION}")
    return record


@dataclass
class RunStore:
    """One run's folder."""

    root: Path

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def cases_dir(self) -> Path:
        return self.root / "cases"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @classmethod
    def create(cls, results_dir: Path, run_id: str, meta: dict[str, Any]) -> RunStore:
        store = cls(results_dir / "runs" / run_id)
        check_writable(results_dir)
        store.cases_dir.mkdir(parents=True, exist_ok=True)
        store.log_dir.mkdir(exist_ok=True)
        write_json_atomic(store.root / "run.json", {"schema": SCHEMA_VERSION, "run_id": run_id} | meta)
        return store

    @classmethod
    def all(cls, results_dir: Path) -> list[RunStore]:
        """Every run under ``results_dir``, in the order of their names."""
        runs = results_dir / "runs"
        return [cls(p) for p in sorted(runs.glob("*")) if (p / "run.json").exists()] if runs.exists() else []

    @classmethod
    def open(cls, results_dir: Path, run_id: str | None) -> RunStore:
        """An existing run; ``None`` means the newest."""
        runs = results_dir / "runs"
        if run_id is None:
            found = [store.run_id for store in cls.all(results_dir)]
            if not found:
                raise UsageError(f"no runs under {runs}: run `breakeven run` first")
            run_id = found[-1]
        store = cls(runs / run_id)
        if not (store.root / "run.json").exists():
            raise UsageError(f"no run {run_id!r} under {runs}: the runs are the folders there")
        return store

    def meta(self) -> dict[str, Any]:
        return upgrade(read_json(self.root / "run.json"), self.root / "run.json")

    def update_meta(self, **fields: Any) -> None:
        write_json_atomic(self.root / "run.json", self.meta() | fields)

    def write(self, record: dict[str, Any]) -> None:
        write_json_atomic(self.cases_dir / f"{record['case_id']}.json", record)

    def records(self) -> list[dict[str, Any]]:
        if not self.cases_dir.exists():
            return []
        return [upgrade(read_json(p), p) for p in sorted(self.cases_dir.glob("*.json"))]

    def done_ids(self) -> set[str]:
        return {r["case_id"] for r in self.records()}


def check_writable(results_dir: Path) -> None:
    """Fail early, with the fix, if results cannot be written."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot write results to {results_dir} ({exc.strerror}): pass --results DIR with a writable folder"
        ) from None


NOISY_SPREAD = 0.10  # (max - min) / median of the repeats above this is flagged as noisy


def summarise(times: list[float]) -> dict[str, Any]:
    if not times:
        return {"median": None, "spread": None, "noisy": False}
    median = statistics.median(times)
    spread = (max(times) - min(times)) / median if median > 0 else 0.0
    return {"median": median, "spread": spread, "noisy": spread > NOISY_SPREAD}


def make_record(case: Case, run_id: str, status: str, reason: str | None, **found: Any) -> dict[str, Any]:
    """A result record; the fields that a failed case lacks are None."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    repeats = found.get("repeats") or []
    stats = summarise(repeats)
    startup, load = found.get("startup"), found.get("load")
    end_to_end = None
    if status == "ok" and None not in (startup, load, stats["median"]):
        end_to_end = startup + load + stats["median"]
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "case_id": case.id,
        # What the report and the verdicts need of the question, kept with the record so that an
        # old run never depends on today's workload catalogue.
        "case": case.to_dict() | {"data_kind": case.wl.data_kind},
        "family": case.wl.family,
        "question": case.wl.question,
        "takes_chunks": case.wl.uses_chunks(case.engine),
        "data": case.data.name,
        "distributed": case.config.distributed,
        "status": status,
        "reason": reason,
        "times": {
            "startup": startup,
            "load": load,
            "cold": found.get("cold"),
            "repeats": repeats,
            "compute_median": stats["median"],
            "end_to_end": end_to_end,
        },
        "spread": stats["spread"],
        "noisy": stats["noisy"],
        "peak_memory_bytes": found.get("peak_memory_bytes"),
        "load_peak_memory_bytes": found.get("load_peak_memory_bytes"),
        "memory_method": found.get("memory_method"),
        "cpu_seconds": found.get("cpu_seconds"),
        "runner_cpu_seconds": found.get("runner_cpu_seconds"),
        "rows_out": found.get("rows_out"),
        "checksum": found.get("checksum"),
        "log": found.get("log"),
        "cluster": found.get("cluster"),
        "finished_at": now_iso(),
    }
