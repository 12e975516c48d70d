"""A chunked transform read from files: in the files' own splits, or repartitioned to the chunk count.

A transform from files is timed from the read. The engines' scan once turned the workload's
chunk size into partitions right after the read (``repartition(rows / chunk_rows)``), a rule
written once for Dask and copied to Spark and Ray, where the same name costs something else:

- Dask: ``repartition(npartitions=)`` splits and joins neighbouring partitions (no shuffle);
- Spark: ``repartition(n)`` is a round-robin shuffle of every row;
- Ray: ``repartition(n)`` is an all-to-all operator that waits for the whole read.

This script times the workload (the Python function per chunk by default), written as Parquet
as the published cases are, both ways, in one session per engine and alternating the two, and
prints the median of the timed repeats (the first, cold, run of each is left out, its answer
checked against the reference as a case's is) and their ratio. The chunk a Python function
sees is its batch either way (Spark's Arrow batch size, Ray's ``batch_size``, a Dask partition).

    python scripts/chunked_read.py [--rows 1e7] [--chunk-rows 1e6] [--repeats 3] [-e spark -e ray ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from breakeven import data as datagen
from breakeven import reference
from breakeven.engines import Engine, SessionSettings, chunk_count, engine_class
from breakeven.machine import provenance
from breakeven.units import parse_rows
from breakeven.worker import AnswerCheck, produce
from breakeven.workloads import CATALOGUE

MODES = {"spark": "local", "ray": "local", "dask": "threads"}


def _repartition(name: str, frame: Any, n: int) -> Any:
    """The rule the engines' scan once applied: ``n`` partitions (blocks) after the read."""
    return frame.repartition(npartitions=n) if name == "dask" else frame.repartition(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--chunk-rows", default="1e6")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--profile", default="default", choices=("default", "tuned"))
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("-w", "--workload", default="transform_udf")
    parser.add_argument("-e", "--engine", action="append", choices=sorted(MODES), help="default: spark, ray, dask")
    args = parser.parse_args()
    print(provenance(), flush=True)
    rows, chunk_rows = parse_rows(args.rows), parse_rows(args.chunk_rows)
    spec = datagen.DataSpec("T1", rows)
    datagen.generate(spec, args.data)
    path = datagen.dataset_paths(spec, args.data)["x"]
    wl = CATALOGUE[args.workload]
    reference.compute(spec, [wl.name], args.data)
    ref = str(reference.found(spec, wl.name, args.data))
    files = len(list(path.glob("*.parquet")))
    print(f"{args.workload}, T1 {args.rows} rows in {files} files, chunks of {args.chunk_rows}", flush=True)
    for name in args.engine or ["spark", "ray", "dask"]:
        with tempfile.TemporaryDirectory(prefix="breakeven-chunked-") as scratch:
            settings = SessionSettings(args.cores, None, Path(scratch), Path(scratch))
            eng = engine_class(name)(MODES[name], args.profile, settings)
            eng.start()
            eng.begin(chunk_rows)
            try:
                n = chunk_count(rows, chunk_rows)
                variants = {"files' splits": None, f"repartition({n})": n}  # partitions after the read
                times = _measure(eng, wl, path, rows, chunk_rows, variants, args.repeats, ref, Path(scratch))
            finally:
                eng.close()
        medians = {v: statistics.median(t) for v, t in times.items()}
        split, chunked = medians.values()
        print(f"{name} {MODES[name]} {args.profile}: " + ", ".join(f"{v} {m:.2f} s" for v, m in medians.items()))
        print(f"  repartitioned / files' splits: {chunked / split:.2f}x", flush=True)


def _measure(
    eng: Engine,
    wl: Any,
    path: Path,
    rows: int,
    chunk_rows: int,
    variants: dict[str, int | None],
    repeats: int,
    ref: str,
    scratch: Path,
) -> dict[str, list[float]]:
    """Each variant run ``repeats + 1`` times, alternating; the first (cold) run of each left out,
    its answer checked."""
    check = AnswerCheck(eng, wl, Path(ref), "parquet")
    expected = check.expected()
    times: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(repeats + 1):
        for variant, partitions in variants.items():
            out = scratch / "answer"
            start = time.perf_counter()
            x = eng.scan("x", path, rows, None, wl.reads("x"))
            if partitions:
                x = _repartition(eng.name, x, partitions)
            produce(eng, wl, eng.context({"x": x}, {"x": rows}, chunk_rows), "parquet", out)
            seconds = time.perf_counter() - start
            if not i and not (match := check(out, expected).match).ok:
                raise SystemExit(f"{eng.name} {variant}: wrong answer: {match.reason}")
            shutil.rmtree(out)
            if i:
                times[variant].append(seconds)
            print(f"  {eng.name} {variant}: {seconds:.2f} s{'' if i else ' (cold)'}", flush=True)
    return times


if __name__ == "__main__":
    main()
