"""pandas from files: string keys read as ``category`` (pyarrow's ``read_dictionary``) or as
strings, then grouped: the measurement behind the tuned profile's ``--from files`` read.

Reads the columns q1, q3 and q10 need from G1 data (``breakeven datagen --kind G1 --rows 1e7``
first) and groups them as breakeven's pandas implementations do; prints the median of
``--repeats`` runs of each, read alone and read + grouped.

    python scripts/pandas_read_dictionary.py [--rows 1e7] [--repeats 3] [--data data]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from breakeven.columns import string_keys
from breakeven.data import DataSpec, dataset_paths
from breakeven.machine import provenance
from breakeven.units import parse_rows

QUESTIONS = {  # name: (columns read, group-by keys)
    "q1": (["id1", "v1"], ["id1"]),
    "q3": (["id3", "v1", "v3"], ["id3"]),
    "q10": (["id1", "id2", "id3", "id4", "id5", "id6", "v3"], ["id1", "id2", "id3", "id4", "id5", "id6"]),
}


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("data"))
    args = parser.parse_args()
    print(provenance(), flush=True)
    path = dataset_paths(DataSpec("G1", parse_rows(args.rows)), args.data)["x"]
    if not path.is_dir():
        raise SystemExit(f"no data at {path}: run breakeven datagen --kind G1 --rows {args.rows}")
    keys = string_keys(path)
    print(f"{path}: median of {args.repeats}, seconds")
    print("question | read (strings) | read (category) | read + group (strings) | read + group (category) | ratio")
    for name, (columns, by) in QUESTIONS.items():
        as_dict = [k for k in keys if k in columns]
        times = [
            median_seconds(partial(run, path, columns, dictionary, group), args.repeats)
            for group in (None, by)
            for dictionary in (None, as_dict)
        ]
        print(f"{name} | " + " | ".join(f"{t:.3f}" for t in times) + f" | {times[3] / times[2]:.2f}")


def run(path: Path, columns: list[str], dictionary: list[str] | None, by: list[str] | None) -> pd.DataFrame:
    """Read ``columns`` (``dictionary`` ones as category), and group them by ``by`` if given."""
    frame = pd.read_parquet(path, columns=columns, read_dictionary=dictionary or None)
    return frame.groupby(by, observed=True, sort=False).sum() if by else frame


if __name__ == "__main__":
    main()
