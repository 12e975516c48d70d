"""Every comparison breakeven prints or publishes, in one place: the baseline rule, the ratio
convention, and breakeven points computed from result records rather than eyeballed.

The baseline of a distributed configuration is the fastest single-machine configuration that
ran the same question at the same size; for a chunked question (a chunk size given), that
includes the single-machine engines that choose their own chunks (Polars, DuckDB), measured
once without a chunk size. The ratio is the distributed configuration's time over its
baseline's, and is written as a factor of at least 1 with its direction: ``hurts 4x`` (four
times as long as the baseline), ``helps 2.5x`` (the baseline takes 2.5 times as long).

A *question* is one workload on one kind of data (key cardinality, nulls, dimension size,
chunk size), measured at several row counts. For each distributed configuration and question,
the ratio of its median time to the best single-machine engine's at the same size says whether
distribution helps (below 1) or hurts (above 1). Where the ratio crosses 1 between two measured
sizes, the breakeven point is interpolated on log-log scale (time grows about as a power of
rows); its uncertainty comes from the repeats: the crossing of the pessimistic ratio (slowest
repeat of the distributed engine over the fastest of the baseline) and of the optimistic one
(with a single repeat, the cold run counts too: ``Point.of``).
A size at which the best single-machine engine failed (timeout, memory) while the distributed
one finished counts as a win for distribution; the smallest size at which a single-machine
engine ran out of its memory budget while the distributed one finished is the *memory cliff*.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from breakeven.data import fmt_num
from breakeven.labels import short_config
from breakeven.results import Record

FAILED_BASELINE = ("timeout", "memory", "crashed")  # the single machine could not do it
# Whom a distributed configuration is compared with: the engine chooser's baseline (the fastest
# single-machine configuration), or the pandas user's (the faster pandas profile).
BASELINES = {"best": "the best single-machine engine", "pandas": "pandas"}


def baseline_of(baseline: str, config: str) -> bool:
    """Whether a single-machine configuration is in the baseline ``baseline`` (``BASELINES``)."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline {baseline!r}: one of {', '.join(BASELINES)}")
    return baseline == "best" or config.split(":")[0] == baseline


def fmt_ratio(ratio: float) -> str:
    """A time over its baseline's as a factor of at least 1: ``4x``, ``2.5x``, ``140x``."""
    factor = ratio if ratio >= 1 else 1 / ratio
    return f"{factor:.0f}x" if factor >= 10 else f"{factor:.2g}x"


def direction(ratio: float) -> str:
    """``helps`` (faster than the baseline) or ``hurts`` (as slow or slower)."""
    return "helps" if ratio < 1 else "hurts"


@dataclass
class Question:
    """The records of one question (``Record.case.question_label``). A chunked question also
    borrows the records of the single-machine engines that choose their own chunks: they ran the
    question once, without a chunk size, and are in its baseline at every chunk size."""

    label: str
    unchunked: str  # the label without the chunk size
    measured: list[Record] = field(default_factory=list)
    borrowed: list[Record] = field(default_factory=list)
    lent: set[int] = field(default_factory=set)  # sizes at which a chunked question borrowed this one's records

    @property
    def records(self) -> list[Record]:
        """The measured records, and the borrowed ones of configurations not measured here."""
        here = {r.case.config_label for r in self.measured}
        return self.measured + [r for r in self.borrowed if r.case.config_label not in here]

    @property
    def shown_elsewhere(self) -> bool:
        """Only engines that choose their own chunks ran it, and every chunked question shows them."""
        return bool(self.lent) and all(r.own_chunks for r in self.measured)


def questions(records: list[Record]) -> dict[str, Question]:
    """Records by question, in the order measured, with the borrowing above."""
    found: dict[str, Question] = {}
    for r in records:
        label = r.case.question_label
        found.setdefault(label, Question(label, r.case.unchunked_label)).measured.append(r)
    for q in found.values():
        source = found.get(q.unchunked)
        if source is not None and source is not q:
            q.borrowed = [r for r in source.measured if r.own_chunks]
            source.lent |= {r.case.rows for r in q.borrowed} & {r.case.rows for r in q.measured}
    return found


