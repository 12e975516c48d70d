"""Spark's shuffle partitions: set by hand from the data's size, or left to adaptive execution.

Spark's tuning guide offers two ways to size shuffle partitions
(https://spark.apache.org/docs/latest/sql-performance-tuning.html#coalescing-post-shuffle-partitions):
set ``spark.sql.shuffle.partitions`` to suit the data, or start from many partitions and let
adaptive query execution (AQE, on by default) coalesce them after the map side, either for
parallelism (``coalescePartitions.parallelismFirst=true``, the default: only its 1 MiB minimum
partition counts) or to ``advisoryPartitionSizeInBytes`` (``parallelismFirst=false``, which the
guide recommends on a busy cluster). This script measures each on the same cached table, in one
Spark session of breakeven's tuned profile, one variant at a time:

- ``hand``: breakeven's tuned rule (about 128 MiB of data a partition, at least two per core);
- ``aqe``: Spark's default 200, coalesced by AQE for parallelism (the default profile's sizing);
- ``aqe-64m``, ``aqe-128m``: 200 coalesced to the advisory size (64 MiB is Spark's default).

Every question's answer is collected as Arrow, as the runner does. It prints the median seconds
per question and variant, and each variant's geometric mean over ``hand``.

    python scripts/spark_shuffle_sizing.py [--rows 1e7] [--repeats 5] [-w groupby_q1 ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from breakeven import data as datagen
from breakeven.engines import SessionSettings, engine_class
from breakeven.machine import provenance
from breakeven.units import parse_rows
from breakeven.workloads import CATALOGUE

QUESTIONS = [f"groupby_q{i}" for i in range(1, 11)]
VARIANTS: dict[str, dict[str, str] | None] = {
    "hand": None,  # what the tuned profile's load set
    "aqe": {"spark.sql.shuffle.partitions": "200", "spark.sql.adaptive.coalescePartitions.parallelismFirst": "true"},
    "aqe-64m": {
        "spark.sql.shuffle.partitions": "200",
        "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": "64m",
    },
    "aqe-128m": {
        "spark.sql.shuffle.partitions": "200",
        "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": "128m",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("-w", "--workload", action="append", help="group-by questions (default: q1..q10)")
    args = parser.parse_args()
    print(provenance(), flush=True)
    questions = args.workload or QUESTIONS
    spec = datagen.DataSpec("G1", parse_rows(args.rows))
    datagen.generate(spec, args.data)
    x_path = datagen.dataset_paths(spec, args.data)["x"]
    with tempfile.TemporaryDirectory(prefix="breakeven-sizing-") as scratch:
        eng = engine_class("spark")("local", "tuned", SessionSettings(args.cores, None, Path(scratch), Path(scratch)))
        eng.start()
        try:
            x = eng.load("x", x_path, spec.rows, None)
            hand = {k: eng.session.conf.get(k) for k in VARIANTS["aqe-64m"]}
            print(f"G1 {args.rows} rows, {args.cores} cores; hand-set: {hand}", flush=True)
            medians = {v: _measure(eng, x, questions, conf or hand, args.repeats) for v, conf in VARIANTS.items()}
        finally:
            eng.close()
    _print(questions, medians)


def _measure(eng: object, x: object, questions: list[str], conf: dict[str, str], repeats: int) -> dict[str, float]:
    for key, value in conf.items():
        eng.session.conf.set(key, value)
    out = {}
    for q in questions:
        ctx = eng.context({"x": x}, {}, None)
        times = []
        for i in range(repeats + 1):  # the first run is the cold one, left out
            start = time.perf_counter()
            eng.materialise(eng.build(CATALOGUE[q], ctx))
            if i:
                times.append(time.perf_counter() - start)
        out[q] = statistics.median(times)
        print(f"  {q}: {out[q]:.3f} s ({conf['spark.sql.shuffle.partitions']} shuffle partitions)", flush=True)
    return out


def _print(questions: list[str], medians: dict[str, dict[str, float]]) -> None:
    names = list(medians)
    print("\nmedian seconds" + "".join(f" | {n:>9}" for n in names))
    for q in questions:
        print(f"{q:<14}" + "".join(f" | {medians[n][q]:9.3f}" for n in names))
    hand = medians["hand"]
    geomeans = {n: statistics.geometric_mean(medians[n][q] / hand[q] for q in questions) for n in names}
    print("geomean / hand" + "".join(f" | {geomeans[n]:9.2f}" for n in names))


if __name__ == "__main__":
    main()
