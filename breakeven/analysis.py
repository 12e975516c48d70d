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
from dataclasses import dataclass, field, replace

from breakeven.labels import short_config
from breakeven.results import Record
from breakeven.units import fmt_approx, fmt_num

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
    """A time over its baseline's as a factor of at least 1: ``4x``, ``2.5x``, ``140x``; close to
    1, three digits (``1.01x``), never a bare ``1x`` for two different times."""
    return fmt_times(ratio if ratio >= 1 else 1 / ratio)


def fmt_times(multiple: float) -> str:
    """``12x``, ``2.5x``, ``0.8x``; close to 1, three digits or more (``0.996x``, ``1.004x``)."""
    if multiple >= 10:
        return f"{multiple:.0f}x"
    two = f"{multiple:.2g}"
    if two != "1" or multiple == 1:
        return f"{two}x"
    three = f"{multiple:.3g}"
    return f"{three if three != '1' else f'{multiple:.3f}'}x"


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
    still says something; ``times`` is how many runs the extremes come from (1: no spread).
    ``took`` is what the case took of its timeout (its cold run, repeats and checks: what its
    deadline covered; None for records older than schema 8), ``timeout`` and ``budget`` its
    limits (None: none), ``config`` and ``run`` whose it is."""

    rows: int
    status: str
    median: float | None = None
    fastest: float | None = None
    slowest: float | None = None
    times: int = 0
    took: float | None = None
    timeout: float | None = None
    budget: int | None = None
    config: str = ""
    run: str = ""

    @classmethod
    def of(cls, record: Record, metric: str = "compute_median") -> Point:
        times, rows = record.times, record.case.rows
        median = times.metric(metric)
        about = {
            "took": record.case_seconds,
            "timeout": record.timeout,
            "budget": record.memory_budget,
            "config": record.case.config_label,
            "run": record.run_id,
        }
        if not record.ok or median is None or times.compute_median is None:
            return cls(rows, record.status, **about)
        runs = times.repeats or (times.compute_median,)
        if len(runs) < 2 and times.cold is not None:
            runs = (*runs, times.cold)
        # end to end: the other phases were measured once, so the spread is the compute phase's
        fixed = median - times.compute_median
        return cls(rows, "ok", median, fixed + min(runs), fixed + max(runs), len(runs), **about)


def unmatched(failed: Point, finished: Point) -> str | None:
    """Why ``failed`` not finishing is no loss to ``finished`` (None where it is one): it had less
    than ``finished`` used (``pandas had 300 s, dask:threads 2400 s``). A timeout counts where it
    was at least ``finished``'s, or covered what ``finished``'s case took of its own (its cold run,
    repeats and checks); running out of memory or crashing where its budget was at least
    ``finished``'s."""
    who, other = short_config(failed.config) or "the single machine", short_config(finished.config) or "the other"
    mine, theirs_time, took = failed.timeout, finished.timeout, finished.took
    less = mine is not None and theirs_time is not None and mine < theirs_time
    if failed.status == "timeout" and less and (took is None or mine < took):
        said = f", its case took {fmt_seconds(took)}" if took is not None else ""
        return f"{who} had {fmt_seconds(mine)}, {other} {fmt_seconds(theirs_time)}{said}"
    budget, theirs = failed.budget, finished.budget
    if failed.status in ("memory", "crashed") and budget is not None and (theirs is None or budget < theirs):
        had = f"{theirs / 2**30:.3g} GiB" if theirs is not None else "no budget"
        return f"{who} had {budget / 2**30:.3g} GiB of memory, {other} {had}"
    return None


def same_sitting(contender: Point, baseline: list[Point]) -> tuple[list[Point], bool]:
    """The baseline's points of the contender's run where it has any (the same machine state,
    the same sitting), else all of them; and whether they came from other runs."""
    same = [p for p in baseline if p.run == contender.run]
    return (same, False) if same or not baseline else (baseline, True)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"


