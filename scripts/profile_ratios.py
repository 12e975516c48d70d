"""Each tuned profile against its default, case by case, from one run's records.

Every tuned setting must earn its place: a tuned case slower than its default by more than
``--limit`` (1.2) is listed, for a fix or an explanation beside the setting. Pairs a tuned
record with the default record of the same case (same question, data, chunks and topology),
both ``ok``, and prints per engine configuration the number of pairs, the geometric mean and
range of tuned / default compute medians, then every pair past the limit.

    python scripts/profile_ratios.py [RUN_ID] [--results results] [--metric compute_median] [--limit 1.2]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from breakeven.docs_tables import tuned_pairs
from breakeven.results import Record, RunStore


def pairs(records: list[Record], metric: str) -> dict[str, list[tuple[Record, float]]]:
    """Per ``engine:mode``: each tuned record with its ratio to the default's time."""
    out: dict[str, list[tuple[Record, float]]] = {}
    for r, base in tuned_pairs(records):
        tuned_t, base_t = r.times.metric(metric), base.times.metric(metric)
        if tuned_t and base_t:
            out.setdefault(f"{r.case.engine}:{r.case.mode}", []).append((r, tuned_t / base_t))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_id", nargs="?", help="a run under --results (default: the newest)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--metric", default="compute_median", choices=("compute_median", "end_to_end"))
    parser.add_argument("--limit", type=float, default=1.2)
    args = parser.parse_args()
    store = RunStore.open(args.results, args.run_id)
    found = pairs(store.records(), args.metric)
    print(f"run {store.run_id}: tuned / default {args.metric}")
    print(f"{'configuration':<18} {'pairs':>5} {'geomean':>8} {'min':>6} {'max':>6}")
    slow = []
    for config, items in sorted(found.items()):
        ratios = [q for _, q in items]
        geo = statistics.geometric_mean(ratios)
        print(f"{config:<18} {len(items):>5} {geo:>8.2f} {min(ratios):>6.2f} {max(ratios):>6.2f}")
        slow += [(config, r, q) for r, q in items if q > args.limit]
    print(f"\ntuned slower than default by more than {args.limit}x: {len(slow)}")
    for config, r, q in sorted(slow, key=lambda item: -item[2]):
        print(f"  {config:<18} {r.case.question_label:<48} {r.data:<22} {q:5.2f}x")


if __name__ == "__main__":
    main()
