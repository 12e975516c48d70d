"""The session protocol between the runner and a worker: the plan the runner writes, and every
message the worker sends, as dataclasses.

The worker reads its plan from a JSON file and sends JSON lines over a socket, each naming its
event (``{"ev": "case_start", ...}``); around the timed part of a case it waits for the
runner's ``ok`` line, so that the runner's accounting starts and stops exactly there. Both
sides build and read messages only through this module, and the runner checks that each
message is the one the protocol expects next.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

ACK = b"ok\n"


@dataclass(frozen=True)
class TablePlan:
    path: str
    rows: int


@dataclass(frozen=True)
class PlannedCase:
    id: str
    workload: str
    chunk_rows: int | None
    reference: str  # the reference answer's Parquet file
    sink: str | None = None  # "parquet": the engine writes the answer (workloads.SINKS)


@dataclass(frozen=True)
class PartPlan:
    """A part of a session: one data set's tables (loaded, or read from files), its chunk size,
    and the cases that read them. The engine keeps running from one part to the next; a part's
    tables are let go before the next part's are loaded."""

    name: str  # the cases' session label (``labels.session_label``)
    tables: dict[str, TablePlan]
    cases: list[PlannedCase]
    source: str = "memory"  # "files": no load; each case reads its tables inside the timed part
    chunk_rows: int | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PartPlan:
        raw = dict(raw)
        raw["tables"] = {role: TablePlan(**t) for role, t in raw["tables"].items()}
        raw["cases"] = [PlannedCase(**c) for c in raw["cases"]]
        return cls(**raw)


@dataclass(frozen=True)
class SessionPlan:
    """Everything a worker needs to open one engine session and run its parts' cases."""

    engine: str
    mode: str
    profile: str
    cores: int
    memory_budget: int | None
    log_dir: str
    scratch_dir: str
    repeats: int
    plugins: list[str]
    cluster: dict[str, Any] | None
    parts: list[PartPlan]
    cpus: list[int] | None = None  # the CPUs its processes may use (``breakeven.cpus``); None: all

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> SessionPlan:
        raw = json.loads(path.read_text())
        raw["parts"] = [PartPlan.from_dict(p) for p in raw["parts"]]
        return cls(**raw)


# -- messages from the worker, in the order they come ------------------------------------------
@dataclass(frozen=True)
class Message:
    event: ClassVar[str]

    def encode(self) -> bytes:
        return (json.dumps({"ev": self.event, **asdict(self)}) + "\n").encode()


@dataclass(frozen=True)
class Startup(Message):
    """The engine session is open."""

    event: ClassVar[str] = "startup"
    seconds: float


@dataclass(frozen=True)
class PartStart(Message):
    """A part's load begins once the runner acknowledges this (its memory window starts there)."""

    event: ClassVar[str] = "part_start"
    name: str


@dataclass(frozen=True)
class Loaded(Message):
    """The part's tables are loaded (and persisted); the cluster as the engine sees it, if any."""

    event: ClassVar[str] = "load"
    seconds: float
    topology: dict[str, Any] | None = None


@dataclass(frozen=True)
class CaseStart(Message):
    """A metered window of a case (its cold run, then its repeats) begins once the runner
    acknowledges this."""

    event: ClassVar[str] = "case_start"
    case_id: str


@dataclass(frozen=True)
class TimedEnd(Message):
    """The window is over; the worker verifies its last answer once the runner acknowledges
    this, then sends the next window's ``CaseStart`` or the ``CaseDone``."""

    event: ClassVar[str] = "timed_end"
    case_id: str


@dataclass(frozen=True)
class CaseDone(Message):
    """The case's outcome: its status, the cold time and the repeats, and the verified answer's size."""

    event: ClassVar[str] = "case_done"
    case_id: str
    status: str
    reason: str | None
    cold: float | None
    repeats: list[float] = field(default_factory=list)
    rows_out: int | None = None
    checksum: dict[str, float] | None = None


@dataclass(frozen=True)
class SessionDone(Message):
    """Every part's cases ran and the engine is closed."""

    event: ClassVar[str] = "session_done"


@dataclass(frozen=True)
class Fatal(Message):
    """The session could not start, or a part's tables could not be loaded: every case of it (of
    the part) shares this status and reason."""

    event: ClassVar[str] = "fatal"
    status: str
    reason: str


MESSAGES: dict[str, type[Message]] = {
    cls.event: cls for cls in (Startup, PartStart, Loaded, CaseStart, TimedEnd, CaseDone, SessionDone, Fatal)
}
M = TypeVar("M", bound=Message)


class ProtocolError(Exception):
    """A line that is not a message of this protocol."""


def decode(line: bytes) -> Message:
    try:
        raw = json.loads(line)
        cls = MESSAGES[raw.pop("ev")]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"not a message: {line[:200]!r}") from exc
    names = {f.name for f in fields(cls)}
    if set(raw) - names:
        raise ProtocolError(f"{cls.event} with unknown fields {sorted(set(raw) - names)}")
    return cls(**raw)
