"""What a run tells whoever watches it (the command line's progress, a test), as typed events:
the runner and a run's clusters send them to a ``Listener`` as they happen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from breakeven.results import Record


@dataclass(frozen=True)
class Event:
    """Something a run did."""


@dataclass(frozen=True)
class DataGenerating(Event):
    name: str
    rows: int


@dataclass(frozen=True)
class DataGenerated(Event):
    name: str
    seconds: float


@dataclass(frozen=True)
class MakingReferences(Event):
    """Reference answers being made for ``workloads`` on data set ``name`` (minutes at 1e8 rows)."""

    name: str
    workloads: tuple[str, ...]


@dataclass(frozen=True)
class ClusterStarting(Event):
    engine: str
    topology: str


@dataclass(frozen=True)
class ClusterUp(Event):
    engine: str
    topology: str
    seconds: float
    network_rate: str | None = None  # its loopback's limit, if any


@dataclass(frozen=True)
class MemoryMethodChanged(Event):
    """Control groups stopped working mid-run: memory is sampled from now on, for ``why``."""

    method: str
    why: str


@dataclass(frozen=True)
class CaseStarted(Event):
    case_id: str


@dataclass(frozen=True)
class CaseFinished(Event):
    record: Record


Listener = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The listener of a run that nobody watches."""
