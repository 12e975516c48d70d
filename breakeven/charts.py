"""The site's charts (matplotlib, SVG): one question's time and memory against rows, the
scale-out model's curves, and the front page's picture of who wins. Engines have one colour
everywhere (``Engine.colour``), profiles a line style (tuned dashed), modes a marker; failures
are marked where they happened, with their status."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from breakeven import analysis, scaleout, winners
from breakeven.engines import registry
from breakeven.labels import short_config
from breakeven.results import Record, RecordedCase
from breakeven.units import fmt_num

FAILURE_MARKERS = {"timeout": "v", "memory": "X", "crashed": "P", "wrong_result": "D"}
EXTRAPOLATE_TO = 64  # workers: how far the model's curves go


def size_labels(sizes: list[int], bytes_per_row: float | None) -> list[str]:
    """``1e7`` over ``0.47 GB``: rows, and the big table's size in memory (Arrow) beside them."""
    if not bytes_per_row:
        return [fmt_num(n) for n in sizes]
    return [f"{fmt_num(n)}\n{n * bytes_per_row / 1e9:.2g} GB" for n in sizes]


def _pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only, and its SVG ids salted with a constant: the
    same records draw the same bytes (an id is otherwise random at each build)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "breakeven"
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    """The figure in the format of the suffix (SVG for the site), with no build date inside."""
    fig.savefig(path, metadata={"Date": None})


