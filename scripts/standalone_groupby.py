"""breakeven's single-machine engines against the standalone code an expert writes.

For each of pandas, Polars and DuckDB, the ten db-benchmark group-by questions are run twice on
the same Parquet data (G1, 1e7 rows by default), one engine and one side at a time, never two
at once:

- **standalone**: the shortest idiomatic script an expert of the engine writes (db-benchmark's
  scripts, with their load-time conversions: ``category`` keys in pandas, ``Categorical`` keys
  and a ``LazyFrame`` in Polars, ``ENUM`` keys in DuckDB), in a plain child process: load
  untimed, then each question once cold and ``--repeats`` times timed, the answer in Python's
  hands (a pandas or Polars frame, an Arrow table from DuckDB);
- **breakeven**: the same questions through breakeven's runner (worker process, control group,
  answers verified), in the configuration given with ``-e`` (default: each engine's tuned one).

It prints per question the runner's median over the standalone median, and their geometric
mean. Targets (issue 15): geometric mean at most 1.05 per engine, no question above 1.3.

    python scripts/standalone_groupby.py [--rows 1e7] [--repeats 5] [-e polars:lazy:tuned ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from breakeven.machine import provenance

QUESTIONS = [f"groupby_q{i}" for i in range(1, 11)]
CONFIGS = ("pandas:single:tuned", "polars:lazy:tuned", "duckdb:single:tuned")
CORES = 2
GEOMEAN_TARGET, QUESTION_TARGET = 1.05, 1.3
ALL = ["id1", "id2", "id3", "id4", "id5", "id6"]


def pandas_questions(path: Path) -> dict:
    import pandas as pd

    x = pd.read_parquet(path)
    for key in ("id1", "id2", "id3"):
        x[key] = x[key].astype("category")
    by = {"as_index": False, "sort": False, "observed": True, "dropna": False}

    def q9() -> pd.DataFrame:
        # The vectorised form (grouped sums of the moments): groupby-apply of corr() calls Python per group.
        both = x["v1"].notna() & x["v2"].notna()
        a, b = x["v1"].where(both).astype("float64"), x["v2"].where(both).astype("float64")
        p = x[["id2", "id4"]].assign(a=a, b=b, aa=a * a, bb=b * b, ab=a * b)
        s = p.groupby(["id2", "id4"], **by).agg(
            n=("a", "count"), a=("a", "sum"), b=("b", "sum"), aa=("aa", "sum"), bb=("bb", "sum"), ab=("ab", "sum")
        )
        cov = s["n"] * s["ab"] - s["a"] * s["b"]
        var = (s["n"] * s["aa"] - s["a"] ** 2) * (s["n"] * s["bb"] - s["b"] ** 2)
        return s[["id2", "id4"]].assign(r2=cov**2 / var)

    return {
        "groupby_q1": lambda: x.groupby("id1", **by).agg({"v1": "sum"}),
        "groupby_q2": lambda: x.groupby(["id1", "id2"], **by).agg({"v1": "sum"}),
        "groupby_q3": lambda: x.groupby("id3", **by).agg({"v1": "sum", "v3": "mean"}),
        "groupby_q4": lambda: x.groupby("id4", **by).agg({"v1": "mean", "v2": "mean", "v3": "mean"}),
        "groupby_q5": lambda: x.groupby("id6", **by).agg({"v1": "sum", "v2": "sum", "v3": "sum"}),
        "groupby_q6": lambda: x.groupby(["id4", "id5"], **by).agg(median_v3=("v3", "median"), sd_v3=("v3", "std")),
        "groupby_q7": lambda: (
            x.groupby("id3", **by)
            .agg({"v1": "max", "v2": "min"})
            .assign(range_v1_v2=lambda t: t["v1"] - t["v2"])[["id3", "range_v1_v2"]]
        ),
        "groupby_q8": lambda: (
            x[["id6", "v3"]]
            .dropna(subset=["v3"])
            .sort_values("v3", ascending=False)
            .groupby("id6", sort=False, observed=True, dropna=False)
            .head(2)
        ),
        "groupby_q9": q9,
        "groupby_q10": lambda: x.groupby(ALL, **by).agg(v3=("v3", "sum"), count=("v3", "size")),
    }


def polars_questions(path: Path) -> dict:
    import polars as pl

    x = pl.read_parquet(str(path / "*.parquet")).with_columns(pl.col("id1", "id2", "id3").cast(pl.Categorical)).lazy()
    return {
        "groupby_q1": lambda: x.group_by("id1").agg(pl.col("v1").sum()).collect(),
        "groupby_q2": lambda: x.group_by("id1", "id2").agg(pl.col("v1").sum()).collect(),
        "groupby_q3": lambda: x.group_by("id3").agg(pl.col("v1").sum(), pl.col("v3").mean()).collect(),
        "groupby_q4": lambda: x.group_by("id4").agg(pl.col("v1", "v2", "v3").mean()).collect(),
        "groupby_q5": lambda: x.group_by("id6").agg(pl.col("v1", "v2", "v3").sum()).collect(),
        "groupby_q6": lambda: (
            x.group_by("id4", "id5")
            .agg(pl.col("v3").median().alias("median_v3"), pl.col("v3").std().alias("sd_v3"))
            .collect()
        ),
        "groupby_q7": lambda: (
            x.group_by("id3").agg((pl.col("v1").max() - pl.col("v2").min()).alias("range_v1_v2")).collect()
        ),
        "groupby_q8": lambda: x.drop_nulls("v3").group_by("id6").agg(pl.col("v3").top_k(2)).explode("v3").collect(),
        "groupby_q9": lambda: x.group_by("id2", "id4").agg((pl.corr("v1", "v2") ** 2).alias("r2")).collect(),
        "groupby_q10": lambda: x.group_by(ALL).agg(pl.col("v3").sum(), pl.len().alias("count")).collect(),
    }


def duckdb_questions(path: Path) -> dict:
    import duckdb

    con = duckdb.connect(config={"threads": CORES, "preserve_insertion_order": False})
    con.execute(f"CREATE TABLE x AS SELECT * FROM read_parquet('{path}/*.parquet')")
    for key in ("id1", "id2", "id3"):
        con.execute(f"CREATE TYPE {key}_enum AS ENUM (SELECT DISTINCT {key} FROM x WHERE {key} IS NOT NULL)")
        con.execute(f"ALTER TABLE x ALTER {key} TYPE {key}_enum")
    sql = {
        "groupby_q1": "SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1",
        "groupby_q2": "SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2",
        "groupby_q3": "SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3",
        "groupby_q4": "SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4",
        "groupby_q5": "SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6",
        "groupby_q6": "SELECT id4, id5, median(v3) AS median_v3, stddev(v3) AS sd_v3 FROM x GROUP BY id4, id5",
        "groupby_q7": "SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM x GROUP BY id3",
        "groupby_q8": "SELECT id6, unnest(max(v3, 2)) AS v3 FROM x WHERE v3 IS NOT NULL GROUP BY id6",
        "groupby_q9": "SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM x GROUP BY id2, id4",
        "groupby_q10": f"SELECT {', '.join(ALL)}, sum(v3) AS v3, count(*) AS count FROM x GROUP BY {', '.join(ALL)}",
    }
    return {name: (lambda text=text: con.sql(text).to_arrow_table()) for name, text in sql.items()}


def time_each(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Each run's median over ``repeats`` timed runs, after one cold run."""
    medians = {}
    for name, run in runs.items():
        run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        medians[name] = statistics.median(times)
    return medians


