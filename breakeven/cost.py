"""COST: the Configuration that Outperforms a Single Thread (McSherry, Isard and Murray,
"Scalability! But at what COST?", HotOS 2015, https://www.usenix.org/conference/hotos15/workshop-program/presentation/mcsherry).

For each distributed configuration and question size, the baseline is the best single-machine
run on one core (``breakeven run --cores 1``: Polars, DuckDB and pandas each on one thread; for
a chunked question, Polars and DuckDB from the same transform without a chunk size, as the
verdicts borrow them). The COST is the fewest cores at which the distributed configuration beats
it clear of the repeats' spread (its slowest repeat faster than the baseline's fastest), or
*unbounded* when no measured number of cores does (which says "not within what was measured",
not "never").
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from breakeven import analysis
from breakeven.analysis import Point
from breakeven.cluster.plan import Topology
from breakeven.labels import config_label
from breakeven.results import Record


def total_cores(record: Record) -> int | None:
    """The cores a configuration held: workers x cores on a cluster, else the run's ``--cores``."""
    shape = Topology.shape(record.case.topology or "")
    return shape[0] * shape[1] if shape else record.run_cores


@dataclass(frozen=True)
class Cost:
    """One distributed configuration on one question at one size."""

    config: str  # engine:mode:profile, the topology left out: cores are the configuration's size
    question: str
    rows: int
    baseline: str  # the best single-machine configuration on one core
    baseline_point: Point
    points: dict[int, Point]  # by cores held (finished runs only): median and the repeats' extremes

    @property
    def baseline_seconds(self) -> float:
        return self.baseline_point.median or math.inf

    @property
    def seconds(self) -> dict[int, float]:
        """Median compute time by cores held."""
        return {n: p.median or math.inf for n, p in self.points.items()}

    def beats(self, cores: int) -> bool:
        """Whether on ``cores`` its slowest repeat beat the single thread's fastest: a win clear of
        the repeats' spread (with a single run each, the medians)."""
        return analysis.state(*analysis.bounds(self.points[cores], self.baseline_point)) == analysis.HELPS

    @property
    def cost(self) -> int | None:
        """The fewest cores that beat the single thread; None: unbounded in what was measured."""
        return next((c for c in sorted(self.points) if self.beats(c)), None)

    @property
    def text(self) -> str:
        if self.cost is not None:
            return f"{self.cost} core{'s' if self.cost > 1 else ''}"
        even = any((self.seconds[c]) < self.baseline_seconds for c in self.points)
        spread = ", faster only within the repeats' spread" if even else ""
        if not self.points:
            return "unbounded"
        most = max(self.points)
        return f"unbounded (≤ {most} core{'s' if most > 1 else ''} measured{spread})"

    @property
    def best_ratio(self) -> float:
        """The configuration's best time over the single thread's (below 1: it beats it)."""
        return min(self.seconds.values()) / self.baseline_seconds if self.points else math.inf


def costs(records: list[Record]) -> list[Cost]:
    """Every distributed configuration, question and size with a single-threaded baseline. A
    chunked question's baseline includes the single-machine engines that choose their own chunks
    (Polars, DuckDB), as the verdicts' does (``analysis.questions``)."""
    single: dict[tuple[str, int], dict[str, Point]] = defaultdict(dict)
    dist: dict[tuple[str, str, int], dict[int, Point]] = defaultdict(dict)
    for label, question in analysis.questions(records).items():
        for r in question.records:
            point, cores = Point.of(r), total_cores(r)
            if point.median is None or cores is None:
                continue
            key = (label, r.case.rows)
            if not r.distributed:
                if cores == 1:
                    _keep_fastest(single[key], r.case.config_label, point)
                continue
            _keep_fastest(dist[(config_label(r.case.engine, r.case.mode, r.case.profile), *key)], cores, point)
    out = []
    for (config, question, rows), points in sorted(dist.items()):
        baseline = single.get((question, rows))
        if not baseline:
            continue
        best = min(baseline, key=lambda c: baseline[c].median or math.inf)
        out.append(Cost(config, question, rows, best, baseline[best], dict(sorted(points.items()))))
    return out


def _keep_fastest(found: dict[Any, Point], key: Any, point: Point) -> None:
    if key not in found or (point.median or math.inf) < (found[key].median or math.inf):
        found[key] = point
