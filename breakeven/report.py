"""The results site: a static folder (``results/site/``) that any static host can serve.

``index.html`` holds, per machine, the verdict matrix (question x distributed configuration:
helps, hurts, or the breakeven point in rows) for compute and end-to-end time; one page per
workload family holds, per question, log-log charts of time against rows for every engine
configuration (the spread of the repeats as error bars; default and tuned profiles side by
side), end-to-end time and peak memory against rows, and every failure drawn where it
happened. Every page names the machine and the versions; pages link to the asv site when
``asv publish`` has built it into ``site/asv/``.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breakeven import analysis, scaleout
from breakeven.data import fmt_num
from breakeven.engines import registry
from breakeven.results import Record, RecordedCase, RunMeta, RunStore, newest
from breakeven.workloads import FAMILIES

FAMILY_TITLES = {"groupby": "Group-by aggregates", "join": "Small-table merges", "transform": "Chunked transforms"}
# For a browser (and the site's test) to tell that the page is whole: how many charts loaded, and
# any error the page met (a script error, or a chart or stylesheet that failed to load).
CHECK_SCRIPT = """
window.addEventListener("error", (e) => {
  const root = document.documentElement;
  root.dataset.errors = (root.dataset.errors || "") + (e.message || (e.target && e.target.src) || "error") + ";";
}, true);
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const loaded = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.documentElement.dataset.charts = loaded + "/" + imgs.length;
});
"""
FAILURE_MARKERS = {"timeout": "v", "memory": "X", "crashed": "P", "wrong_result": "D"}


@dataclass
class Machine:
    """The records of one machine, with what every page says about it."""

    label: str
    description: str
    versions: dict[str, str]
    records: list[Record]
    memory_budget: int | None = None  # a budget of the runs' own, drawn on the memory charts


def budget_note(meta: RunMeta) -> str:
    """`` under a 2 GiB memory budget`` for a run with a budget of its own (not the default 80% of RAM)."""
    budget, memory = meta.settings.memory_budget, meta.memory_bytes
    if not budget or abs(budget - 0.8 * memory) <= 0.01 * memory:
        return ""
    return f" under a {budget / 2**30:.3g} GiB memory budget"


def collect(stores: list[RunStore]) -> list[Machine]:
    """Records of the runs by machine, versions and memory budget (verdicts never compare across
    them); a case measured in several runs counts once, its newest. Runs with other engine
    versions than most runs of their machine (an engine-version comparison) are a group of their
    own, named for the versions that differ; so are runs with a memory budget of their own."""
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    metas: dict[tuple[str, str, str], RunMeta] = {}
    runs: dict[tuple[str, str], int] = defaultdict(int)
    for store in stores:
        meta = store.meta()
        versions = json.dumps({k: v for k, v in meta.versions.items() if k != "breakeven"}, sort_keys=True)
        key = (meta.machine_label, versions, budget_note(meta))
        metas.setdefault(key, meta)
        runs[key[:2]] += 1
        groups[key] += store.records()
    usual = {}  # machine -> the versions most of its runs had
    for machine_, versions in sorted(runs, key=lambda k: -runs[k]):
        usual.setdefault(machine_, json.loads(versions))
    machines = []
    for key, records in groups.items():
        meta, versions = metas[key], json.loads(key[1])
        differ = [f"{k} {v}" for k, v in sorted(versions.items()) if usual[key[0]].get(k) != v]
        label = key[0] + (f" with {', '.join(differ)}" if differ else "") + key[2]
        budget = meta.settings.memory_budget if key[2] else None
        machines.append(Machine(label, meta.machine_description, meta.versions, newest(records), budget))
    return sorted(machines, key=lambda m: (" with " in m.label, " under " in m.label, m.label))


def _page(title: str, body: str, machines: list[Machine], asv: bool) -> str:
    footer = "".join(
        f"<p><b>{html.escape(m.label)}</b>: {html.escape(m.description)}; "
        + ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in sorted(m.versions.items()))
        + "</p>"
        for m in machines
    )
    nav = " · ".join(
        ['<a href="index.html">verdicts</a>']
        + [f'<a href="{f}.html">{FAMILY_TITLES[f]}</a>' for f in FAMILIES]
        + (['<a href="asv/index.html">asv: history per commit</a>'] if asv else [])
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · breakeven</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.helps {{ background: #d9f2d9; }} .hurts {{ background: #f8d7d7; }} .breaks_even {{ background: #fff3c4; }}
.failed, .no_baseline {{ background: #eee; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: 100%; }} .wide {{ overflow-x: auto; }}
footer {{ margin-top: 3em; font-size: 0.8em; color: #555; border-top: 1px solid #ccc; }}
</style></head>
<body><nav>{nav}</nav><h1>{html.escape(title)}</h1>
{body}
<footer><p>Measured on:</p>{footer}</footer>
<script>{CHECK_SCRIPT}</script>
</body></html>
"""