# The state of one size: faster or slower beyond the repeats' spread, or within it.
HELPS, HURTS, EVEN = "helps", "hurts", "even"


def bounds(contender: Point, baseline: Point) -> tuple[float, float, float]:
    """The contender's median over the baseline's, and the optimistic and pessimistic ratios of
    their repeats' extremes (its fastest over the baseline's slowest, its slowest over the
    baseline's fastest); the contender has a median."""
    base = baseline.median or math.inf
    median = contender.median or math.inf
    return (
        median / base,
        (contender.fastest or median) / (baseline.slowest or base),
        (contender.slowest or median) / (baseline.fastest or base),
    )


def state(ratio: float, optimistic: float, pessimistic: float) -> str:
    """``even`` where the repeats' extremes straddle 1 (the contender's fastest beats the
    baseline's slowest, its slowest does not beat the baseline's fastest), else the direction."""
    if optimistic < 1 <= pessimistic:
        return EVEN
    return direction(ratio)


@dataclass(frozen=True)
class Verdict:
    """Over the sizes compared: ``helps`` or ``hurts`` (at every size, beyond the repeats'
    spread), ``even`` (within it at every size), ``breaks_even`` (one change of direction, at
    ``rows``, between ``low`` and ``high``), ``mixed`` (more than one, or a direction and sizes
    within the spread: ``states`` says which size is which), or ``failed`` / ``no_baseline``
    with a reason. ``notes``: sizes where the baseline did not finish under smaller limits than
    the contender had (no comparison is made there), and sizes compared with a baseline measured
    in another run (``same_sitting``)."""

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
    states: tuple[tuple[int, str], ...] = ()  # each size compared, and its state (``state``)
    notes: tuple[str, ...] = ()  # sizes not compared, or compared with a baseline of another run

    @property
    def _band(self) -> str:
        """``[low, high]`` of the breakeven point; ``?`` for a side the repeats leave open."""
        low, high = (fmt_approx(end) if end is not None else "?" for end in (self.low, self.high))
        return f"[{low}, {high}]"

    @property
    def _by_state(self) -> str:
        """``helps at 1e7; hurts at 1e6, 1e8``: the sizes of each state."""
        found: dict[str, list[str]] = defaultdict(list)
        for rows, said in self.states:
            found[said].append(fmt_num(rows))
        names = {EVEN: "even within the repeats' spread"}
        return "; ".join(f"{names.get(s, s)} at {', '.join(found[s])}" for s in (HELPS, HURTS, EVEN) if s in found)

    @property
    def text(self) -> str:
        span = f"{fmt_num(self.tested[0])}–{fmt_num(self.tested[-1])}" if self.tested else ""
        cliff = f"; memory cliff at {fmt_num(self.memory_cliff)}" if self.memory_cliff else ""
        notes = f"; {'; '.join(self.notes)}" if self.notes else ""
        if self.kind == "breaks_even" and self.rows is not None:
            side = "helps above it" if self.direction == "above" else "helps below it, hurts above"
            return f"breaks even at {fmt_approx(self.rows)} rows {self._band}, {side}{cliff}{notes}"
        at = ""
        if self.ratio and self.tested:
            faster = "faster" if self.ratio < 1 else "slower"
            whom = f", {short_config(self.baseline)}," if self.baseline else ""
            at = f" ({fmt_ratio(self.ratio)} {faster} than {self.against}{whom}"
            at += f" at {fmt_num(self.tested[-1])})"
        if self.kind == HELPS:
            return f"helps at every size ({span}){at}{cliff}{notes}"
        if self.kind == HURTS:
            return f"hurts: never breaks even in {span}{at}{cliff}{notes}"
        if self.kind == EVEN:
            return f"even: within the repeats' spread at every size ({span}){at}{cliff}{notes}"
        if self.kind == "mixed":
            return f"{self._by_state}{at}{cliff}{notes}"
        why = f"{self.kind}: {self.reason}" if self.reason else self.kind
        return why + notes

    @property
    def short(self) -> str:
        """For a table cell: ``helps 2x``, ``hurts 3x``, ``even``, ``helps > 3.2e6 [2.1e6, 5.0e6]``,
        ``helps 1e7 only``, or the failure."""
        cliff = f", cliff {fmt_num(self.memory_cliff)}" if self.memory_cliff else ""
        if self.kind == "breaks_even" and self.rows is not None:
            arrow = ">" if self.direction == "above" else "<"
            return f"helps {arrow} {fmt_approx(self.rows)} {self._band}{cliff}"
        if self.kind in (HELPS, HURTS):
            return self.kind + (f" {fmt_ratio(self.ratio)}" if self.ratio else "") + cliff
        if self.kind == EVEN:
            return EVEN + cliff
        if self.kind == "mixed":
            helps = [fmt_num(n) for n, s in self.states if s == HELPS]
            if len(helps) == 1:
                return f"helps {helps[0]} only{cliff}"
            return (f"helps at {', '.join(helps)}" if helps else "hurts or even") + cliff
        return self.reason or self.kind


