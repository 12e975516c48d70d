"""Versioned JSON result records: one run folder, one file per finished case, written atomically.

Layout: ``<results>/runs/<run_id>/run.json`` (machine, versions, settings, planned cases) and
``cases/<case_id>.json`` (one record each). A run interrupted at any point keeps every case
that finished; ``--resume`` skips them.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakeven import user_data
from breakeven.engines import PARQUET_CODEC
from breakeven.errors import UsageError
from breakeven.files import read_json, write_json_atomic
from breakeven.labels import CaseParams, config_label, question_label
from breakeven.schema import OLD_MEMORY_METHOD, SCHEMA_VERSION, cores_used, upgrade

if TYPE_CHECKING:
    from collections.abc import Iterable

    from breakeven.cases import Case

STATUSES = ("ok", "wrong_result", "timeout", "memory", "crashed", "unsupported", "unavailable")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class RecordedCase(CaseParams):
    """What was run, as the record keeps it: ``cases.Case``'s fields and the data kind, so that an
    old record is read without today's workload catalogue."""

    data_kind: str = ""  # always written (make_record, upgrade); a default only because it comes last

    @property
    def config_label(self) -> str:
        return config_label(self.engine, self.mode, self.profile, self.topology)

    @property
    def question_label(self) -> str:
        return question_label(self)

    @property
    def unchunked_label(self) -> str:
        """The question without its chunk size: where engines that choose their own chunks ran it."""
        return question_label(self, chunked=False)


@dataclass(frozen=True)
class Times:
    """A case's phases in seconds; None where the case did not get that far."""

    startup: float | None = None
    load: float | None = None
    cold: float | None = None
    repeats: tuple[float, ...] = ()
    compute_median: float | None = None
    end_to_end: float | None = None  # start-up + load + the compute median

    def metric(self, name: str) -> float | None:
        """``compute_median`` or ``end_to_end``, the two times verdicts are given for."""
        if name not in ("compute_median", "end_to_end"):
            raise ValueError(f"no metric {name!r}")
        return getattr(self, name)


@dataclass(frozen=True)
class Record:
    """One finished case (``cases/<case_id>.json``), in the spirit of pyperf's ``Run``: what was
    run, how it ended, its times, memory and answer."""

    run_id: str
    case_id: str
    case: RecordedCase
    family: str
    question: str  # what the workload asks, in words
    takes_chunks: bool  # the engine was given the chunk size (Polars and DuckDB choose their own)
    data: str  # the data set's name: ``G1_1e7_1e2_0_0``
    distributed: bool
    status: str
    reason: str | None
    times: Times
    finished_at: str
    spread: float | None = None
    noisy: bool = False
    peak_memory_bytes: int | None = None
    load_peak_memory_bytes: int | None = None
    memory_method: str | None = None
    cpu_seconds: float | None = None
    runner_cpu_seconds: float | None = None
    rows_out: int | None = None
    checksum: str | None = None
    log: str | None = None
    cluster: dict[str, Any] | None = None  # kind, address, topology, the engine's view, start-up
    reference: str | None = None  # how the reference answer was made: function, or engine NAME
    data_source: dict[str, Any] | None = None  # a user's tables (--table): paths, rows, bytes, columns
    parquet_codec: str | None = None  # the codec of the answer written by the ``parquet`` sink
    cores_used: float | None = None  # CPU seconds of the timed runs over their time (``cores_used``)
    timeout: float | None = None  # the most the case could take: its cold run, repeats and check
    case_seconds: float | None = None  # what the case took of it, start to end (within its timeout)
    memory_budget: int | None = None  # bytes its process tree could hold (None: no budget)
    schema: int = SCHEMA_VERSION
    run_cores: int | None = field(default=None, compare=False)  # from run.json: the cores the run gave each engine

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def own_chunks(self) -> bool:
        """A single-machine engine that chooses its own chunks for this workload (Polars, DuckDB)."""
        return not self.distributed and not self.takes_chunks

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["run_cores"]  # run.json's, not the record's
        out["times"]["repeats"] = list(self.times.repeats)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], run_cores: int | None = None) -> Record:
        fields_ = {k: v for k, v in raw.items() if k in _RECORD_FIELDS}
        fields_["case"] = RecordedCase(**{k: v for k, v in raw["case"].items() if k in _CASE_FIELDS})
        times = raw["times"]
        fields_["times"] = Times(
            **{k: v for k, v in times.items() if k in _TIMES_FIELDS} | {"repeats": tuple(times.get("repeats") or ())}
        )
        return cls(**fields_, run_cores=run_cores)


