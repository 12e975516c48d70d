"""Versioned JSON result records: one run folder, one file per finished case, written atomically.

Layout: ``<results>/runs/<run_id>/run.json`` (machine, versions, settings, planned cases) and
``cases/<case_id>.json`` (one record each). A run interrupted at any point keeps every case
that finished; ``--resume`` skips them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from breakeven.errors import UsageError

# 2: memory is the tree's PSS (peak_memory_bytes), was a sum of RSS
# 3: the cluster mode: ``case.topology`` and ``cluster`` (kind, address, topology, engine's view, start-up)
# 4: ``memory_method`` (what counted ``peak_memory_bytes``: ``cgroup-v1``, ``cgroup-v2``, ``sampled-pss``;
#    ``pss-50ms`` for the older records, PSS of every process every 50 ms) and ``runner_cpu_seconds``
#    (the runner's own CPU during the timed phase); run.json's ``settings.memory_method``
SCHEMA_VERSION = 4
OLD_MEMORY_METHOD = "pss-50ms"
STATUSES = ("ok", "wrong_result", "timeout", "memory", "crashed", "unsupported", "unavailable")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"results file {path} is corrupt or unreadable ({exc}): delete it or restore it") from None


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
        elif "settings" in record:
            record["settings"].setdefault("memory_method", OLD_MEMORY_METHOD)
        record["schema"] = version = SCHEMA_VERSION
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