def comparable(records: list[Record]) -> tuple[list[Record], list[str]]:
    """The records a verdict may compare: those of runs that gave every engine as many cores as
    the single-machine engines had (a cluster of one core, run for the scale-out model, is not
    compared with two-core DuckDB), and the configurations left out."""
    counts: dict[Any, int] = defaultdict(int)
    for r in records:
        if not r.distributed:
            counts[r.run_cores] += 1
    if not counts:
        return records, []
    cores = max(counts, key=lambda c: counts[c])
    kept = [r for r in records if r.run_cores == cores]
    other = [r for r in records if r.run_cores != cores]
    left = sorted({f"{r.case.config_label} ({_cores(r.run_cores)})" for r in other})
    return kept, left


def _cores(n: Any) -> str:
    return f"{n} core" if n == 1 else f"{n} cores"


def _verdict_table(records: list[Record], metric: str, link: bool = True) -> str:
    records, left = comparable(records)
    note = (
        f"<p>Not compared: runs with other cores than the single-machine engines had: {html.escape(', '.join(left))}"
        ".</p>"
        if left
        else ""
    )
    found = analysis.matrix(records, metric)
    configs = sorted({c for row in found.values() for c in row})
    if not configs:
        return "<p>No distributed engine in these runs.</p>"

    families = {r.case.question_label: r.family for r in records}

    def question_cell(question: str) -> str:
        family = families[question]
        name = html.escape(question)
        return f'<a href="{family}.html#{_anchor(question)}">{name}</a>' if link else name

    def cell(question: str, config: str) -> str:
        v = found[question].get(config)
        return f'<td class="{v.kind}" title="{html.escape(v.text)}">{html.escape(v.short)}</td>' if v else "<td></td>"

    # The longer list runs down the page, so that the table fits its width.
    if len(configs) > len(found):
        head = "<th>configuration</th>" + "".join(f"<th>{question_cell(q)}</th>" for q in found)
        rows = [f"<tr><td>{html.escape(c)}</td>{''.join(cell(q, c) for q in found)}</tr>" for c in configs]
    else:
        head = "<th>question</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in configs)
        rows = [f"<tr><td>{question_cell(q)}</td>{''.join(cell(q, c) for c in configs)}</tr>" for q in found]
    return f'<div class="wide"><table><tr>{head}</tr>{"".join(rows)}</table></div>{note}'


def _anchor(question: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in question)


