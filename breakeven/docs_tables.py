"""The docs' tables of figures, made from the committed records, never typed: each is a
Markdown file under ``docs/generated/`` that a page includes (``--8<--``, pymdownx.snippets).
``python -m breakeven.docs_tables`` writes them all; a test holds the committed files to what
the records make, so a page cannot quote a figure the records do not hold."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from breakeven.labels import short_config
from breakeven.network import NONE, parse_rate
from breakeven.results import Record, RunStore
from breakeven.units import fmt_num

RESULTS = Path("results")  # published/ (the published runs) and network/ (issue 17's network runs)
OUT = Path("docs/generated")

# The budget suite at its largest size: who runs out of 2 GiB, who spills, who gets through.
BUDGET_RUN = "budget-2gib"
BUDGET_QUESTIONS = (
    ("groupby_q1", "memory", "q1 (sum by 100 keys), in memory"),
    ("groupby_q1", "files", "q1, from files"),
    ("join_dim_inner_agg", "memory", "merge with 10,000 rows, then sum, in memory"),
    ("join_dim_inner_agg", "files", "the merge, from files"),
)
BUDGET_ENGINES = (
    ("pandas", "single", "pandas"),
    ("polars", "eager", "Polars eager"),
    ("polars", "lazy", "Polars lazy"),
    ("polars", "streaming", "Polars streaming"),
    ("duckdb", "single", "DuckDB"),
    ("dask", "threads", "Dask threads"),
    ("dask", "processes", "Dask processes"),
    ("spark", "local", "Spark local"),
    ("ray", "local", "Ray local"),
)


def _cell(record: Record | None) -> str:
    """``0.31 / 0.5 s, 198 MiB`` (compute / end to end, the peak), or how it failed."""
    if record is None:
        return "–"
    if not record.ok:
        where = " while loading" if record.times.load is None else ""
        return f"`{record.status}`{where}"
    t, peak = record.times, (record.peak_memory_bytes or 0) / 2**20
    return f"{t.compute_median:.2f} / {t.end_to_end:.2g} s, {peak:.0f} MiB"


def budget(results: Path) -> str:
    """The budget run at its largest size: per engine (its tuned profile where it has one for
    the data, else its default) and question, the cell of ``_cell``."""
    store = RunStore(results / "published" / "runs" / BUDGET_RUN)
    records, meta = store.records(), store.meta()
    rows = max(r.case.rows for r in records)
    found: dict[tuple[str, str, str, str], dict[str, Record]] = {}
    for r in records:
        if r.case.rows == rows:
            key = (r.case.engine, r.case.mode, r.case.workload, r.case.source)
            found.setdefault(key, {})[r.case.profile] = r
    budget_gib = (meta.settings.memory_budget or 0) / 2**30
    head = " | ".join(title for *_, title in BUDGET_QUESTIONS)
    lines = [
        f"Run `{BUDGET_RUN}`, {meta.machine.get('cores', '?')} cores, {budget_gib:.0f} GiB enforced by "
        f"`{meta.settings.memory_method}`; at {fmt_num(rows)} rows, compute / end-to-end seconds and the peak "
        "memory; the tuned profile where an engine has one for the data.",
        "",
        f"| at {fmt_num(rows)} rows | {head} |",
        "|---" * (len(BUDGET_QUESTIONS) + 1) + "|",
    ]
    for engine, mode, name in BUDGET_ENGINES:
        cells = []
        for workload, source, _ in BUDGET_QUESTIONS:
            profiles = found.get((engine, mode, workload, source), {})
            cells.append(_cell(profiles.get("tuned") or profiles.get("default")))
        if any(c != "–" for c in cells):
            lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _short_question(question: str) -> str:
    return {"groupby_q1": "q1", "join_dim_inner_agg dim=1e4": "merge"}.get(question, question)


def scale_out(results: Path) -> str:
    """The scale-out model fitted to the published ``scaleout-*`` runs: per cluster configuration
    and question, its terms, its errors in sample and left out, its best worker count."""
    from breakeven import scaleout

    stores = RunStore.all(results / "published")
    records = [r for store in stores if store.run_id.startswith("scaleout-") for r in store.records()]
    fits, _ = scaleout.fit(records)
    workers = ", ".join(map(str, sorted({w for f in fits for w in f.measured_workers})))
    smallest = min((min(f.measured_rows) for f in fits), default=0)
    largest = max((max(f.measured_rows) for f in fits), default=0)
    lines = [
        f"Runs `scaleout-*`, compute phase, {workers} workers of one core, {fmt_num(smallest)} to "
        f"{fmt_num(largest)} rows.",
        "",
        "| configuration | question | fixed (s) | per row (ns) | per worker (s) | error on the points "
        f"| leave-one-out | best worker count at {fmt_num(largest)} rows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in fits:
        best = f.best_workers(largest)
        said = "more is always faster" if best == float("inf") else f"{best:.2g}"
        terms = f"{f.fixed:.3g} | {f.per_row * 1e9:.3g} | {f.per_worker:.3g}"
        errors = f"{scaleout.summary(f.errors)} | {scaleout.summary(f.loo_errors)}"
        lines.append(f"| {f.config} | {_short_question(f.question)} | {terms} | {errors} | {said} |")
    return "\n".join(lines) + "\n"


def network(stores: list[RunStore], metric: str = "compute_median") -> str:
    """The same cluster cases at different network rates (``--network-rate``, the records'
    ``cluster.network_rate``), side by side: the metric's median at each rate and its ratio to
    the unlimited loopback."""
    cells: dict[tuple[str, int, str], dict[str, Record]] = {}
    for store in stores:
        for record in store.records():
            if record.case.mode == "cluster":
                key = (record.case.question_label, record.case.rows, short_config(record.case.config_label))
                cells.setdefault(key, {})[(record.cluster or {}).get("network_rate") or NONE] = record
    rates = sorted({r for row in cells.values() for r in row}, key=lambda r: -(parse_rate(r) or float("inf")))
    lines = [
        f"{metric}, seconds (ratio to `{NONE}`, the unlimited loopback)",
        "",
        "| question | rows | configuration | " + " | ".join(rates) + " |",
        "|---" * (3 + len(rates)) + "|",
    ]
    for (question, rows, config), row in sorted(cells.items()):
        base = row.get(NONE)
        base_t = base.times.metric(metric) if base and base.ok else None
        out = []
        for rate in rates:
            rec = row.get(rate)
            t = rec.times.metric(metric) if rec and rec.ok else None
            if rec is None:
                out.append("")
            elif t is None:
                out.append(rec.status)
            else:
                ratio = f" ({t / base_t:.1f}x)" if base_t and rate != NONE else ""
                out.append(f"{t:.2f}{ratio}")
        lines.append(f"| {question} | {fmt_num(rows)} | {config} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def _natural(text: str) -> str:
    """``groupby_q2`` before ``groupby_q10``."""
    return re.sub(r"\d+", lambda m: m.group().zfill(4), text)


# Where each tuned profile is put against its default: the published runs whose sizes cover the
# most questions, and the experiment runs made for it (results/experiments/runs/).
PROFILE_RUNS = (
    ("published", "standard"),
    ("published", "large"),
    ("experiments", "dask-1e7"),
    ("experiments", "merges-1e7"),
)


MARKS = {"helps": "", "even": " even", "hurts": " slower"}  # analysis.state: tuned against default


def tuned_pairs(records: list[Record]) -> list[tuple[Record, Record]]:
    """Each finished tuned record with the finished default record of the same case (question,
    data, chunks, topology) in ``records``."""
    from dataclasses import replace

    default = {r.case: r for r in records if r.ok and r.case.profile == "default"}
    found = (
        (r, default.get(replace(r.case, profile="default"))) for r in records if r.ok and r.case.profile == "tuned"
    )
    return [(r, base) for r, base in found if base is not None]


def profiles(results: Path) -> str:
    """Each tuned profile against its default on the same case of the same run: per question
    and size, tuned / default compute medians, marked where the repeats' spread holds the
    difference (``even``) or tuned is the slower; then per configuration the geometric mean."""
    from statistics import geometric_mean

    from breakeven import analysis

    lines = [
        "Tuned / default compute medians of the same case in the same run (below 1: tuned is faster); "
        "`even`: within the repeats' spread; `slower`: tuned is slower beyond it.",
    ]
    for folder, run_id in PROFILE_RUNS:
        path = results / folder / "runs" / run_id
        if not path.is_dir():
            continue
        cells: dict[tuple[str, int], dict[str, str]] = {}
        ratios: dict[str, list[float]] = {}
        for r, base in tuned_pairs(RunStore(path).records()):
            config = f"{r.case.engine}:{r.case.mode}"
            ratio, low, high = analysis.bounds(analysis.Point.of(r), analysis.Point.of(base))
            said = MARKS[analysis.state(ratio, low, high)]
            cells.setdefault((r.case.question_label, r.case.rows), {})[config] = f"{ratio:.2f}{said}"
            ratios.setdefault(config, []).append(ratio)
        configs = sorted(ratios)
        lines += [
            "",
            f"Run `{run_id}` (`results/{folder}/runs/{run_id}`):",
            "",
            "| question | rows | " + " | ".join(configs) + " |",
            "|---" * (2 + len(configs)) + "|",
        ]
        for (question, rows), row in sorted(cells.items(), key=lambda item: (_natural(item[0][0]), item[0][1])):
            lines.append(f"| {question} | {fmt_num(rows)} | " + " | ".join(row.get(c, "") for c in configs) + " |")
        means = " | ".join(f"{geometric_mean(ratios[c]):.2f} ({len(ratios[c])})" for c in configs)
        lines.append(f"| geometric mean (cases) | | {means} |")
    return "\n".join(lines) + "\n"


TABLES: dict[str, Callable[[Path], str]] = {
    "profiles.md": profiles,
    "budget-2gib.md": budget,
    "scaleout.md": scale_out,
    "network.md": lambda results: network(RunStore.all(results / "network")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in TABLES.items():
        (args.out / name).write_text(make(args.results))
        print(args.out / name)


if __name__ == "__main__":
    main()
