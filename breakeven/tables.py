"""The terminal tables of ``breakeven show`` (and of the end of ``breakeven run``): rich
renderables no wider than ``SHOW_WIDTH``, built from a run's records with the comparisons of
``breakeven.analysis``."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from breakeven import advice, analysis, scenarios
from breakeven.labels import short_config
from breakeven.results import Record, RunStore
from breakeven.units import fmt_num

SHOW_WIDTH = 100  # every table fits a terminal of this many columns


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _fmt_bytes(value: int | None) -> str:
    if not value:
        return "–"
    return f"{value / 2**20:.0f} MiB" if value < 10 * 2**30 else f"{value / 2**30:.1f} GiB"


def _vs(scen: scenarios.Scenario, config: str, metric: str) -> str:
    """A configuration's time against the scenario's baseline, as every table writes it."""
    if config == scen.baseline(metric):
        return "baseline"
    ratio, kind = scen.ratio(config, metric), scen.state(config, metric)
    if ratio is None or kind is None or not scen.cells[config].distributed:
        return ""
    return f"[{COLOURS[kind]}]{kind} {analysis.fmt_ratio(ratio)}[/]"


COLOURS = {analysis.HELPS: "green", analysis.HURTS: "red", analysis.EVEN: "yellow", "breaks_even": "yellow"}
COLOURS["mixed"] = "yellow"


def show_tables(store: RunStore) -> list[Any]:
    """What ``breakeven show`` prints, as rich renderables no wider than ``SHOW_WIDTH``."""
    meta, records = store.meta(), store.records()
    if not records:
        return [f"run {store.run_id} has no finished case yet"]
    machine = meta.machine
    out: list[Any] = [
        f"\nrun [bold]{store.run_id}[/]: {escape(str(machine.get('cpu', '?')))}, {machine.get('cores', '?')} cores, "
        f"{meta.memory_bytes / 2**30:.0f} GiB; memory counted by {meta.settings.memory_method}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta.versions.items()),
    ]
    scens = scenarios.by_size(records)
    table = Table(
        title="per question and size: median compute and end to end (start-up + load + compute),\n"
        "peak memory; each distributed configuration vs the best single-machine one (baseline)",
        show_lines=False,
    )
    # A long question (chunk, sink and source) wraps at its spaces; configuration names fit.
    table.add_column("question / configuration", max_width=34)
    for head in ("compute", "end to end", "memory", "vs best", "vs best e2e"):
        table.add_column(head, justify="right", no_wrap=True)
    for scen in scens:
        if scen.shown_elsewhere:  # the engines that choose their own chunks, within each chunked question
            continue
        table.add_row(f"[bold]{escape(scen.question)}[/]", f"[bold]{fmt_num(scen.rows)} rows[/]")
        fastest = scen.fastest()
        for config in sorted(scen.cells, key=lambda c: (scen.cells[c].distributed, c)):
            r = scen.cells[config]
            name = short_config(config) + (" *" if config == fastest else "")
            name += " (no chunks)" if config in scen.borrowed else ""
            if not r.ok:
                table.add_row(f"  {name}", f"[red]{r.status}[/]", "", _fmt_bytes(r.peak_memory_bytes), "", "")
                continue
            compute = _fmt(r.times.compute_median) + (" ~" if r.noisy else "")
            table.add_row(
                f"  {name}",
                compute,
                _fmt(r.times.end_to_end),
                _fmt_bytes(r.peak_memory_bytes),
                _vs(scen, config, "compute_median"),
                _vs(scen, config, "end_to_end"),
            )
        table.add_section()
    out.append(table)
    tally: dict[str, dict[str, int]] = {}
    for scen in scens:
        for config, r in scen.cells.items():
            kind = scen.state(config)
            if r.distributed and kind is not None:
                counts = tally.setdefault(config, dict.fromkeys((analysis.HELPS, analysis.HURTS, analysis.EVEN), 0))
                counts[kind] += 1
    for config, counts in sorted(tally.items()):
        total = sum(counts.values())
        even = f", even in {counts[analysis.EVEN]}" if counts[analysis.EVEN] else ""
        out.append(
            f"{config}: distribution helps in {counts[analysis.HELPS]} of {total} scenarios, hurts in "
            f"{counts[analysis.HURTS]}{even}"
        )
    out.append(_verdict_table(records))
    out.append(
        "* fastest compute; ~ a spread between repeats above 10%: noisy, rerun before trusting it; "
        "helps/hurts Nx: N times faster/slower than the baseline beyond the repeats' spread, even Nx: within it"
    )
    return [x for x in out if x is not None]


def _verdict_table(records: list[Record]) -> Table | None:
    """The verdict matrix as a list: per question and distributed configuration, helps, hurts,
    or the breakeven point in rows (with its range from the repeats) over the sizes measured."""
    found = analysis.matrix(records)
    if not found:
        return None
    sizes = sorted({r.case.rows for r in records})
    table = Table(
        title=escape(
            f"verdict over the sizes {', '.join(map(fmt_num, sizes))} (compute): helps, hurts, even\n"
            "(within the repeats' spread), helps > N rows [range from the repeats], or the sizes where it\n"
            "helps, against the best single-machine engine"
        )
    )
    table.add_column("configuration", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("baseline", no_wrap=True)
    for question, row in found.items():
        table.add_row(f"[bold]{escape(question)}[/]")
        for config, verdict in sorted(row.items()):
            baseline = short_config(verdict.baseline) if verdict.baseline else ""
            text = escape(verdict.short)
            colour = COLOURS.get(verdict.kind, "red")
            table.add_row(f"  {short_config(config)}", f"[{colour}]{text}[/]", baseline)
        table.add_section()
    return table


def cluster_table(records: list[Record]) -> Table | None:
    """The clusters a run used: topology, the engine's own view of it, and start-up time."""
    seen: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.cluster:
            seen.setdefault(f"{r.case.engine}@{r.case.topology}", r.cluster)
    if not seen:
        return None
    table = Table("cluster", "kind", "address", "workers x cores, memory each", "start-up", title="clusters")
    for label, info in seen.items():
        view = info.get("engine_view") or {}
        cores = view.get("cores_per_worker") or ["?"]
        shown = [f"{m / 2**30:.1f} GiB" for m in view.get("memory_per_worker") or []]
        startup = info.get("startup_seconds")
        table.add_row(
            label,
            info["kind"],
            info["address"],
            f"{view.get('workers', '?')} x {'/'.join(map(str, cores))}, {'/'.join(shown)}",
            f"{startup:.1f} s" if startup else "–",
        )
    return table