def _chart(records: list[Record], path: Path, budget: int | None = None) -> None:
    """Compute time vs rows (default | tuned), end-to-end vs rows, peak memory vs rows (with the
    memory budget, when the runs had one of their own); log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    by_config: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_config[r.case.config_label].append(r)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    # How memory was counted (README, "Memory"): cgroup memory and PSS differ by the page cache.
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
    styles = {config: _style(rs[0].case) for config, rs in by_config.items()}
    sizes = sorted({r.case.rows for r in records})
    for ax, title, metric, keep in panels:
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        ax.set_xlim(sizes[0] / 2, sizes[-1] * 2)
        ax.set_xlabel("rows")
        if any(r.ok and keep(r) for r in records):
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no finished case", transform=ax.transAxes, ha="center")
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
        ax.grid(True, which="both", alpha=0.3)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        # Memory spans less than a decade: label 2 and 5 of each decade too.
        minor = matplotlib.ticker.FormatStrFormatter("%g") if metric == "memory" else matplotlib.ticker.NullFormatter()
        if metric == "memory":
            ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(minor)
    handles, labels = axes[1][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.savefig(path)  # the format follows the suffix: SVG for the site
    plt.close(fig)


MODE_MARKERS = {"single": "o", "eager": "o", "streaming": "s", "threads": "o", "processes": "s", "local": "o"}
TOPOLOGY_MARKERS = ("^", "v", "<", ">", "*")


def _style(case: RecordedCase) -> tuple[str, str, str]:
    """Colour by engine, line by profile (tuned dashed), marker by mode (and cluster topology)."""
    engine = registry().get(case.engine)
    colour = engine.colour if engine else "#7f7f7f"  # an engine of an old run that is no longer here
    line = "--" if case.profile == "tuned" else "-"
    if case.topology:
        return colour, line, TOPOLOGY_MARKERS[sum(map(ord, case.topology)) % len(TOPOLOGY_MARKERS)]
    return colour, line, MODE_MARKERS.get(case.mode, "o")


def _family_page(family: str, machine: Machine, folder: Path, prefix: str) -> str:
    records = [r for r in machine.records if r.family == family]
    if not records:
        return ""
    parts = [f"<h2>{html.escape(machine.label)}</h2>"]
    verdicts = analysis.matrix(comparable(records)[0])
    # Engines that choose their own chunks ran a chunked question once, without a chunk size: they
    # are drawn with every chunk size (as the verdicts count them), not on a page of their own.
    for question, q in analysis.questions(records).items():
        if q.shown_elsewhere:
            continue
        rs = q.records
        chart = f"{prefix}-{_anchor(question)}.svg"
        _chart(rs, folder / chart, machine.memory_budget)
        sizes = ", ".join(fmt_num(n) for n in sorted({r.case.rows for r in rs}))
        listed = "".join(
            f"<li>{html.escape(r.case.config_label)} at {fmt_num(r.case.rows)} rows: "
            f"<b>{html.escape(r.status)}</b> {html.escape(r.reason or '')}</li>"
            for r in rs
            if not r.ok
        )
        said = "".join(
            f"<li>{html.escape(c)}: {html.escape(v.text)}</li>" for c, v in verdicts.get(question, {}).items()
        )
        parts.append(
            f'<h3 id="{_anchor(question)}">{html.escape(question)}</h3>'
            f"<p>{html.escape(rs[0].question)}; sizes {sizes}.</p>"
            f"<ul>{said}</ul>"
            f'<figure><img src="{chart}" alt="time and memory against rows for {html.escape(question)}"></figure>'
            + (f"<p>Not finished (drawn as markers at the top of the charts):</p><ul>{listed}</ul>" if listed else "")
            + _scaleout_section(question, rs, folder, f"{prefix}-{_anchor(question)}-scaleout.svg")
        )
    return "".join(parts)


EXTRAPOLATE_TO = 64  # workers: how far the model's curves go


def _scaleout_section(question: str, rs: list[Record], folder: Path, chart: str) -> str:
    """The scale-out model of each cluster configuration on one question (``rs``, its records):
    its terms, its error on the measured points, and its curves beyond them, marked as a model."""
    fits, skipped = scaleout.fit(rs)
    if not fits and not skipped:
        return ""
    notes = "".join(f"<li>{html.escape(s.label)}: no model, {html.escape(s.reason)}</li>" for s in skipped)
    if not fits:
        return f"<h4>Scale-out model</h4><ul>{notes}</ul>"
    baseline = _best_single(rs)
    _scaleout_chart(fits, baseline, folder / chart)
    head = (
        "<tr><th>configuration</th><th>fixed (s)</th><th>per row (ns, per worker)</th><th>per worker (s)</th>"
        "<th>points</th><th>error on them</th><th>leave-one-out error</th>"
        + "".join(f"<th>model at {w} workers</th>" for w in (8, 32))
        + "<th>best worker count</th></tr>"
    )
    rows = []
    for f in fits:
        n = f.measured_rows[-1]
        best = f.best_workers(n)
        best_text = "more is always faster" if math.isinf(best) else f"{best:.1f}"
        rows.append(
            f"<tr><td>{html.escape(f.label)}</td><td>{f.fixed:.3g}</td><td>{f.per_row * 1e9:.3g}</td>"
            f"<td>{f.per_worker:.3g}</td><td>{len(f.points)}</td><td>{scaleout.summary(f.errors)}</td>"
            f"<td>{scaleout.summary(f.loo_errors)}</td>"
            + "".join(f"<td>{f.predict(n, w):.3g} s</td>" for w in (8, 32))
            + f"<td>{best_text} (at {fmt_num(n)} rows)</td></tr>"
        )
    return (
        "<h4>Scale-out model</h4>"
        "<p>Fitted to the cluster runs above, per configuration: <i>T(n, w) = fixed + per_row &middot; n / w + "
        "per_worker &middot; w</i> for <i>n</i> rows on <i>w</i> workers (compute phase, least squares on the "
        "relative error, terms non-negative). Columns from 8 workers on, and the chart's shaded part, are the "
        "<b>model, not measurements</b>: this machine ran the worker counts marked. The model times are at the "
        "largest size measured.</p>"
        f"<table>{head}{''.join(rows)}</table>"
        + (f"<ul>{notes}</ul>" if notes else "")
        + f'<figure><img src="{chart}" alt="scale-out model for {html.escape(question)}"></figure>'
    )


def _best_single(records: list[Record]) -> dict[int, tuple[str, float]]:
    """rows -> the fastest single-machine configuration's name and median compute time."""
    best: dict[int, tuple[str, float]] = {}
    for r in records:
        if r.distributed or not r.ok or r.times.compute_median is None:
            continue
        n, t = r.case.rows, r.times.compute_median
        if n not in best or t < best[n][1]:
            best[n] = (r.case.config_label, t)
    return best