def question_chart(
    records: list[Record], path: Path, budget: int | None = None, bytes_per_row: float | None = None
) -> None:
    """Compute time vs rows (default | tuned), end-to-end vs rows, peak memory vs rows (with the
    memory budget, when the runs had one of their own, and each configuration's memory cliff:
    the first size at which it ran out of memory); log-log. Each line is labelled at its end, so
    that the chart reads without the legend."""
    plt = _pyplot()
    import matplotlib.ticker

    by_config: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_config[r.case.config_label].append(r)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    # How memory was counted (docs/memory.md): cgroup memory and PSS differ by the page cache.
    methods = " + ".join(sorted({r.memory_method or "?" for r in records}))
    panels = [
        (axes[0][0], "compute (s), default profiles", "compute_median", lambda r: r.case.profile == "default"),
        (
            axes[0][1],
            "compute (s), tuned profiles",
            "compute_median",
            lambda r: not r.distributed or r.case.profile == "tuned",
        ),
        (axes[1][0], "end-to-end: start-up + load + compute (s)", "end_to_end", lambda r: True),
        (axes[1][1], f"peak memory of the session (GiB), {methods}", "memory", lambda r: True),
    ]
    styles = {config: style(rs[0].case) for config, rs in by_config.items()}
    sizes = sorted({r.case.rows for r in records})
    for ax, title, metric, keep in panels:
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        ax.set_xlim(sizes[0] / 2, sizes[-1] * 2)
        ax.set_xticks(sizes, size_labels(sizes, bytes_per_row), fontsize=7)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("rows (and the big table in memory)" if bytes_per_row else "rows")
        if any(r.ok and keep(r) for r in records):
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no finished case", transform=ax.transAxes, ha="center")
        ends: list[tuple[float, float, str, str]] = []  # each line's last point, labelled below
        for config, rs in sorted(by_config.items()):
            rs = sorted((r for r in rs if keep(r)), key=lambda r: r.case.rows)
            if not rs:
                continue
            colour, line, marker = styles[config]
            ok = [r for r in rs if r.ok]
            xs = [r.case.rows for r in ok]
            if metric == "memory":
                ys = [(r.peak_memory_bytes or 0) / 2**30 for r in ok]
                ax.plot(xs, ys, line, marker=marker, color=colour, label=config)
            else:
                points = [analysis.Point.of(r, metric) for r in ok]
                ys = [p.median for p in points]
                err = [[p.median - p.fastest for p in points], [p.slowest - p.median for p in points]]
                ax.errorbar(xs, ys, yerr=err, fmt=line, marker=marker, color=colour, capsize=3, label=config)
            if xs and ys[-1]:
                ends.append((xs[-1], ys[-1], short_config(config), colour))
            cliff = next((r.case.rows for r in rs if r.status == "memory"), None)
            if metric == "memory" and cliff is not None:
                ax.axvline(cliff, color=colour, linestyle=line, linewidth=1, alpha=0.8)
                ax.annotate(f"memory cliff: {short_config(config)}", (cliff, 0.5), xycoords=ax.get_xaxis_transform(),
                            rotation=90, fontsize=6, color=colour, ha="right", va="center")  # fmt: skip
            for r in rs:
                if r.status in FAILURE_MARKERS:
                    ax.plot(r.case.rows, 1, FAILURE_MARKERS[r.status], color=colour, markersize=10,
                            transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip
                    ax.annotate(r.status, (r.case.rows, 1), xycoords=ax.get_xaxis_transform(),
                                textcoords="offset points", xytext=(4, -12), fontsize=7, color=colour)  # fmt: skip
        if metric == "memory" and budget:
            ax.axhline(budget / 2**30, color="#444", linestyle=":", linewidth=1)
            ax.annotate(f"memory budget {budget / 2**30:.3g} GiB", (sizes[0] / 2, budget / 2**30), fontsize=7,
                        color="#444", textcoords="offset points", xytext=(3, -10))  # fmt: skip
        label_ends(ax, ends)
        ax.grid(True, which="both", alpha=0.3)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        # Memory spans less than a decade: label 2 and 5 of each decade too.
        minor = matplotlib.ticker.FormatStrFormatter("%g") if metric == "memory" else matplotlib.ticker.NullFormatter()
        if metric == "memory":
            ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(minor)
    handles, labels = axes[1][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    _save(fig, path)
    plt.close(fig)


MODE_MARKERS = {"single": "o", "eager": "o", "streaming": "s", "threads": "o", "processes": "s", "local": "o"}
TOPOLOGY_MARKERS = ("^", "v", "<", ">", "*")


def style(case: RecordedCase) -> tuple[str, str, str]:
    """Colour by engine, line by profile (tuned dashed), marker by mode (and cluster topology)."""
    engine = registry().get(case.engine)
    colour = engine.colour if engine else "#7f7f7f"  # an engine of an old run that is no longer here
    line = "--" if case.profile == "tuned" else "-"
    if case.topology:
        return colour, line, TOPOLOGY_MARKERS[sum(map(ord, case.topology)) % len(TOPOLOGY_MARKERS)]
    return colour, line, MODE_MARKERS.get(case.mode, "o")


def scaleout_chart(fits: list[scaleout.Fit], baseline: dict[int, tuple[str, float]], path: Path) -> None:
    """Per configuration: measured compute time against workers at each size, the model's curve
    through them and on to larger clusters (dotted, shaded: a model), and the best single-machine
    time at that size for comparison."""
    plt = _pyplot()
    import matplotlib.ticker

    columns = min(2, len(fits))
    rows = math.ceil(len(fits) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.5 * rows), constrained_layout=True, squeeze=False)
    for ax in axes.flat[len(fits) :]:
        ax.set_visible(False)
    colours = plt.get_cmap("viridis")
    for ax, f in zip(axes.flat, fits, strict=False):
        sizes, top = f.measured_rows, max(f.measured_workers)
        ax.axvspan(top, EXTRAPOLATE_TO, color="#999", alpha=0.12)
        ax.text(math.sqrt(top * EXTRAPOLATE_TO), 0.97, "model only", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=8, color="#555")  # fmt: skip
        for i, n in enumerate(sizes):
            colour = colours(i / max(1, len(sizes) - 1) * 0.85)
            inside = [w / 10 for w in range(10, 10 * top + 1)]
            beyond = [top * 2 ** (k / 8) for k in range(0, 8 * int(math.log2(EXTRAPOLATE_TO / top)) + 1)]
            ax.plot(inside, [f.predict(n, w) for w in inside], "-", color=colour)
            ax.plot(beyond, [f.predict(n, w) for w in beyond], ":", color=colour)
            measured = [p for p in f.points if p.rows == n]
            ax.plot([p.workers for p in measured], [p.seconds for p in measured], "o", color=colour,
                    label=f"{fmt_num(n)} rows")  # fmt: skip
            if n in baseline:
                name, t = baseline[n]
                ax.axhline(t, color=colour, linestyle="--", linewidth=0.8, alpha=0.7)
                ax.annotate(f"best single machine ({name})", (1, t), fontsize=6, color=colour,
                            textcoords="offset points", xytext=(2, 2))  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlim(1, EXTRAPOLATE_TO)
        ax.set_title(f"{f.label}\nerror on the points: {scaleout.summary(f.errors)}", fontsize=9)
        ax.set_xlabel("workers")
        ax.set_ylabel("compute (s)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, title="measured (dots), model (lines)", title_fontsize=7)
    _save(fig, path)
    plt.close(fig)


LABEL_GAP = 0.045  # of the y axis between two labels at the same size, so that none covers another


def label_ends(ax: Any, ends: list[tuple[float, float, str, str]]) -> None:
    """Each line's name beside its last point (log y), pushed apart where they would overlap and
    kept inside the axis, with a thin leader to its point: the chart reads without its legend."""
    if not ends:
        return
    low, high = (math.log10(v) for v in ax.get_ylim())
    gap = LABEL_GAP * (high - low)
    by_x: dict[float, list[tuple[float, float, str, str]]] = defaultdict(list)
    for end in ends:
        by_x[end[0]].append(end)
    for group in by_x.values():
        group.sort(key=lambda e: e[1])
        step = min(gap, (high - low) / (len(group) + 1))  # as many labels as there are fit in the axis
        placed: list[float] = []
        for _, y, _, _ in group:
            at = math.log10(y)
            placed.append(max(at, placed[-1] + step) if placed else at)
        over = placed[-1] - (high - step / 2)
        if over > 0:  # the stack ran off the top: move it down as a whole
            placed = [at - over for at in placed]
        for (x, y, text, colour), at in zip(group, placed, strict=True):
            ax.annotate(text, (x, y), xytext=(x * 1.15, 10**at), fontsize=6, color=colour, va="center",
                        arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.4, "alpha": 0.6})  # fmt: skip


def engine_colour(config: str | None) -> str:
    engine = registry().get((config or "").split(":")[0])
    return engine.colour if engine else "#7f7f7f"


def winners_chart(found: dict[str, list[winners.Cell]], path: Path) -> None:
    """The front page's picture: for each baseline (a row of panels) and question family (a
    panel), each question at each size as a point at the best distributed configuration's time
    over the baseline's (log scale; above 1 the single machine wins by that factor), in the
    winner's engine colour; the median at each size joined by a line."""
    plt = _pyplot()
    import matplotlib.ticker
    from matplotlib.lines import Line2D

    families = [f for f in winners.FAMILY_NAMES if any(c.family == f for cs in found.values() for c in cs)]
    if not families:
        families = list(winners.FAMILY_NAMES)
    fig, axes = plt.subplots(len(found), len(families), figsize=(4.2 * len(families), 3.6 * len(found)),
                             constrained_layout=True, squeeze=False, sharey=True)  # fmt: skip
    engines: set[str] = set()
    for row, (against, cells) in zip(axes, found.items(), strict=True):
        for ax, family in zip(row, families, strict=True):
            cs = [c for c in cells if c.family == family and c.ratio is not None]
            ax.set_title(f"{winners.FAMILY_NAMES[family]}\nvs {against}", fontsize=9)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.axhline(1, color="#444", linewidth=1)
            ax.axhspan(1, 1e4, color="#f8d7d7", alpha=0.35, zorder=0)
            ax.axhspan(1e-4, 1, color="#d9f2d9", alpha=0.35, zorder=0)
            ax.text(0.02, 0.98, "single machine faster", transform=ax.transAxes, fontsize=7, va="top", color="#844")
            ax.text(0.02, 0.02, "distributed faster", transform=ax.transAxes, fontsize=7, va="bottom", color="#484")
            if not cs:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
                continue
            sizes = sorted({c.rows for c in cs})
            for i, c in enumerate(cs):
                ratio = min(max(c.ratio or 0.0, 1.2e-3), 0.9e3)  # only one side finished: drawn at the edge
                jitter = 1.0 + 0.12 * ((i * 7919) % 11 - 5) / 5  # spread the points of one size
                engines.add((c.winner or "").split(":")[0])
                ax.plot(c.rows * jitter, ratio, "o", color=engine_colour(c.winner), markersize=4, alpha=0.85)
            medians = [statistics.median([c.ratio for c in cs if c.rows == n and c.ratio is not None]) for n in sizes]
            drawn = [min(max(m, 1.2e-3), 0.9e3) for m in medians]
            ax.plot(sizes, drawn, "-", color="#222", linewidth=1.2)
            for n, m, y in zip(sizes, medians, drawn, strict=True):
                said = analysis.fmt_ratio(m) if 0 < m < math.inf else "one side only"
                ax.annotate(said, (n, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=7)  # fmt: skip
            ax.set_xlim(sizes[0] / 2.5, sizes[-1] * 2.5)
            ax.set_xticks(sizes, [fmt_num(n) for n in sizes], fontsize=7)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_ylim(1e-3, 1e3)
            ax.set_xlabel("rows")
        row[0].set_ylabel("best distributed time / baseline's")
    handles = [Line2D([], [], marker="o", linestyle="", color=engine_colour(e), label=e) for e in sorted(engines)]
    handles.append(Line2D([], [], color="#222", label="median"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, title="winner")
    _save(fig, path)
    plt.close(fig)
