"""The scale-out model: what more workers would do to a distributed engine's time.

From cluster-mode runs at several worker counts (topologies ``WxC``: W workers of C cores), fit
per engine configuration, question and worker size C the three-term cost model

    T(n, w) = fixed + per_row * n / w + per_worker * w

``fixed``: scheduling, task launch and collecting the answer, whatever the size; ``per_row``:
the work that divides among the workers; ``per_worker``: what each worker adds (its share of
the shuffle's connections and of the coordination). Least squares on the relative error, so
that small and large sizes weigh the same, with every term kept non-negative. Its error is
shown on the measured points, in sample and leave-one-out (each point predicted by a fit
without it); beyond the measured worker counts it is a model, not a measurement. Under it the
best worker count for n rows is sqrt(per_row * n / per_worker).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from breakeven.cluster.plan import Topology
from breakeven.labels import config_label
from breakeven.results import Record

TERMS = ("fixed", "per_row", "per_worker")
MIN_POINTS = len(TERMS) + 1  # one more than the terms, so that the fit has an error


@dataclass(frozen=True)
class Measured:
    rows: int
    workers: int
    seconds: float


def _design(points: list[Measured]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of [1, n/w, w] / T against 1: least squares on the relative error."""
    a = np.array([[1.0, p.rows / p.workers, float(p.workers)] for p in points])
    t = np.array([p.seconds for p in points])
    return a / t[:, None], np.ones(len(points))


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares for a handful of terms: the best unconstrained fit over every
    subset of the terms whose coefficients all come out non-negative (exact for three terms)."""
    best, best_residual = np.zeros(a.shape[1]), float(np.sum(b**2))
    for size in range(1, a.shape[1] + 1):
        for subset in itertools.combinations(range(a.shape[1]), size):
            cols = list(subset)
            # Scaled columns: n/w and w differ by orders of magnitude.
            scale = np.linalg.norm(a[:, cols], axis=0)
            scale[scale == 0] = 1.0
            coef = np.linalg.lstsq(a[:, cols] / scale, b, rcond=None)[0] / scale
            if np.any(coef < 0):
                continue
            x = np.zeros(a.shape[1])
            x[cols] = coef
            residual = float(np.sum((a @ x - b) ** 2))
            if residual < best_residual - 1e-15:
                best, best_residual = x, residual
    return best


def _solve(points: list[Measured]) -> tuple[float, float, float]:
    fixed, per_row, per_worker = nnls(*_design(points))
    return float(fixed), float(per_row), float(per_worker)


def label(config: str, cores: int) -> str:
    """``dask:cluster:tuned (workers of 1 core)``."""
    return f"{config} (workers of {cores} core{'s' if cores > 1 else ''})"


@dataclass(frozen=True)
class Fit:
    """The model of one configuration on one question, with the points it was fitted to."""

    config: str  # ``dask:cluster:tuned`` on workers of ``cores`` cores
    cores: int
    question: str
    fixed: float
    per_row: float
    per_worker: float
    points: tuple[Measured, ...]

    @property
    def label(self) -> str:
        return label(self.config, self.cores)

    def predict(self, rows: float, workers: float) -> float:
        return self.fixed + self.per_row * rows / workers + self.per_worker * workers

    @property
    def errors(self) -> list[float]:
        """Relative error of the model on each measured point, in sample."""
        return [self.predict(p.rows, p.workers) / p.seconds - 1 for p in self.points]

    @property
    def loo_errors(self) -> list[float]:
        """Relative error on each point of a fit to the other points (leave one out)."""
        out = []
        for i, p in enumerate(self.points):
            rest = [q for j, q in enumerate(self.points) if j != i]
            fixed, per_row, per_worker = _solve(rest)
            out.append((fixed + per_row * p.rows / p.workers + per_worker * p.workers) / p.seconds - 1)
        return out

    def best_workers(self, rows: float) -> float:
        """The worker count with the least modelled time (infinite when workers cost nothing)."""
        return math.sqrt(self.per_row * rows / self.per_worker) if self.per_worker > 0 else math.inf

    @property
    def measured_workers(self) -> list[int]:
        return sorted({p.workers for p in self.points})

    @property
    def measured_rows(self) -> list[int]:
        return sorted({p.rows for p in self.points})


@dataclass(frozen=True)
class Skipped:
    """A configuration and question whose runs cannot carry the model, and why."""

    label: str
    question: str
    reason: str


def fit(records: list[Record]) -> tuple[list[Fit], list[Skipped]]:
    """Every model the records' cluster-mode runs allow (compute phase, finished cases)."""
    groups: dict[tuple[str, int, str], list[Measured]] = defaultdict(list)
    for record in records:
        case = record.case
        shape = Topology.shape(case.topology or "")
        if case.mode != "cluster" or shape is None or not record.ok:
            continue
        seconds = record.times.compute_median
        if not seconds:
            continue
        workers, cores = shape
        config = config_label(case.engine, case.mode, case.profile)
        groups[(config, cores, case.question_label)].append(Measured(case.rows, workers, seconds))
    fits, skipped = [], []
    for (config, cores, question), points in sorted(groups.items()):
        if len({p.workers for p in points}) < 2:
            skipped.append(Skipped(label(config, cores), question, "measured at one worker count only"))
            continue
        if len(points) < MIN_POINTS:
            reason = f"{len(points)} finished points, the model needs {MIN_POINTS}"
            skipped.append(Skipped(label(config, cores), question, reason))
            continue
        ordered = tuple(sorted(points, key=lambda p: (p.rows, p.workers)))
        fits.append(Fit(config, cores, question, *_solve(list(ordered)), ordered))
    return fits, skipped


def summary(errors: list[float]) -> str:
    """``median 4%, max 11%`` of the absolute relative errors."""
    absolute = [abs(e) for e in errors]
    return f"median {statistics.median(absolute):.0%}, max {max(absolute):.0%}"
