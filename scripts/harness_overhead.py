"""Harness overhead: a pandas group-by on 1e7 rows timed through the runner (worker process,
memory sampling, protocol) and directly in this process; prints the ratio of the compute
phases. Target: at most 1.10.

    python scripts/harness_overhead.py [--rows 1e7] [--repeats 7] [--workload groupby_q3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from breakeven.cases import Case
from breakeven.data import generate
from breakeven.engines import Settings, engine_class
from breakeven.results import RunStore
from breakeven.runner import Options, Runner
from breakeven.workloads import get_workload

TARGET = 1.10


def direct(case: Case, data_dir: Path, repeats: int) -> float:
    """The same implementation, timed in this process with nothing around it."""
    paths, _ = generate(case.data, data_dir)
    frame = pd.read_parquet(paths["x"])
    engine = engine_class("pandas")("single", "default", Settings(cores=1))
    ctx = engine.context({"x": frame}, {"x": case.rows}, None)
    wl = get_workload(case.workload)
    times = []
    for _ in range(1 + repeats):
        start = time.perf_counter()
        engine.materialise(engine.build(wl, ctx))
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workload", default="groupby_q3")
    parser.add_argument("--data", type=Path, default=Path("data"))
    args = parser.parse_args()
    case = Case(args.workload, "pandas", "single", "default", int(float(args.rows)))
    with tempfile.TemporaryDirectory() as results:
        store = RunStore.create(Path(results), "overhead", {})
        record = Runner(Options(repeats=args.repeats, data_dir=args.data, timeout=1800), store).run([case])[0]
    assert record["status"] == "ok", record["reason"]
    harness = record["times"]["compute_median"]
    plain = direct(case, args.data, args.repeats)
    ratio = harness / plain
    print(
        f"{case.id}: runner {harness:.4f} s, direct {plain:.4f} s, ratio {ratio:.3f} "
        f"(target <= {TARGET:.2f}: {'met' if ratio <= TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