_RECORD_FIELDS = {f.name for f in fields(Record)} - {"run_cores"}
_CASE_FIELDS = {f.name for f in fields(RecordedCase)}
_TIMES_FIELDS = {f.name for f in fields(Times)}


@dataclass(frozen=True)
class RunSettings:
    """What a run was given."""

    repeats: int | None = None
    timeout: float | None = None
    memory_budget: int | None = None
    cores: int | None = None
    memory_method: str = OLD_MEMORY_METHOD
    memory_method_why: str | None = None
    cluster: dict[str, Any] | None = None  # engine, topologies, address
    cpus: list[int] | None = None  # the CPUs every session was held to (--cores below the machine's); None: all


@dataclass(frozen=True)
class RunMeta:
    """A run's ``run.json``: the machine, every version, the settings and the planned cases."""

    run_id: str = ""
    created: str | None = None
    machine: dict[str, Any] = field(default_factory=dict)  # hostname, cpu, cores, memory_bytes, os
    versions: dict[str, str] = field(default_factory=dict)
    suite: str | None = None
    settings: RunSettings = field(default_factory=RunSettings)
    planned: tuple[str, ...] = ()
    finished: str | None = None
    wall_seconds: float | None = None  # over every sitting (``--resume`` adds its own)
    runner_cpu_seconds: float | None = None  # the same
    # Each `breakeven run` that wrote into it, as typed: the first made it, the others resumed it.
    commands: tuple[str, ...] = ()
    schema: int = SCHEMA_VERSION

    @property
    def memory_bytes(self) -> int:
        return self.machine.get("memory_bytes") or 0

    @property
    def machine_label(self) -> str:
        m = self.machine
        return f"{m.get('hostname', '?')} ({m.get('cores', '?')} cores, {self.memory_bytes / 2**30:.0f} GiB)"

    @property
    def machine_description(self) -> str:
        m = self.machine
        memory = self.memory_bytes / 2**30
        return f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {memory:.0f} GiB, {m.get('os', '?')}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["planned"] = list(self.planned)
        out["commands"] = list(self.commands)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunMeta:
        known = {k: v for k, v in raw.items() if k in _META_FIELDS}
        settings = raw.get("settings") or {}
        known["settings"] = RunSettings(**{k: v for k, v in settings.items() if k in _SETTINGS_FIELDS})
        known["planned"] = tuple(raw.get("planned") or ())
        known["commands"] = tuple(raw.get("commands") or ())
        return cls(**known)


