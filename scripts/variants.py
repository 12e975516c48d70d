"""Each question's verdicts under each sink and source, side by side, from one run's records.

A question read from files, or with its answer written as Parquet, is a question of its own
(verdicts never compare across them): this lines them up per distributed configuration, so that
one can see which verdicts a sink or a source changes. Prints a Markdown table per metric, then
the verdicts whose direction (helps or hurts) differs between the variants of one question.

    python scripts/variants.py [RUN_ID] [--results results] [--metric compute_median]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from breakeven.analysis import Verdict, matrix
from breakeven.labels import short_config
from breakeven.results import RunStore

VARIANT_PREFIXES = ("sink=", "from=")


def split(label: str) -> tuple[str, str]:
    """A question label as its question and its variant: ``transform_udf chunk=1e5 sink=parquet
    from=files`` -> (``transform_udf chunk=1e5``, ``parquet, files``)."""
    words = label.split()
    base = [w for w in words if not w.startswith(VARIANT_PREFIXES)]
    sink = next((w.split("=")[1] for w in words if w.startswith("sink=")), None)
    source = next((w.split("=")[1] for w in words if w.startswith("from=")), "memory")
    return " ".join(base), ", ".join(filter(None, (sink, source)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_id", nargs="?", help="a run under --results (default: the newest)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--metric", default="compute_median", choices=("compute_median", "end_to_end"))
    args = parser.parse_args()
    store = RunStore.open(args.results, args.run_id)
    found: dict[tuple[str, str], dict[str, Verdict]] = {}  # (question, configuration) -> variant -> verdict
    variants: list[str] = []
    for label, row in matrix(store.records(), args.metric).items():
        question, variant = split(label)
        variants += [variant] if variant not in variants else []
        for config, v in row.items():
            found.setdefault((question, config), {})[variant] = v
    order = sorted(variants, key=lambda v: ("files" in v, "parquet" in v))
    print(f"run {store.run_id}, {args.metric}: verdict per variant (sink, source)\n")
    print("| question | configuration | " + " | ".join(order) + " |")
    print("|---" * (2 + len(order)) + "|")
    changed = []
    for (question, config), cells in found.items():
        print(
            f"| {question} | {short_config(config)} | "
            + " | ".join(cells[v].short if v in cells else "" for v in order)
            + " |"
        )
        directions = {v.kind for v in cells.values() if v.kind in ("helps", "hurts", "breaks_even")}
        if len(directions) > 1:
            changed.append(
                f"{question} on {short_config(config)}: " + "; ".join(f"{k}: {v.short}" for k, v in cells.items())
            )
    print(f"\nverdicts that differ in direction between variants: {len(changed)}")
    for line in changed:
        print(f"- {line}")


if __name__ == "__main__":
    main()
