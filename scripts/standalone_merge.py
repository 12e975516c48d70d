"""breakeven's single-machine merges against the standalone code an expert writes.

The five J1 merges that keep every row (x with small on id1, with medium on id2, inner and left,
on the string key id5, with big on id3) and the dimension merge (D1, ``--dim-rows``), the answer
collected, run on the same Parquet data twice, one engine and one side at a time:

- **standalone**: the script an expert of the engine writes, db-benchmark's join scripts as the
  model: pandas with integer keys as ``int32`` and strings as ``category`` (a key's categories
  made the same on both sides, as pandas' merge needs to stay on the codes), Polars with the
  same types (``Int32``, ``Categorical`` under one string cache) and lazy frames collected, DuckDB
  with its tables as read and SQL joins fetched as Arrow; load untimed, each merge once cold and
  ``--repeats`` times timed, in a plain child process;
- **breakeven**: the same merges through breakeven's runner (``-e``, default each engine's tuned
  configuration), the answer collected and verified.

Prints per merge the runner's median over the standalone median and their geometric mean.
Targets (issue 38): geometric mean at most 1.05 per engine, no merge above 1.3.

    python scripts/standalone_merge.py [--rows 1e7] [--dim-rows 1e4] [--repeats 5] [-e polars:eager:tuned ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from standalone_groupby import CORES, medians_through_breakeven, report, time_each  # this folder's: the same method

from breakeven.machine import provenance

# merge: (right table, key, how); join_dim_inner is the D1 merge of fk with the dimension's key
MERGES = {
    "join_small_inner": ("small", "id1", "inner"),
    "join_medium_inner": ("medium", "id2", "inner"),
    "join_medium_left": ("medium", "id2", "left"),
    "join_medium_inner_str": ("medium", "id5", "inner"),
    "join_big_inner": ("big", "id3", "inner"),
}
DIM = "join_dim_inner"
CONFIGS = ("pandas:single:tuned", "polars:lazy:tuned", "duckdb:single:tuned")
INTS, STRINGS = ("id1", "id2", "id3"), ("id4", "id5", "id6")


def pandas_merges(j1: dict[str, Path], d1: dict[str, Path]) -> dict[str, Any]:
    import pandas as pd

    t = {role: pd.read_parquet(path) for role, path in j1.items()}
    for name in STRINGS:  # one set of categories per key, shared by every table that has it
        have = [f for f in t.values() if name in f]
        dtype = pd.CategoricalDtype(pd.Index(sorted(set().union(*(f[name].dropna().unique() for f in have)))))
        for frame in have:
            frame[name] = frame[name].astype(dtype)
    for frame in t.values():
        for name in INTS:
            if name in frame:
                frame[name] = frame[name].astype("int32")
    fact, dim = pd.read_parquet(d1["x"]), pd.read_parquet(d1["dim"])
    found = {
        name: (lambda right=right, key=key, how=how: t["x"].merge(t[right], on=key, how=how, suffixes=("", "_r")))
        for name, (right, key, how) in MERGES.items()
    }
    found[DIM] = lambda: fact.merge(dim, left_on="fk", right_on="key").drop(columns="key")
    return found


def polars_merges(j1: dict[str, Path], d1: dict[str, Path]) -> dict[str, Any]:
    import polars as pl

    pl.enable_string_cache()  # Categorical keys of different frames join on their codes

    def typed(path: Path) -> pl.LazyFrame:
        frame = pl.read_parquet(str(path / "*.parquet"))
        cast = [pl.col(c).cast(pl.Int32) for c in INTS if c in frame.columns]
        cast += [pl.col(c).cast(pl.Categorical) for c in STRINGS if c in frame.columns]
        return frame.with_columns(cast).lazy()

    t = {role: typed(path) for role, path in j1.items()}
    fact, dim = (pl.read_parquet(str(d1[r] / "*.parquet")).lazy() for r in ("x", "dim"))
    found = {
        name: (lambda right=right, key=key, how=how: t["x"].join(t[right], on=key, how=how, suffix="_r").collect())
        for name, (right, key, how) in MERGES.items()
    }
    found[DIM] = lambda: fact.join(dim, left_on="fk", right_on="key").collect()
    return found


def duckdb_merges(j1: dict[str, Path], d1: dict[str, Path]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(config={"threads": CORES, "preserve_insertion_order": False})
    for role, path in j1.items():
        con.execute(f"CREATE TABLE {role} AS SELECT * FROM read_parquet('{path}/*.parquet')")
    for role, path in d1.items():
        con.execute(f"CREATE TABLE d1_{role} AS SELECT * FROM read_parquet('{path}/*.parquet')")
    sql = {}
    for name, (right, key, how) in MERGES.items():
        others = [c for c in con.table(right).columns if c != key]
        picked = ", ".join(f"r.{c} AS {c}_r" if c in con.table("x").columns else f"r.{c}" for c in others)
        sql[name] = f"SELECT x.*, {picked} FROM x {how.upper()} JOIN {right} AS r ON x.{key} = r.{key}"
    sql[DIM] = "SELECT x.*, d.grp, d.weight FROM d1_x AS x JOIN d1_dim AS d ON x.fk = d.key"
    return {name: (lambda text=text: con.sql(text).to_arrow_table()) for name, text in sql.items()}


def standalone(engine: str, j1: dict[str, Path], d1: dict[str, Path], repeats: int) -> dict[str, float]:
    """In this (child) process: each merge's median over ``repeats`` timed runs, after one cold run."""
    os.environ["POLARS_MAX_THREADS"] = str(CORES)  # read at import
    return time_each(
        {"pandas": pandas_merges, "polars": polars_merges, "duckdb": duckdb_merges}[engine](j1, d1), repeats
    )