@dataclass(frozen=True)
class Point:
    """One configuration at one size: the median and the extremes of its timed repeats. With
    fewer than two repeats (the 1e9 slice has one) the cold run counts too, so that the spread
    still says something; ``times`` is how many runs the extremes come from (1: no spread)."""

    rows: int
    status: str
    median: float | None = None
    fastest: float | None = None
    slowest: float | None = None
    times: int = 0

    @classmethod
    def of(cls, record: Record, metric: str = "compute_median") -> Point:
        times, rows = record.times, record.case.rows
        median = times.metric(metric)
        if not record.ok or median is None or times.compute_median is None:
            return cls(rows, record.status)
        runs = times.repeats or (times.compute_median,)
        if len(runs) < 2 and times.cold is not None:
            runs = (*runs, times.cold)
        # end to end: the other phases were measured once, so the spread is the compute phase's
        fixed = median - times.compute_median
        return cls(rows, "ok", median, fixed + min(runs), fixed + max(runs), len(runs))


@dataclass(frozen=True)
class Verdict:
    """``helps`` (in the whole tested range), ``hurts`` (never breaks even in it), ``breaks_even``
    (at ``rows``, between ``low`` and ``high``), or ``failed`` / ``no_baseline`` with a reason."""

    kind: str
    rows: float | None = None
    low: float | None = None
    high: float | None = None
    tested: tuple[int, ...] = ()
    memory_cliff: int | None = None
    reason: str | None = None
    direction: str = "above"  # distribution helps above the breakeven point (or below it)
    ratio: float | None = None  # time over the baseline's at the largest size compared
    baseline: str | None = None  # the baseline's fastest configuration there
    against: str = BASELINES["best"]  # whom the baseline stands for

    @property
    def _band(self) -> str:
        """``[low, high]`` of the breakeven point; ``?`` for a side the repeats leave open."""
        low, high = (_fmt_rows(end) if end is not None else "?" for end in (self.low, self.high))
        return f"[{low}, {high}]"

    @property
    def text(self) -> str:
        span = f"{fmt_num(self.tested[0])}–{fmt_num(self.tested[-1])}" if self.tested else ""
        cliff = f"; memory cliff at {fmt_num(self.memory_cliff)}" if self.memory_cliff else ""
        if self.kind == "breaks_even" and self.rows is not None:
            side = "helps above it" if self.direction == "above" else "helps below it, hurts above"
            return f"breaks even at {_fmt_rows(self.rows)} rows {self._band}, {side}{cliff}"
        at = ""
        if self.ratio and self.tested:
            faster = "faster" if self.ratio < 1 else "slower"
            whom = f", {short_config(self.baseline)}," if self.baseline else ""
            at = f" ({fmt_ratio(self.ratio)} {faster} than {self.against}{whom}"
            at += f" at {fmt_num(self.tested[-1])})"
        if self.kind == "helps":
            return f"helps at every size ({span}){at}{cliff}"
        if self.kind == "hurts":
            return f"hurts: never breaks even in {span}{at}{cliff}"
        return f"{self.kind}: {self.reason}" if self.reason else self.kind

    @property
    def short(self) -> str:
        """For a table cell: ``helps``, ``hurts``, ``3.2e6 [2.1e6, 5.0e6]``, or the failure."""
        cliff = f", cliff {fmt_num(self.memory_cliff)}" if self.memory_cliff else ""
        if self.kind == "breaks_even" and self.rows is not None:
            arrow = ">" if self.direction == "above" else "<"
            return f"helps {arrow} {_fmt_rows(self.rows)} {self._band}{cliff}"
        if self.kind in ("helps", "hurts"):
            return self.kind + (f" {fmt_ratio(self.ratio)}" if self.ratio else "") + cliff
        return self.reason or self.kind


def _fmt_rows(rows: float) -> str:
    exponent = math.floor(math.log10(rows))
    mantissa = rows / 10**exponent
    return f"{mantissa:.1f}e{exponent}"


def crossing(sizes: list[int], ratios: list[float]) -> tuple[int, float] | None:
    """The first segment where the ratio crosses 1, and the size where it does, interpolated on
    log-log scale; None if it never does. A ratio of 0 (the baseline failed) crosses somewhere in
    its segment: the geometric middle is returned."""
    for i in range(len(sizes) - 1):
        (n0, r0), (n1, r1) = (sizes[i], ratios[i]), (sizes[i + 1], ratios[i + 1])
        if (r0 >= 1) == (r1 >= 1):
            continue
        if r0 == 1 or r1 == 1:
            return i, float(n0 if r0 == 1 else n1)
        if r0 == 0 or r1 == 0:
            return i, math.sqrt(n0 * n1)
        x0, x1, y0, y1 = math.log(n0), math.log(n1), math.log(r0), math.log(r1)
        return i, math.exp(x0 - y0 * (x1 - x0) / (y1 - y0))
    return None