_META_FIELDS = {f.name for f in fields(RunMeta)}
_SETTINGS_FIELDS = {f.name for f in fields(RunSettings)}


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
    def create(cls, results_dir: Path, run_id: str, meta: RunMeta) -> RunStore:
        store = cls(results_dir / "runs" / run_id)
        check_writable(results_dir)
        store.cases_dir.mkdir(parents=True, exist_ok=True)
        store.log_dir.mkdir(exist_ok=True)
        write_json_atomic(store.root / "run.json", replace(meta, run_id=run_id).to_dict())
        return store

    @classmethod
    def all(cls, results_dir: Path) -> list[RunStore]:
        """Every run under ``results_dir``, oldest first by when it started (``created``), never
        by name: ``network-...`` sorts after ``2026...`` whenever it was made."""
        runs = results_dir / "runs"
        found = [cls(p) for p in runs.glob("*") if (p / "run.json").exists()] if runs.exists() else []
        return sorted(found, key=lambda store: (store.started, store.run_id))

    @property
    def started(self) -> str:
        """When the run started (ISO 8601, UTC), from its run.json; its file's time if it does not say."""
        path = self.root / "run.json"
        created = read_json(path).get("created")
        return created or datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")

    @classmethod
    def open(cls, results_dir: Path, run_id: str | None) -> RunStore:
        """An existing run; ``None`` means the newest (the one started last)."""
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

    def meta(self) -> RunMeta:
        path = self.root / "run.json"
        return RunMeta.from_dict(upgrade(read_json(path), path))

    def update_meta(self, **changes: Any) -> None:
        write_json_atomic(self.root / "run.json", replace(self.meta(), **changes).to_dict())

    def write(self, record: Record) -> None:
        write_json_atomic(self.cases_dir / f"{record.case_id}.json", record.to_dict())

    def records(self) -> list[Record]:
        """Every finished case, each with the cores its run gave the engines, and (a record older
        than schema 8) the limits of its run."""
        if not self.cases_dir.exists():
            return []
        settings = self.meta().settings
        found = [_record(p, settings.cores) for p in sorted(self.cases_dir.glob("*.json"))]
        return [
            r if r.timeout is not None else replace(r, timeout=settings.timeout, memory_budget=settings.memory_budget)
            for r in found
        ]

    def done_ids(self) -> set[str]:
        return {r.case_id for r in self.records()}


def _record(path: Path, run_cores: int | None) -> Record:
    raw = upgrade(read_json(path), path)
    try:
        return Record.from_dict(raw, run_cores)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"results file {path} is not a whole record ({type(exc).__name__}: {exc})") from None


def newest(records: Iterable[Record]) -> list[Record]:
    """Each case once, its newest record: a case measured again (with as many cores) replaces
    what it measured; a run with other ``--cores`` measured another configuration."""
    kept: dict[tuple[str, int | None], Record] = {}
    for record in records:
        key = (record.case_id, record.run_cores)
        if key not in kept or record.finished_at >= kept[key].finished_at:
            kept[key] = record
    return list(kept.values())


def check_writable(folder: Path, what: str = "results", fix: str = "pass --results DIR with a writable folder") -> None:
    """Fail early, with the fix, if ``what`` cannot be written in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write {what} to {folder} ({exc.strerror}): {fix}") from None


NOISY_SPREAD = 0.10  # (max - min) / median of the repeats above this is flagged as noisy


@dataclass(frozen=True)
class Summary:
    """The repeats' median and spread ((max - min) / median)."""

    median: float | None
    spread: float | None
    noisy: bool


def summarise(times: list[float]) -> Summary:
    if not times:
        return Summary(None, None, False)
    median = statistics.median(times)
    spread = (max(times) - min(times)) / median if median > 0 else 0.0
    return Summary(median, spread, spread > NOISY_SPREAD)


def make_record(case: Case, run_id: str, status: str, reason: str | None, **found: Any) -> Record:
    """A result record; the fields that a failed case lacks are None."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    repeats = tuple(found.pop("repeats", None) or ())
    stats = summarise(list(repeats))
    startup, load = found.pop("startup", None), found.pop("load", None)
    end_to_end = None
    if status == "ok" and None not in (startup, load, stats.median):
        end_to_end = startup + load + stats.median
    times = Times(startup, load, found.pop("cold", None), repeats, stats.median, end_to_end)
    used = cores_used(found.get("cpu_seconds"), times.cold, repeats) if status == "ok" else None
    return Record(
        run_id=run_id,
        case_id=case.id,
        # What the report and the verdicts need of the question, kept with the record so that an
        # old run never depends on today's workload catalogue.
        case=RecordedCase(**case.to_dict(), data_kind=case.data_kind),
        family=case.wl.family,
        question=case.wl.question,
        takes_chunks=case.wl.uses_chunks(case.engine),
        data=case.data.name,
        reference=case.wl.reference_label,
        data_source=user_data.get(case.user_data).describe() if case.user_data else None,
        distributed=case.config.distributed,
        status=status,
        reason=reason,
        times=times,
        spread=stats.spread,
        noisy=stats.noisy,
        finished_at=now_iso(),
        parquet_codec=PARQUET_CODEC if case.sink == "parquet" else None,
        cores_used=used,
        **found,
    )
