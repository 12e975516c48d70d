"""COST: the Configuration that Outperforms a Single Thread (McSherry, Isard and Murray,
"Scalability! But at what COST?", HotOS 2015, https://www.usenix.org/conference/hotos15/workshop-program/presentation/mcsherry).

For each distributed configuration and question size, the baseline is the best single-machine
run on one core (``breakeven run --cores 1``: Polars, DuckDB and pandas each on one thread).
The COST is the fewest cores at which the distributed configuration's median compute time beats
it, or *unbounded* when no measured number of cores does (which says "not within what was
measured", not "never").
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from breakeven.labels import config_label
from breakeven.results import Record
from breakeven.scaleout import TOPOLOGY


def total_cores(record: Record) -> int | None:
    """The cores a configuration held: workers x cores on a cluster, else the run's ``--cores``."""
    match = TOPOLOGY.fullmatch(record.case.topology or "")
    if match:
        return int(match.group(1)) * int(match.group(2))
    return record.run_cores


@dataclass(frozen=True)
class Cost:
    """One distributed configuration on one question at one size."""

    config: str  # engine:mode:profile, the topology left out: cores are the configuration's size
    question: str
    rows: int
    baseline: str  # the best single-machine configuration on one core
    baseline_seconds: float
    seconds: dict[int, float]  # median compute time by cores held (finished runs only)

    @property
    def cost(self) -> int | None:
        """The fewest cores that beat the single thread; None: unbounded in what was measured."""
        return next((c for c in sorted(self.seconds) if self.seconds[c] < self.baseline_seconds), None)

    @property
    def text(self) -> str:
        if self.cost is not None:
            return f"{self.cost} core{'s' if self.cost > 1 else ''}"
        return f"unbounded (≤ {max(self.seconds)} cores measured)" if self.seconds else "unbounded"

    @property
    def best_ratio(self) -> float:
        """The configuration's best time over the single thread's (below 1: it beats it)."""
        return min(self.seconds.values()) / self.baseline_seconds if self.seconds else math.inf


def costs(records: list[Record]) -> list[Cost]:
    """Every distributed configuration, question and size with a single-threaded baseline."""
    single: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    dist: dict[tuple[str, str, int], dict[int, float]] = defaultdict(dict)
    for r in records:
        seconds, cores = r.times.compute_median, total_cores(r)
        if not r.ok or not seconds or cores is None:
            continue
        key = (r.case.question_label, r.case.rows)
        if not r.distributed:
            if cores == 1:
                config = r.case.config_label
                single[key][config] = min(seconds, single[key].get(config, math.inf))
            continue
        config = config_label(r.case.engine, r.case.mode, r.case.profile)
        found = dist[(config, *key)]
        found[cores] = min(seconds, found.get(cores, math.inf))
    out = []
    for (config, question, rows), seconds in sorted(dist.items()):
        baseline = single.get((question, rows))
        if not baseline:
            continue
        best = min(baseline, key=baseline.__getitem__)
        out.append(Cost(config, question, rows, best, baseline[best], dict(sorted(seconds.items()))))
    return out
