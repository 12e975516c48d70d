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
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from breakeven import analysis, charts, claims, cost, scaleout, scenarios, winners
from breakeven import data as datagen
from breakeven.defaults import default_budget
from breakeven.labels import short_config
from breakeven.results import Record, RunMeta, RunStore, newest
from breakeven.units import fmt_num
from breakeven.workloads import FAMILIES

FAMILY_TITLES = {"groupby": "Group-by aggregates", "join": "Merges", "transform": "Chunked transforms"}


@dataclass
class MachineRuns:
    """The records of one machine, with what every page says about it."""

    label: str
    description: str
    versions: dict[str, str]
    records: list[Record]
    memory_budget: int | None = None  # a budget of the runs' own, drawn on the memory charts


def budget_note(meta: RunMeta) -> str:
    """`` under a 2 GiB memory budget`` for a run with a budget of its own (not the default share of RAM)."""
    budget, memory = meta.settings.memory_budget, meta.memory_bytes
    if not budget or abs(budget - default_budget(memory)) <= 0.01 * memory:
        return ""
    return f" under a {budget / 2**30:.3g} GiB memory budget"


def collect(stores: list[RunStore]) -> list[MachineRuns]:
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
        machines.append(MachineRuns(label, meta.machine_description, meta.versions, newest(records), budget))
    return sorted(machines, key=lambda m: (" with " in m.label, " under " in m.label, m.label))


def _page(title: str, body: str, machines: list[MachineRuns], asv: bool) -> str:
    """A page of the site (``templates/page.html``): the navigation, ``body`` (HTML), the machines."""
    nav = (
        ['<a href="index.html">the answer</a>', '<a href="claims.html">claims</a>', '<a href="cost.html">COST</a>']
        + [f'<a href="{f}.html">{FAMILY_TITLES[f]}</a>' for f in FAMILIES]
        + (['<a href="asv/index.html">asv: history per commit</a>'] if asv else [])
    )
    return _templates().get_template("page.html").render(title=title, nav=nav, body=body, machines=machines)


