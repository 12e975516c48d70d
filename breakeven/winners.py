"""Who wins each question at each size, and by how much: the site's front page in numbers.

A *cell* is one question at one size. Its ratio is the best distributed configuration's median
compute time over the baseline's (``analysis.BASELINES``: the best single-machine engine, or
pandas): above 1 the single machine wins by that factor, below 1 distribution wins. A win is
*clear* when the winner's slowest repeat beat the loser's fastest; otherwise the two overlap
and the sentences say so. The sentences say the same for a reader in a hurry; every figure in
them comes from the cells.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from breakeven import analysis, scenarios
from breakeven.labels import short_config
from breakeven.results import Record
from breakeven.units import fmt_num


@dataclass(frozen=True)
class Cell:
    question: str
    family: str
    rows: int
    single: str | None  # the baseline's fastest configuration (None: it did not finish)
    distributed: str | None  # the fastest distributed configuration (None: none finished)
    single_point: analysis.Point | None = None  # their medians and the extremes of the repeats
    distributed_point: analysis.Point | None = None
    # Why the two sides are not compared: the one that did not finish had less time or memory
    # than the other used (``analysis.unmatched``), or it did not run the question at all.
    apart: str | None = None
    other_run: bool = False  # the baseline was measured in another run than the distributed side

    @property
    def single_seconds(self) -> float | None:
        return self.single_point.median if self.single_point else None

    @property
    def distributed_seconds(self) -> float | None:
        return self.distributed_point.median if self.distributed_point else None

    @property
    def ratio(self) -> float | None:
        """Distributed over single machine; 0 when only distribution finished, inf when only
        the single machine did; None when neither, or when they are not compared (``apart``)."""
        if self.apart:
            return None
        if self.distributed_seconds is None:
            return math.inf if self.single_seconds is not None else None
        if self.single_seconds is None:
            return 0.0
        return self.distributed_seconds / self.single_seconds

    @property
    def winner(self) -> str | None:
        ratio = self.ratio
        if ratio is None or self.state == analysis.EVEN:
            return None
        return self.distributed if ratio < 1 else self.single

    @property
    def clear(self) -> bool:
        """Whether the winner's slowest repeat beat the loser's fastest (a side that did not
        finish loses clearly); False where the repeats overlap or either side ran only once."""
        ratio = self.ratio
        if ratio is None:
            return False
        if ratio == 0 or math.isinf(ratio):
            return True
        points = (self.distributed_point, self.single_point)
        return all(p is not None and p.times >= 2 for p in points) and self.state != analysis.EVEN

    @property
    def state(self) -> str | None:
        """``helps`` or ``hurts`` (distribution, beyond the repeats' spread, or without one: a
        single run each), ``even`` (the repeats overlap: ``analysis.state``); None where not
        compared."""
        ratio = self.ratio
        if ratio is None:
            return None
        if self.distributed_point is None or self.single_point is None or not 0 < ratio < math.inf:
            return analysis.direction(ratio)
        return analysis.state(*analysis.bounds(self.distributed_point, self.single_point))


def cells(records: list[Record], baseline: str = "best") -> list[Cell]:
    """Every question and size at which the baseline or a distributed configuration ran. The
    baseline comes from the run of the fastest distributed configuration where that run
    measured it (``analysis.same_sitting``); a side that did not finish beats nobody unless it
    had the other's limits (``analysis.unmatched``)."""
    out = []
    families = {r.case.question_label: r.family for r in records}
    for scen in scenarios.by_size(records):
        if scen.shown_elsewhere:
            continue
        single = {c: r for c, r in scen.cells.items() if not r.distributed and analysis.baseline_of(baseline, c)}
        dist = {c: r for c, r in scen.cells.items() if r.distributed}
        if not single or not dist:
            continue
        best_dist = _fastest(dist)
        anchor = dist[best_dist] if best_dist else next(iter(dist.values()))
        same = {c: r for c, r in single.items() if r.run_id == anchor.run_id}
        single = same or single
        best_single = _fastest(single)
        dist_point = analysis.Point.of(dist[best_dist]) if best_dist else None
        single_point = analysis.Point.of(single[best_single]) if best_single else None
        apart = None
        if dist_point is not None and single_point is None:
            apart = _not_compared(list(single.values()), dist_point)
        elif single_point is not None and dist_point is None:
            apart = _not_compared(list(dist.values()), single_point)
        out.append(
            Cell(
                scen.question,
                families[scen.question],
                scen.rows,
                best_single,
                best_dist,
                single_point,
                dist_point,
                apart,
                other_run=not same,
            )
        )
    return out


