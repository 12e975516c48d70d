"""Each question at each size, every configuration's record side by side (a ``Scenario``): the
fastest, the baseline, and a configuration's ratio and state against it, as the tables, the
front page and the claims read them."""

from __future__ import annotations

from dataclasses import dataclass, field

from breakeven.analysis import Point, bounds, questions, state
from breakeven.results import Record
from breakeven.units import fmt_num


@dataclass
class Scenario:
    """One question at one size: every configuration's record, the borrowed ones included."""

    question: str
    rows: int
    cells: dict[str, Record] = field(default_factory=dict)  # configuration -> record
    borrowed: set[str] = field(default_factory=set)  # configurations measured without the chunk size
    shown_elsewhere: bool = False  # see Question.shown_elsewhere

    @property
    def label(self) -> str:
        return f"{self.question}, {fmt_num(self.rows)} rows"

    def _ok(self, distributed: bool | None, metric: str) -> dict[str, float]:
        return {
            config: value
            for config, r in self.cells.items()
            if r.ok
            and (value := r.times.metric(metric)) is not None
            and (distributed is None or r.distributed == distributed)
        }

    def fastest(self, metric: str = "compute_median", distributed: bool | None = None) -> str | None:
        found = self._ok(distributed, metric)
        return min(found, key=found.__getitem__) if found else None

    def baseline(self, metric: str = "compute_median") -> str | None:
        """The best single-machine configuration."""
        return self.fastest(metric, distributed=False)

    def state(self, config: str, metric: str = "compute_median") -> str | None:
        """``config`` against the baseline: helps, hurts, or even within the repeats' spread."""
        best = self.baseline(metric)
        if best is None or config not in self.cells or not self.cells[config].ok:
            return None
        a, b = Point.of(self.cells[config], metric), Point.of(self.cells[best], metric)
        if a.median is None or not b.median:
            return None
        return state(*bounds(a, b))

    def ratio(self, config: str, metric: str = "compute_median") -> float | None:
        """``config``'s time over the baseline's; None where either has none."""
        best, found = self.baseline(metric), self._ok(None, metric)
        if best is None or config not in found or not found[best]:
            return None
        return found[config] / found[best]


def by_size(records: list[Record]) -> list[Scenario]:
    """Records by question (in the order measured) and size."""
    out = []
    for label, q in questions(records).items():
        by_rows: dict[int, Scenario] = {}
        for r in q.measured:
            by_rows.setdefault(r.case.rows, Scenario(label, r.case.rows)).cells.setdefault(r.case.config_label, r)
        for r in q.borrowed:  # at the sizes this question was measured
            if r.case.rows in by_rows and r.case.config_label not in by_rows[r.case.rows].cells:
                by_rows[r.case.rows].cells[r.case.config_label] = r
                by_rows[r.case.rows].borrowed.add(r.case.config_label)
        for n, scen in by_rows.items():  # see Question.shown_elsewhere, at one size
            scen.shown_elsewhere = n in q.lent and all(r.own_chunks for r in scen.cells.values())
        out += [by_rows[n] for n in sorted(by_rows)]
    return out


def configs(records: list[Record]) -> list[str]:
    """Configuration labels, single-machine first, in a stable order."""
    labels = {r.case.config_label: r.distributed for r in records}
    return sorted(labels, key=lambda label: (labels[label], label))