def crossings(sizes: list[int], ratios: list[float]) -> list[tuple[int, float]]:
    """Every segment where the ratio crosses 1, and the size where it does, interpolated on
    log-log scale. A ratio of 0 (the baseline failed) crosses somewhere in its segment: the
    geometric middle is given."""
    out = []
    for i in range(len(sizes) - 1):
        (n0, r0), (n1, r1) = (sizes[i], ratios[i]), (sizes[i + 1], ratios[i + 1])
        if (r0 >= 1) == (r1 >= 1):
            continue
        if r0 == 1 or r1 == 1:
            out.append((i, float(n0 if r0 == 1 else n1)))
        elif r0 == 0 or r1 == 0:
            out.append((i, math.sqrt(n0 * n1)))
        else:
            x0, x1, y0, y1 = math.log(n0), math.log(n1), math.log(r0), math.log(r1)
            out.append((i, math.exp(x0 - y0 * (x1 - x0) / (y1 - y0))))
    return out


def crossing(sizes: list[int], ratios: list[float]) -> tuple[int, float] | None:
    """The first of ``crossings``; None if the ratio never crosses 1."""
    found = crossings(sizes, ratios)
    return found[0] if found else None


@dataclass(frozen=True)
class Comparison:
    """A contender's point against the fastest of its baseline's at one size: ``ratio`` and the
    repeats' ``optimistic`` and ``pessimistic`` ratios (``bounds``; all 0 where no baseline
    configuration finished and each failed under at least the contender's limits), the
    baseline's configuration, whether it was measured in another run (``same_sitting``), whether
    the baseline ran out of memory there, and ``apart``: why no comparison is made (the baseline
    failed under smaller limits, ``unmatched``; the ratios are then None)."""

    rows: int
    ratio: float | None
    optimistic: float | None = None
    pessimistic: float | None = None
    baseline: str | None = None
    elsewhere: bool = False
    out_of_memory: bool = False
    apart: str | None = None

    def state(self, threshold: float = 1.0) -> str | None:
        """helps (below ``threshold`` beyond the repeats' spread), hurts (at or above it), even
        (within the spread: ``state``), or None where no comparison is made."""
        if self.ratio is None or self.optimistic is None or self.pessimistic is None:
            return None
        return state(self.ratio / threshold, self.optimistic / threshold, self.pessimistic / threshold)


