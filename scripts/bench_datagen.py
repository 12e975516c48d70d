"""Data generation speed: rows per second and peak memory for the G1 group-by table.

    python scripts/bench_datagen.py            # 1e7 rows
    python scripts/bench_datagen.py 1e8        # the issue's target: 1e8 rows in under 35 s

Writes into a temporary folder that is removed afterwards. Target: >= 3 million rows/s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
from pathlib import Path

from breakeven.data import DataSpec, generate
from breakeven.machine import provenance

TARGET_ROWS_PER_SECOND = 3e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="?", default="1e7", help="rows of G1 to generate (default 1e7)")
    parser.add_argument("--kind", default="G1", help="table set: G1, J1, D1 or T1")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    print(provenance(), flush=True)
    spec = DataSpec(args.kind, int(float(args.rows)), dim_rows=1000 if args.kind == "D1" else 0)
    target = args.dir or Path(tempfile.mkdtemp(prefix="breakeven-datagen-"))
    try:
        paths, seconds = generate(spec, target)
        rows = sum(spec.table_rows().values())
        size = sum(f.stat().st_size for p in paths.values() for f in p.glob("*.parquet"))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        rate = rows / seconds
        print(
            f"{spec.name}: {rows:,} rows in {seconds:.2f} s = {rate / 1e6:.2f} M rows/s "
            f"({size / 2**20:.0f} MiB of Parquet, peak RSS {peak / 2**20:.0f} MiB)"
        )
        print(
            f"target {TARGET_ROWS_PER_SECOND / 1e6:.0f} M rows/s: "
            + ("met" if rate >= TARGET_ROWS_PER_SECOND else "NOT met")
        )
    finally:
        if args.dir is None:
            shutil.rmtree(target, ignore_errors=True)


if __name__ == "__main__":
    main()