def through_breakeven(spec: str, rows: int, dim_rows: int, repeats: int, data: Path) -> dict[str, float]:
    from breakeven.cases import Case

    engine, mode, profile = spec.split(":")
    cases = [Case(name, engine, mode, profile, rows, sink="collect") for name in MERGES]
    cases.append(Case(DIM, engine, mode, profile, rows, dim_rows=dim_rows, sink="collect"))
    return medians_through_breakeven(spec, cases, repeats, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--dim-rows", default="1e4")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("-e", "--engine", action="append", help=f"engine:mode:profile (default: {', '.join(CONFIGS)})")
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--standalone", help=argparse.SUPPRESS)  # the child: one engine's script, prints JSON
    args = parser.parse_args()
    if not args.standalone:
        print(provenance(), flush=True)
    rows, dim_rows = int(float(args.rows)), int(float(args.dim_rows))
    from breakeven import data as datagen

    j1_spec, d1_spec = datagen.DataSpec("J1", rows), datagen.DataSpec("D1", rows, dim_rows=dim_rows)
    j1, d1 = datagen.dataset_paths(j1_spec, args.data), datagen.dataset_paths(d1_spec, args.data)
    if args.standalone:
        print(json.dumps(standalone(args.standalone, j1, d1, args.repeats)))
        return
    datagen.generate(j1_spec, args.data)
    datagen.generate(d1_spec, args.data)
    print(f"J1 and D1 (dimension of {args.dim_rows} rows) at {args.rows} rows, {args.repeats} repeats, answers "
          "collected; ratio = breakeven median / standalone median")  # fmt: skip
    missed = False
    for config in args.engine or CONFIGS:
        engine = config.split(":")[0]
        argv = [sys.executable, __file__, "--standalone", engine, "--rows", args.rows, "--dim-rows", args.dim_rows]
        argv += ["--repeats", str(args.repeats), "--data", str(args.data)]
        alone = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        ours = through_breakeven(config, rows, dim_rows, args.repeats, args.data)
        missed |= not report(config, alone, ours, "merge")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
