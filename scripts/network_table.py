"""What a network costs each question: the same cases on clusters whose loopback was limited to
different rates (``breakeven run --cluster E --network-rate R``), side by side.

Reads every run given (or every run under --results) and lines up each case (question, rows,
sink, configuration) across the rates its records carry (``cluster.network_rate``): the median
of the metric at each rate, and its ratio to the unlimited loopback (``none``). Prints a Markdown
table.

    python scripts/network_table.py network-dask-none network-dask-10gbit network-dask-1gbit ...
    python scripts/network_table.py --metric end_to_end
"""

from __future__ import annotations

import argparse
from pathlib import Path

from breakeven.data import fmt_num
from breakeven.labels import short_config
from breakeven.network import NONE, parse_rate
from breakeven.results import Record, RunStore


def rate_of(record: Record) -> str:
    return (record.cluster or {}).get("network_rate") or NONE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_ids", nargs="*", help="runs under --results (default: all)")
    parser.add_argument("--results", type=Path, default=Path("results/network"))
    parser.add_argument("--metric", default="compute_median", choices=("compute_median", "end_to_end"))
    args = parser.parse_args()
    stores = [RunStore.open(args.results, r) for r in args.run_ids] if args.run_ids else RunStore.all(args.results)
    cells: dict[tuple[str, int, str], dict[str, Record]] = {}
    for store in stores:
        for record in store.records():
            if record.case.mode != "cluster":
                continue
            key = (record.case.question_label, record.case.rows, short_config(record.case.config_label))
            cells.setdefault(key, {})[rate_of(record)] = record
    rates = sorted({r for row in cells.values() for r in row}, key=lambda r: -(parse_rate(r) or float("inf")))
    print(f"{args.metric}, seconds (ratio to {NONE}, the unlimited loopback)\n")
    print("| question | rows | configuration | " + " | ".join(rates) + " |")
    print("|---" * (3 + len(rates)) + "|")
    for (question, rows, config), row in sorted(cells.items()):
        base = row.get(NONE)
        base_t = base.times.metric(args.metric) if base and base.ok else None
        out = []
        for rate in rates:
            rec = row.get(rate)
            t = rec.times.metric(args.metric) if rec and rec.ok else None
            if rec is None:
                out.append("")
            elif t is None:
                out.append(rec.status)
            else:
                ratio = f" ({t / base_t:.1f}x)" if base_t and rate != NONE else ""
                out.append(f"{t:.2f}{ratio}")
        print(f"| {question} | {fmt_num(rows)} | {config} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