def advice_table(found: list[advice.Advice], prices: advice.Prices | None = None) -> Table:
    """``breakeven advise``: each configuration's time (band, how obtained), peak memory and
    headroom, the memory cliff, and with prices the cost of one run; fastest first."""
    table = Table(title="what the records say", show_lines=False)
    for name in ("configuration", "time [band]", "how", "peak mem.", "headroom", "cliff"):
        table.add_column(name, no_wrap=name == "configuration")
    if prices:
        table.add_column("cost/run")
    for a in found:
        t = a.time
        band = f" [{_fmt(t.low)}, {_fmt(t.high)}]" if t.known and t.how != "measured" else ""
        memory = _fmt_bytes(int(a.memory.value)) if a.memory.known else "–"
        if a.memory.known and a.memory.how != t.how:  # said where it is not obtained as the time was
            memory += f" ({a.memory.how})"
        headroom = a.headroom
        room = "–" if headroom is None else ("[red]none[/]" if headroom < 0 else _fmt_bytes(int(headroom)))
        cliff = f"{fmt_num(a.cliff)} rows" if a.cliff else ""
        row = [escape(short_config(a.config)), _fmt(t.value) + band if t.known else "–", t.how, memory, room, cliff]
        if prices:
            cost = a.cost(prices)
            row.append("–" if cost is None else f"{cost:.2g}")
        table.add_row(*row)
    return table