def verdict(dist: list[Point], single: dict[str, list[Point]], against: str = BASELINES["best"]) -> Verdict:
    """The distributed configuration's points against the fastest of the baseline's
    configurations (``single``) at each size; ``against`` names the baseline in the text."""
    by_size = {p.rows: p for p in dist}
    sizes = sorted(by_size)
    tested = tuple(sizes)
    cliff = next(
        (
            n
            for n in sizes
            if by_size[n].status == "ok"
            and any(p.rows == n and p.status == "memory" for points in single.values() for p in points)
        ),
        None,
    )
    ratios, pessimistic, optimistic, used = [], [], [], []
    baseline = None
    for n in sizes:
        point = by_size[n]
        if point.status != "ok" or point.median is None:
            continue
        baseline = [p for points in single.values() for p in points if p.rows == n]
        ok = [p for p in baseline if p.status == "ok" and p.median is not None]
        if not ok:
            if baseline and all(p.status in FAILED_BASELINE for p in baseline):
                for found in (ratios, pessimistic, optimistic):
                    found.append(0.0)  # the single machine could not do it at all: distribution wins
                used.append(n)
            continue
        best = min(ok, key=lambda p: p.median or math.inf)
        baseline = next((c for c, points in single.items() if best in points), None)
        ratios.append(point.median / (best.median or math.inf))
        pessimistic.append((point.slowest or point.median) / (best.fastest or best.median or math.inf))
        optimistic.append((point.fastest or point.median) / (best.slowest or best.median or math.inf))
        used.append(n)
    if not used:
        failed = sorted({p.status for p in dist if p.status != "ok"})
        if failed:
            return Verdict("failed", tested=tested, reason=", ".join(failed), memory_cliff=cliff, against=against)
        reason = f"no run of {against} at these sizes"
        return Verdict("no_baseline", tested=tested, reason=reason, against=against)
    last = ratios[-1] or None  # 0: the baseline failed there
    if all(r < 1 for r in ratios):
        return Verdict("helps", tested=tuple(used), memory_cliff=cliff, ratio=last, baseline=baseline, against=against)
    found = crossing(used, ratios)
    if found is None:
        return Verdict("hurts", tested=tuple(used), memory_cliff=cliff, ratio=last, baseline=baseline, against=against)
    segment, at = found
    helps_above = ratios[segment] >= 1
    # The repeats' extremes bound the crossing; one that does not cross in range leaves that side open.
    optimistic_at, pessimistic_at = (c[1] if (c := crossing(used, r)) else None for r in (optimistic, pessimistic))
    low, high = (optimistic_at, pessimistic_at) if helps_above else (pessimistic_at, optimistic_at)
    if ratios[segment] == 0 or ratios[segment + 1] == 0:  # a failed baseline: only the segment is known
        low, high = float(used[segment]), float(used[segment + 1])
    if low is not None and high is not None and low > high:
        low, high = high, low
    side = "above" if helps_above else "below"
    return Verdict("breaks_even", at, low, high, tuple(used), cliff, direction=side, baseline=baseline, against=against)


def matrix(
    records: list[Record], metric: str = "compute_median", baseline: str = "best"
) -> dict[str, dict[str, Verdict]]:
    """question -> distributed configuration -> verdict against ``baseline`` (``BASELINES``),
    over all sizes the records hold (a chunked question's best single machine includes the
    engines that choose their own chunks)."""
    out: dict[str, dict[str, Verdict]] = {}
    for label, q in questions(records).items():
        points: dict[str, list[Point]] = defaultdict(list)
        distributed: dict[str, bool] = {}
        for r in q.records:
            points[r.case.config_label].append(Point.of(r, metric))
            distributed[r.case.config_label] = r.distributed
        single = {c: p for c, p in points.items() if not distributed[c] and baseline_of(baseline, c)}
        against = BASELINES[baseline]
        found = {c: verdict(p, single, against) for c, p in sorted(points.items()) if distributed[c]}
        if found:  # a question only single-machine engines ran (a chunk size they take) has no verdict
            out[label] = found
    return out


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

    def ratio(self, config: str, metric: str = "compute_median") -> float | None:
        """``config``'s time over the baseline's; None where either has none."""
        best, found = self.baseline(metric), self._ok(None, metric)
        if best is None or config not in found or not found[best]:
            return None
        return found[config] / found[best]


def scenarios(records: list[Record]) -> list[Scenario]:
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