def standalone(engine: str, path: Path, repeats: int) -> dict[str, float]:
    """In this (child) process: each question's median over ``repeats`` timed runs, after one cold run."""
    os.environ["POLARS_MAX_THREADS"] = str(CORES)  # read at import
    questions = {"pandas": pandas_questions, "polars": polars_questions, "duckdb": duckdb_questions}[engine](path)
    return time_each(questions, repeats)


def medians_through_breakeven(spec: str, cases: list[Any], repeats: int, data: Path) -> dict[str, float]:
    """The cases' compute medians, run through breakeven's runner (answers verified)."""
    from breakeven import api
    from breakeven.runner import Options

    with tempfile.TemporaryDirectory() as results:
        options = Options(repeats=repeats, data_dir=data, cores=CORES, timeout=1800)
        records = api.run(cases, options, results=Path(results), run_id="standalone", suite="standalone").records
    failed = [f"{r.case.workload}: {r.status} {r.reason}" for r in records if not r.ok]
    if failed:
        raise SystemExit(f"{spec}: " + "; ".join(failed))
    return {r.case.workload: r.times.compute_median for r in records}


def through_breakeven(spec: str, rows: int, repeats: int, data: Path) -> dict[str, float]:
    from breakeven.cases import Case

    engine, mode, profile = spec.split(":")
    return medians_through_breakeven(spec, [Case(q, engine, mode, profile, rows) for q in QUESTIONS], repeats, data)


def report(config: str, alone: dict[str, float], ours: dict[str, float], what: str) -> bool:
    """Per question, breakeven's median over the standalone one, and their geometric mean; whether
    both targets are met."""
    ratios = {q: ours[q] / alone[q] for q in alone}
    geomean = statistics.geometric_mean(ratios.values())
    ok = geomean <= GEOMEAN_TARGET and max(ratios.values()) <= QUESTION_TARGET
    width = max(len(q) for q in ratios) + 2
    print(f"\n{config} (standalone: {config.split(':')[0]}'s expert script)")
    print(f"{what:<{width}} {'standalone s':>12} {'breakeven s':>12} {'ratio':>7}")
    for q, ratio in ratios.items():
        print(f"{q:<{width}} {alone[q]:>12.4f} {ours[q]:>12.4f} {ratio:>7.2f}")
    print(f"{'geomean':<{width}} {'':>12} {'':>12} {geomean:>7.2f}  ({'met' if ok else 'NOT met'})")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("-e", "--engine", action="append", help=f"engine:mode:profile (default: {', '.join(CONFIGS)})")
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--standalone", help=argparse.SUPPRESS)  # the child: one engine's script, prints JSON
    args = parser.parse_args()
    if not args.standalone:
        print(provenance(), flush=True)
    rows = int(float(args.rows))
    from breakeven import data as datagen

    spec = datagen.DataSpec("G1", rows)
    path = datagen.dataset_paths(spec, args.data)["x"]
    if args.standalone:
        print(json.dumps(standalone(args.standalone, path, args.repeats)))
        return
    datagen.generate(spec, args.data)
    print(f"G1 at {args.rows} rows, {args.repeats} repeats; ratio = breakeven median / standalone median")
    missed = False
    for config in args.engine or CONFIGS:
        engine = config.split(":")[0]
        argv = [sys.executable, __file__, "--standalone", engine, "--rows", args.rows, "--repeats", str(args.repeats)]
        done = subprocess.run([*argv, "--data", str(args.data)], capture_output=True, text=True, check=True)
        alone = json.loads(done.stdout.strip().splitlines()[-1])
        ours = through_breakeven(config, rows, args.repeats, args.data)
        missed |= not report(config, {q: alone[q] for q in QUESTIONS}, ours, "question")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