def compare(point: Point, baseline: list[Point]) -> Comparison | None:
    """``point`` against the fastest finished point of ``baseline`` at its size, from its own run
    where that run measured one (``same_sitting``). Where none finished, a win for ``point`` if
    each failed under at least its limits, else apart (``unmatched``). None where there is
    nothing to compare: ``point`` did not finish, no baseline ran that size, or some of it
    neither finished nor failed (skipped)."""
    if point.status != "ok" or point.median is None:
        return None
    here, elsewhere = same_sitting(point, [p for p in baseline if p.rows == point.rows])
    ok = [p for p in here if p.status == "ok" and p.median is not None]
    if not ok:
        if not here or not all(p.status in FAILED_BASELINE for p in here):
            return None
        memory = any(p.status == "memory" for p in here)
        if why := next((w for p in here if (w := unmatched(p, point))), None):
            return Comparison(point.rows, None, elsewhere=elsewhere, out_of_memory=memory, apart=why)
        # the single machine could not do it at all: the contender wins
        return Comparison(point.rows, 0.0, 0.0, 0.0, elsewhere=elsewhere, out_of_memory=memory)
    best = min(ok, key=lambda p: p.median or math.inf)
    ratio, low, high = bounds(point, best)
    return Comparison(point.rows, ratio, low, high, best.config or None, elsewhere)


def verdict(dist: list[Point], single: dict[str, list[Point]], against: str = BASELINES["best"]) -> Verdict:
    """The distributed configuration's points against the fastest of the baseline's
    configurations (``single``) at each size (``compare``); ``against`` names the baseline in
    the text. A size where no baseline configuration finished counts as a win for the
    distributed one only where each failed under at least its limits; else that size is not
    compared. The memory cliff is the smallest size won because the baseline ran out of memory:
    the single machine at its best could not finish."""
    by_size = {p.rows: p for p in dist}
    sizes = sorted(by_size)
    tested = tuple(sizes)
    ratios, pessimistic, optimistic, used = [], [], [], []
    baseline, cliff, notes = None, None, []
    everyone = [replace(p, config=p.config or c) for c, points in single.items() for p in points]
    for n in sizes:
        found = compare(by_size[n], everyone)
        if found is None:
            continue
        if found.elsewhere:
            notes.append(f"{against} at {fmt_num(n)} from another run")
        if found.apart:
            notes.append(f"not comparable at {fmt_num(n)}: {found.apart}")
            continue
        if found.ratio == 0 and cliff is None and found.out_of_memory:
            cliff = n
        if found.baseline:
            baseline = found.baseline
        ratios.append(found.ratio)
        optimistic.append(found.optimistic)
        pessimistic.append(found.pessimistic)
        used.append(n)
    about = {"baseline": baseline, "against": against, "notes": tuple(notes), "memory_cliff": cliff}
    if not used:
        failed = sorted({p.status for p in dist if p.status != "ok"})
        if failed:
            return Verdict("failed", tested=tested, reason=", ".join(failed), **about)
        reason = f"no run of {against} at these sizes" if not notes else "no size compared"
        return Verdict("no_baseline", tested=tested, reason=reason, **about)
    states = tuple((n, state(r, o, p)) for n, r, o, p in zip(used, ratios, optimistic, pessimistic, strict=True))
    last = ratios[-1] or None  # 0: the baseline failed there
    said = [s for _, s in states]
    firm = [s for s in said if s != EVEN]
    changes = sum(a != b for a, b in zip(firm, firm[1:], strict=False))
    found = crossings(used, ratios)
    common = {"tested": tuple(used), "ratio": last, "states": states, **about}
    if len(set(said)) == 1:  # helps, hurts or even at every size
        return Verdict(said[0], **common)
    if changes != 1 or len(found) != 1:
        return Verdict("mixed", **common)
    segment, at = found[0]
    helps_above = ratios[segment] >= 1
    # The repeats' extremes bound the crossing; one that does not cross in range leaves that side open.
    optimistic_at, pessimistic_at = (c[1] if (c := crossing(used, r)) else None for r in (optimistic, pessimistic))
    low, high = (optimistic_at, pessimistic_at) if helps_above else (pessimistic_at, optimistic_at)
    if ratios[segment] == 0 or ratios[segment + 1] == 0:  # a failed baseline: only the segment is known
        low, high = float(used[segment]), float(used[segment + 1])
    if low is not None and high is not None and low > high:
        low, high = high, low
    side = "above" if helps_above else "below"
    common.pop("ratio")
    return Verdict("breaks_even", at, low, high, direction=side, **common)


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
