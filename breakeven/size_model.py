"""A value at a data size from the sizes measured: measured, interpolated on log-log scale, or
extrapolated along the local power law within a band its own forward misses give; refused
where the data cannot say (see ``breakeven.advice`` for how the advisor uses it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from breakeven.units import fmt_num

MAX_STRETCH = 10.0  # a size at most this factor beyond (or below) the measured ones
MAX_MISS = 0.25  # refuse an extrapolation whose way of predicting missed a measured size by more
MIN_FIT_SIZES = 3  # two sizes give a slope, and no miss to judge it by
# Up only where time grows at least as rows ** MIN_SLOPE between the two largest sizes: flatter,
# fixed costs still dominate and the size at which the work takes over is not in the data. On
# the calibration sweep (1e5 to 3e6 rows, predicting 1e7) every upward prediction from a slope
# under 0.2 missed by 23% to 55% though its own forward misses were small.
MIN_SLOPE = 0.5


@dataclass(frozen=True)
class Estimate:
    """A value, its band, and how it was obtained."""

    value: float | None
    low: float | None = None
    high: float | None = None
    how: str = "not covered"  # measured, interpolated, extrapolated, model, not covered

    @property
    def known(self) -> bool:
        return self.value is not None


def _loglog(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    """The power law through (x0, y0) and (x1, y1), at x."""
    if y0 <= 0 or y1 <= 0 or x0 == x1:
        return y0
    slope = math.log(y1 / y0) / math.log(x1 / x0)
    return y0 * (x / x0) ** slope


def forward_misses(points: list[tuple[int, float]]) -> list[tuple[float, float]]:
    """For each size from the third on (``points`` in the direction of extrapolation), the
    relative miss of the local power law through the two before it, and the log-step it spanned."""
    out = []
    for k in range(2, len(points)):
        (x0, y0), (x1, y1), (x, y) = points[k - 2], points[k - 1], points[k]
        out.append((abs(_loglog(x0, y0, x1, y1, x) / y - 1), abs(math.log(x / x1))))
    return out


def size_model(points: list[tuple[int, float, float, float]], rows: int) -> tuple[Estimate, str | None]:
    """A value at ``rows`` from (size, median, low, high) measured at other sizes; or why not."""
    points = sorted(points)
    sizes = [p[0] for p in points]
    if not points:
        return Estimate(None), "no finished record"
    exact = [p for p in points if p[0] == rows]
    if exact:
        _, median, low, high = exact[0]
        return Estimate(median, low, high, "measured"), None
    below = [p for p in points if p[0] < rows]
    above = [p for p in points if p[0] > rows]
    if below and above:
        (x0, m0, l0, h0), (x1, m1, l1, h1) = below[-1], above[0]
        value = _loglog(x0, m0, x1, m1, rows)
        return Estimate(value, _loglog(x0, l0, x1, l1, rows), _loglog(x0, h0, x1, h1, rows), "interpolated"), None
    nearest = sizes[-1] if above == [] else sizes[0]
    stretch = rows / nearest if rows > nearest else nearest / rows
    if stretch > MAX_STRETCH:
        return Estimate(None), f"measured at {fmt_sizes(sizes)}: {fmt_num(rows)} is more than {MAX_STRETCH:.0f}x beyond"
    if len(points) < MIN_FIT_SIZES:
        return Estimate(None), f"measured at {fmt_sizes(sizes)} only: too few sizes to extrapolate with a known error"
    pairs = [(p[0], p[1]) for p in points]
    toward = pairs if not above else pairs[::-1]  # in the direction of extrapolation, the nearest last
    misses = forward_misses(toward)
    miss = max(m for m, _ in misses)
    if miss > MAX_MISS:
        side = "below" if not above else "above"
        return Estimate(None), (
            f"a measured size predicted from the two {side} it was missed by {miss:.0%} (the limit is {MAX_MISS:.0%})"
        )
    (x0, y0), (x1, y1) = toward[-2], toward[-1]
    slope = math.log(y1 / y0) / math.log(x1 / x0) if y0 > 0 and y1 > 0 else 0.0
    if not above and slope < MIN_SLOPE:
        return Estimate(None), (
            f"its time grew as rows^{slope:.2f} from {fmt_num(x0)} to {fmt_num(x1)}: fixed costs dominate, and "
            f"where the work takes over is not in the data (extrapolating up needs rows^{MIN_SLOPE:g} or more)"
        )
    value = _loglog(x0, y0, x1, y1, rows)
    widen = max(m / step for m, step in misses) * abs(math.log(rows / x1))
    high = value * (1 + widen)
    if not above:  # the slope has been steepening: the band lets it steepen as much again
        (xp, yp) = toward[-3]
        steepening = slope - math.log(y0 / yp) / math.log(x0 / xp) if yp > 0 else 0.0
        high = max(high, y1 * (rows / x1) ** (slope + max(0.0, steepening)))
    return Estimate(value, value * (1 - widen), high, "extrapolated"), None


def fmt_sizes(sizes: list[int]) -> str:
    return ", ".join(fmt_num(s) for s in sizes)


def memory_line(points: list[tuple[int, float]], rows: int) -> Estimate:
    """Peak memory at ``rows``: measured, or the straight line through the two nearest sizes."""
    points = sorted(points)
    exact = [m for x, m in points if x == rows]
    if exact:
        return Estimate(exact[0], how="measured")
    if len(points) < 2:
        return Estimate(None)
    nearest = sorted(points, key=lambda p: abs(math.log(p[0] / rows)))[:2]
    (x0, m0), (x1, m1) = sorted(nearest)
    stretch = max(rows / x1, x0 / rows, 1.0)
    if stretch > MAX_STRETCH:
        return Estimate(None)
    value = max(m0 + (m1 - m0) * (rows - x0) / (x1 - x0), 0.0) if x1 != x0 else m0
    how = "interpolated" if x0 < rows < x1 else "extrapolated"
    return Estimate(value, how=how)