@cache
def _templates() -> jinja2.Environment:
    """The site's templates (``breakeven/templates/``): HTML, its stylesheet and its script. Text
    is escaped where a template says so (``| h``, Python's ``html.escape``); a body is HTML."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["h"] = html.escape
    return env


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


def _verdict_table(records: list[Record], metric: str, link: bool = True, baseline: str = "best") -> str:
    records, left = comparable(records)
    note = (
        f"<p>Not compared: runs with other cores than the single-machine engines had: {html.escape(', '.join(left))}"
        ".</p>"
        if left
        else ""
    )
    found = analysis.matrix(records, metric, baseline)
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


def _family_page(family: str, machine: MachineRuns, folder: Path, prefix: str) -> str:
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
        charts.question_chart(rs, folder / chart, machine.memory_budget, _bytes_per_row(rs[0].case.data_kind))
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
            f'<div class="pair"><figure><img src="{chart}" alt="time and memory against rows for '
            f'{html.escape(question)}"></figure>{_numbers(rs)}</div>'
            + (f"<p>Not finished (drawn as markers at the top of the charts):</p><ul>{listed}</ul>" if listed else "")
            + _scaleout_section(question, rs, folder, f"{prefix}-{_anchor(question)}-scaleout.svg")
        )
    return "".join(parts)


def _bytes_per_row(kind: str) -> float | None:
    """Bytes a row of the kind's big table takes in memory (Arrow); None for a user's data."""
    try:
        return datagen.arrow_bytes_per_row(kind)
    except (KeyError, ValueError):
        return None


def _seconds(t: float) -> str:
    return f"{t * 1000:.3g} ms" if t < 1 else f"{t:.3g} s"


def _numbers(rs: list[Record]) -> str:
    """The chart as numbers: each configuration's median compute time at each size, its peak
    memory on hover, and the status of what did not finish."""
    sizes = sorted({r.case.rows for r in rs})
    by = {(r.case.config_label, r.case.rows): r for r in rs}

    def cell(config: str, n: int) -> str:
        r = by.get((config, n))
        if r is None:
            return "<td></td>"
        if r.ok and r.times.compute_median is not None:
            memory = f"peak memory {(r.peak_memory_bytes or 0) / 2**30:.2f} GiB"
            return f'<td title="{memory}">{_seconds(r.times.compute_median)}</td>'
        return f'<td class="failed" title="{html.escape(r.reason or "")}">{html.escape(r.status)}</td>'

    head = "<th>compute (median)</th>" + "".join(f"<th>{fmt_num(n)}</th>" for n in sizes)
    body = "".join(
        f"<tr><td>{html.escape(short_config(c))}</td>{''.join(cell(c, n) for n in sizes)}</tr>"
        for c in scenarios.configs(rs)
    )
    return f'<div class="numbers wide"><table><tr>{head}</tr>{body}</table></div>'


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
    charts.scaleout_chart(fits, baseline, folder / chart)
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
        f'<div class="wide"><table>{head}{"".join(rows)}</table></div>'
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


INTRO = (
    "<p>Each distributed configuration against a baseline on the same machine, at each size measured: "
    "<b>helps</b> (faster at every size), <b>hurts</b> (never breaks even in the range), both with a factor at "
    "the largest size (<i>hurts 4x</i>: four times the baseline's median time; <i>helps 2.5x</i>: the baseline "
    "takes 2.5 times as long), or <b>helps &gt; N</b>: the breakeven point, interpolated on log scale, with its "
    "range from the repeats' extremes; <i>cliff</i> is the smallest size at which a single-machine engine ran out "
    "of its memory budget while this one finished. Hover a cell for the sentence.</p>"
)
READERS = {
    "best": "the engine chooser's question: is any distributed engine worth it, or should I switch to Polars or "
    "DuckDB? The baseline is the fastest single-machine configuration at each size.",
    "pandas": "the pandas user's question: my job outgrew pandas, should I move to Dask or Spark? The baseline is "
    "pandas, its faster profile at each size.",
}


def _verdicts(machine: MachineRuns) -> str:
    """The verdict matrices against both baselines, compute and end to end."""
    out = [INTRO]
    for baseline, against in analysis.BASELINES.items():
        out.append(
            f"<h3>Against {against}</h3><p>{html.escape(READERS[baseline])}</p>"
            f"<h4>Compute</h4>{_verdict_table(machine.records, 'compute_median', baseline=baseline)}"
            f"<h4>End to end (start-up + load + compute)</h4>"
            f"{_verdict_table(machine.records, 'end_to_end', baseline=baseline)}"
        )
    return "".join(out)


def _link(question: str, family: str) -> str:
    return f'<a href="{family}.html#{_anchor(question)}">{html.escape(question)}</a>'


def _front(machine: MachineRuns, folder: Path, claimed: list[claims.Claim]) -> str:
    """The answer: generated sentences, the picture of who wins, its numbers, the claims."""
    records = comparable(machine.records)[0]
    found = {against: winners.cells(records, baseline) for baseline, against in analysis.BASELINES.items()}
    charts.winners_chart(found, folder / "winners.svg")
    said = "".join(
        f"<li>{html.escape(line)}</li>" for against, cs in found.items() for line in winners.sentences(cs, against)
    )
    rows = "".join(
        f"<tr><td>{_link(c.question, c.family)}</td><td>{fmt_num(c.rows)}</td>"
        f"<td>{html.escape(short_config(c.single or 'did not finish'))}</td>"
        f"<td>{_seconds(c.single_seconds) if c.single_seconds else '–'}</td>"
        f"<td>{html.escape(short_config(c.distributed or 'did not finish'))}</td>"
        f"<td>{_seconds(c.distributed_seconds) if c.distributed_seconds else '–'}</td>"
        f'<td class="{c.state or ""}">{html.escape(winners.ratio_text(c))}'
        f"{' (baseline from another run)' if c.other_run else ''}</td></tr>"
        for c in found[analysis.BASELINES["best"]]
    )
    claim_rows = "".join(
        f'<tr><td><a href="claims.html#claim-{i}">{html.escape(c.claim)}</a></td>'
        f'<td class="{c.verdict.replace(" ", "_")}">{html.escape(c.verdict)}</td><td>{html.escape(c.summary)}</td></tr>'
        for i, c in enumerate(claimed, 1)
    )
    return (
        f'<ul class="lead">{said}</ul>'
        '<figure><img src="winners.svg" alt="for each question family and size, the best distributed time over '
        'the best single-machine time and over pandas, coloured by the winner"></figure>'
        "<details><summary>The picture as numbers (against the best single-machine engine)</summary>"
        '<div class="wide"><table><tr><th>question</th><th>rows</th><th>best single machine</th><th>compute</th>'
        f"<th>best distributed</th><th>compute</th><th>distributed / single</th></tr>{rows}</table></div></details>"
        f'<h2>What people say, tested</h2><div class="wide"><table><tr><th>claim</th><th>the data</th>'
        f"<th>why</th></tr>{claim_rows}</table></div>"
        '<p>The <a href="claims.html">claims page</a> has the evidence; the <a href="cost.html">COST page</a> the '
        "smallest configuration of each distributed engine that beats one thread.</p>"
    )


_OUTCOME_CLASS = {claims.HELD: "supports", claims.FAILED: "refutes", claims.EVEN: "even", claims.APART: "apart"}
_OUTCOME_TEXT = {
    claims.HELD: "yes",
    claims.FAILED: "no",
    claims.EVEN: "within the spread",
    claims.APART: "not comparable",
}


def _claim_ratio(e: claims.Evidence) -> str:
    if e.ratio is None:
        return "–"
    return "only it finished" if e.ratio == 0 else f"{e.ratio:.3g}"


def _claims_page(claimed: list[claims.Claim]) -> str:
    parts = [
        "<p>Each claim is read as a statement the records can test; the reading says how, with its thresholds. "
        f"<b>supports</b>: it holds in {claims.HOLDS:.0%} of the comparisons or more; <b>refutes</b>: in "
        f"{claims.FAILS:.0%} or fewer; <b>depends</b>: in between, with what it depends on. A comparison counts "
        "where it is clear of the repeats' spread (the faster side's slowest run beat the slower side's fastest) "
        "and the limits were comparable (a side that did not finish had at least the other's time and memory); "
        "the others are listed, not counted. Ratios are median compute times on this machine; each comparison "
        "links to its chart.</p>"
    ]
    for i, c in enumerate(claimed, 1):
        evidence = "".join(
            f'<tr class="{_OUTCOME_CLASS[e.outcome]}"><td>{_link(e.question, e.family)}</td>'
            f"<td>{fmt_num(e.rows)}</td><td>{html.escape(short_config(e.config))}</td>"
            f"<td>{html.escape(short_config(e.baseline) or 'did not finish')}</td><td>{_claim_ratio(e)}</td>"
            f"<td>{html.escape(_OUTCOME_TEXT[e.outcome] + (f': {e.why}' if e.why else ''))}</td></tr>"
            for e in sorted(c.evidence, key=lambda e: (e.question, e.rows, e.config))
        )
        parts.append(
            f'<h2 id="claim-{i}">“{html.escape(c.claim)}”</h2>'
            f'<p><b class="{c.verdict.replace(" ", "_")}">&nbsp;{html.escape(c.verdict)}&nbsp;</b> '
            f"{html.escape(c.summary)}</p><p><i>Reading:</i> {html.escape(c.reading)}</p>"
            + (
                f'<details><summary>The {len(c.evidence)} comparisons</summary><div class="wide"><table>'
                "<tr><th>question</th><th>rows</th><th>configuration</th><th>against</th><th>ratio</th>"
                f"<th>holds</th></tr>{evidence}</table></div></details>"
                if c.evidence
                else ""
            )
        )
    return "".join(parts)


def _cost_page(records: list[Record]) -> str:
    found = cost.costs(records)
    intro = (
        '<p>COST (McSherry, Isard and Murray, <a href="https://www.usenix.org/conference/hotos15/workshop-program/'
        'presentation/mcsherry">Scalability! But at what COST?</a>, HotOS 2015): the smallest configuration of a '
        "distributed engine that beats the best single-threaded single-machine run of the same question at the same "
        "size (Polars, DuckDB and pandas on one core: <code>breakeven run --cores 1</code>). <i>Unbounded</i>: no "
        "configuration measured beats it; this machine has 2 cores, so that means within 2 cores.</p>"
    )
    if not found:
        return intro + "<p>No run on one core yet: <code>breakeven run --cores 1</code> measures the baseline.</p>"
    by_config: dict[str, list[cost.Cost]] = defaultdict(list)
    for c in found:
        by_config[c.config].append(c)
    summary = "".join(
        f"<tr><td>{html.escape(short_config(config))}</td><td>{len(cs)}</td>"
        f"<td>{sum(1 for c in cs if c.cost == 1)}</td>"
        f"<td>{sum(1 for c in cs if c.cost is not None and c.cost > 1)}</td>"
        f"<td>{sum(1 for c in cs if c.cost is None)}</td></tr>"
        for config, cs in sorted(by_config.items())
    )
    cores = sorted({n for c in found for n in c.seconds})
    detail = "".join(
        f"<tr><td>{html.escape(short_config(c.config))}</td><td>{html.escape(c.question)}</td><td>{fmt_num(c.rows)}</td>"
        f"<td>{html.escape(short_config(c.baseline))}, {_seconds(c.baseline_seconds)}</td>"
        + "".join(f"<td>{_seconds(c.seconds[n]) if n in c.seconds else ''}</td>" for n in cores)
        + f'<td class="{"helps" if c.cost else "hurts"}">{html.escape(c.text)}</td></tr>'
        for c in found
    )
    return (
        intro + '<div class="wide"><table><tr><th>configuration</th><th>questions x sizes</th><th>COST 1 core</th>'
        f"<th>COST more cores</th><th>unbounded</th></tr>{summary}</table></div>"
        '<div class="wide"><table><tr><th>configuration</th><th>question</th><th>rows</th>'
        "<th>best single thread</th>"
        + "".join(f"<th>on {n} core{'s' if n > 1 else ''}</th>" for n in cores)
        + f"<th>COST</th></tr>{detail}</table></div>"
    )


def build(stores: list[RunStore], out: Path) -> Path:
    """Write the site to ``out``; returns its index."""
    out.mkdir(parents=True, exist_ok=True)
    machines = collect(stores)
    asv = (out / "asv" / "index.html").exists()
    main = machines[0] if machines else MachineRuns("no runs", "", {}, [])
    claimed = claims.evaluate(comparable(main.records)[0])
    sections = [f"<p>Measured on {html.escape(main.label)}.</p>", _front(main, out, claimed)]
    bodies: dict[str, list[str]] = {family: [] for family in FAMILIES}
    for i, machine in enumerate(machines):
        sections.append(f"<h2>Verdicts: {html.escape(machine.label)}</h2>{_verdicts(machine)}")
        for family in FAMILIES:
            bodies[family].append(_family_page(family, machine, out, f"m{i}-{family}"))
    for family, parts in bodies.items():
        body = "".join(parts) or "<p>No cases of this family in these runs.</p>"
        (out / f"{family}.html").write_text(_page(FAMILY_TITLES[family], body, machines, asv))
    (out / "claims.html").write_text(_page("Claims, tested", _claims_page(claimed), machines, asv))
    (out / "cost.html").write_text(
        _page("COST: the configuration that beats one thread", _cost_page(main.records), machines, asv)
    )
    index = out / "index.html"
    index.write_text(_page("When does distribution pay off?", "".join(sections), machines, asv))
    return index