def _scaleout_chart(fits: list[scaleout.Fit], baseline: dict[int, tuple[str, float]], path: Path) -> None:
    """Per configuration: measured compute time against workers at each size, the model's curve
    through them and on to larger clusters (dotted, shaded: a model), and the best single-machine
    time at that size for comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
    fig.savefig(path)
    plt.close(fig)


INTRO = (
    "<p>Each distributed configuration against the best single-machine engine on the same machine, at each "
    "size measured: <b>helps</b> (faster at every size), <b>hurts</b> (never breaks even in the range), both "
    "with a factor at the largest size (<i>hurts 4x</i>: four times the best single-machine engine's median "
    "time; <i>helps 2.5x</i>: the best single-machine engine takes 2.5 times as long), or "
    "<b>helps &gt; N</b>: the breakeven point, interpolated on log scale, with its range from the repeats' "
    "extremes; <i>cliff</i> is the smallest size at which a single-machine engine ran out of its memory budget "
    "while this one finished.</p>"
)


def build(stores: list[RunStore], out: Path) -> Path:
    """Write the site to ``out``; returns its index."""
    out.mkdir(parents=True, exist_ok=True)
    machines = collect(stores)
    asv = (out / "asv" / "index.html").exists()
    sections = []
    bodies: dict[str, list[str]] = {family: [] for family in FAMILIES}
    for i, machine in enumerate(machines):
        sections.append(
            f"<h2>{html.escape(machine.label)}</h2>{INTRO}"
            f"<h3>Compute</h3>{_verdict_table(machine.records, 'compute_median')}"
            f"<h3>End-to-end</h3>{_verdict_table(machine.records, 'end_to_end')}"
        )
        for family in FAMILIES:
            bodies[family].append(_family_page(family, machine, out, f"m{i}-{family}"))
    for family, parts in bodies.items():
        body = "".join(parts) or "<p>No cases of this family in these runs.</p>"
        (out / f"{family}.html").write_text(_page(FAMILY_TITLES[family], body, machines, asv))
    index = out / "index.html"
    index.write_text(_page("When does distribution pay off?", "".join(sections), machines, asv))
    return index