def _not_compared(failed: list[Record], finished: analysis.Point) -> str | None:
    """Why the side whose every configuration failed is not beaten by ``finished``; None if it is."""
    for r in failed:
        if r.status not in analysis.FAILED_BASELINE:
            return f"{short_config(r.case.config_label)} {r.status.replace('_', ' ')}"
        if why := analysis.unmatched(analysis.Point.of(r), finished):
            return why
    return None


def _fastest(found: dict[str, Record]) -> str | None:
    ok = {c: r.times.compute_median for c, r in found.items() if r.ok and r.times.compute_median}
    return min(ok, key=lambda c: ok[c] or math.inf) if ok else None


def ratio_text(cell: Cell) -> str:
    """``hurts 12x``, ``helps 1.5x``, ``even (1.1x faster)``; where only one side finished,
    which; where they are not compared, why."""
    ratio = cell.ratio
    if cell.apart:
        return f"not comparable: {cell.apart}"
    if ratio is None:
        return "–"
    if ratio == 0:
        return "only distributed finished"
    if math.isinf(ratio):
        return "only the single machine finished"
    if cell.state == analysis.EVEN:
        return f"even ({analysis.fmt_ratio(ratio)} {'faster' if ratio < 1 else 'slower'}, within the repeats' spread)"
    return f"{analysis.direction(ratio)} {analysis.fmt_ratio(ratio)}"


FAMILY_NAMES = {"groupby": "group-by aggregates", "join": "merges", "transform": "chunked transforms"}


def sentences(found: list[Cell], against: str) -> list[str]:
    """The answer in a few sentences, each figure from ``found`` (cells against ``against``). A
    win is a size where distribution was faster beyond the repeats' spread; sizes within it are
    counted as even, and sizes not compared (``Cell.apart``) apart."""
    known = [c for c in found if c.ratio is not None]
    apart = [c for c in found if c.apart]
    if not known:
        return [f"No question has both {against} and a distributed engine measured at the same size."]
    wins = [c for c in known if c.state == analysis.HELPS]
    sizes = sorted({c.rows for c in known})
    out = [
        f"Against {against}, a distributed engine was faster in {len(wins)} of {len(known)} measured "
        f"question sizes ({fmt_num(sizes[0])} to {fmt_num(sizes[-1])} rows){_even(known)}{_apart(apart, against)}."
    ]
    by_family: dict[str, list[Cell]] = defaultdict(list)
    for c in known:
        by_family[c.family].append(c)
    for family, cs in by_family.items():
        finite = [c.ratio for c in cs if c.ratio is not None and 0 < c.ratio < math.inf]
        won = [c for c in cs if c.state == analysis.HELPS]
        largest = max(c.rows for c in cs)
        at_largest = [c.ratio for c in cs if c.rows == largest and c.ratio is not None and 0 < c.ratio < math.inf]
        typical = statistics.median(finite) if finite else None
        name = FAMILY_NAMES.get(family, family).capitalize()
        said = f"{name}: distribution won {len(won)} of {len(cs)}{_even(cs)}"
        if typical is not None:
            whose = f"{against}'" if against.endswith("s") else f"{against}'s"
            said += f"; the best distributed engine took a median {analysis.fmt_times(typical)} {whose} time"
        if at_largest:
            said += f" ({analysis.fmt_times(statistics.median(at_largest))} at {fmt_num(largest)} rows)"
        if won:
            best = min(won, key=lambda c: c.ratio if c.ratio is not None else math.inf)
            how = f"{analysis.fmt_ratio(best.ratio)} faster" if best.ratio else f"where {against} did not finish"
            said += f"; its best win: {short_config(best.distributed or '')} on {best.question} at "
            said += f"{fmt_num(best.rows)} rows, {how}" + ("" if best.clear else " (a single run each: no spread)")
        out.append(said + ".")
    return out


def _even(cells: list[Cell]) -> str:
    """How many sizes were even (within the repeats' spread), where any were."""
    even = sum(c.state == analysis.EVEN for c in cells)
    return f" ({even} more even, within the repeats' spread)" if even else ""


def _apart(cells: list[Cell], against: str) -> str:
    """The sizes not compared, and the first reason."""
    if not cells:
        return ""
    first = cells[0]
    return f"; {len(cells)} more not comparable (such as {first.question} at {fmt_num(first.rows)}: {first.apart})"
