"""What a network costs each question: the same cases on clusters whose loopback was limited to
different rates (``breakeven run --cluster E --network-rate R``), side by side.

Reads every run given (or every run under --results) and lines up each case (question, rows,
sink, configuration) across the rates its records carry (``cluster.network_rate``): the median
of the metric at each rate, and its ratio to the unlimited loopback (``none``). Prints a Markdown
table; the docs' one (``docs/generated/network.md``) is ``python -m breakeven.docs_tables``'s.

    python scripts/network_table.py network-dask-none network-dask-10gbit network-dask-1gbit ...
    python scripts/network_table.py --metric end_to_end
"""

from __future__ import annotations

import argparse
from pathlib import Path

from breakeven.docs_tables import network
from breakeven.results import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_ids", nargs="*", help="runs under --results (default: all)")
    parser.add_argument("--results", type=Path, default=Path("results/network"))
    parser.add_argument("--metric", default="compute_median", choices=("compute_median", "end_to_end"))
    args = parser.parse_args()
    stores = [RunStore.open(args.results, r) for r in args.run_ids] if args.run_ids else RunStore.all(args.results)
    print(network(stores, args.metric), end="")


if __name__ == "__main__":
    main()
