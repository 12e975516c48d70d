"""What the instrument costs the engines it measures.

For each engine configuration (pandas, and the many-process ones: Dask processes, Spark local,
Ray local), rounds alternate two ways of timing the same case on the same data:
- through the runner: a worker process, its memory and CPU meter, the protocol;
- bare: the same engine session opened in a plain process (a child of this script, so that
  the engine's threads never run in the runner's process and count as its CPU), the same
  implementation timed in a loop with nothing around it.
It prints, per configuration, the median compute time both ways and their ratio (pooled over
every repeat of every round), and the runner's own CPU as a share of one core: during the timed
phases (the records' ``runner_cpu_seconds``) and over whole sessions (start-up and load
included; the only figure for a breakeven older than schema 4). Targets: ratio <= 1.05 and
runner CPU in the timed phases <= 2% of a core.

    python scripts/harness_overhead.py [--rows 1e7] [--repeats 5] [--rounds 3] [--memory-method auto]
        [-e pandas -e dask:processes:tuned ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from breakeven import api
from breakeven.cases import Case
from breakeven.data import dataset_paths, generate
from breakeven.engines import SessionSettings, engine_class
from breakeven.machine import provenance
from breakeven.results import Record
from breakeven.runner import Options
from breakeven.workloads import get_workload

RATIO_TARGET = 1.05
CPU_TARGET = 0.02  # of one core
CONFIGS = ("pandas:single:default", "dask:processes:tuned", "spark:local:tuned", "ray:local:tuned")


def bare(case: Case, data_dir: Path, repeats: int, cores: int, budget: int) -> list[float]:
    """The same session as the worker's, opened here, and a plain loop: the repeats' times."""
    scratch = Path(tempfile.mkdtemp(prefix="breakeven-bare-"))
    settings = SessionSettings(cores, budget, scratch / "logs", scratch)
    engine = engine_class(case.engine)(case.mode, case.profile, settings)
    engine.start()
    try:
        paths, rows = dataset_paths(case.data, data_dir), case.data.table_rows()
        wl = get_workload(case.workload)
        tables = {role: engine.load(role, paths[role], rows[role], case.chunk_rows) for role in wl.tables}
        ctx = engine.context(tables, rows, case.chunk_rows)
        times = []
        for _ in range(1 + repeats):
            start = time.perf_counter()
            engine.materialise(engine.build(wl, ctx))
            times.append(time.perf_counter() - start)
        return times[1:]
    finally:
        engine.close()
        shutil.rmtree(scratch, ignore_errors=True)


def bare_in_child(spec: str, args: argparse.Namespace) -> list[float]:
    argv = [sys.executable, __file__, "--bare", spec, "--rows", args.rows, "--repeats", str(args.repeats)]
    argv += ["--workload", args.workload, "--data", str(args.data)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def through_runner(case: Case, options: Options) -> tuple[Record, float, float]:
    """The record, and the runner's CPU seconds and the wall seconds of the whole session."""
    with tempfile.TemporaryDirectory() as results:
        store, cases = api.open_run([case], options, results=Path(results), run_id="overhead", suite="overhead")
        start, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        record = api.run_cases(store, cases, options).records[0]
        end = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - start
    if not record.ok:
        raise SystemExit(f"{case.id}: {record.status}: {record.reason}")
    return record, end.ru_utime + end.ru_stime - cpu.ru_utime - cpu.ru_stime, wall


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the runner then kills its sessions and removes their control groups


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", default="groupby_q1")
    parser.add_argument("--memory-method", default="auto", choices=("auto", "cgroup", "sampled"))
    parser.add_argument("-e", "--engine", action="append", help=f"engine:mode:profile (default: {', '.join(CONFIGS)})")
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--bare", help=argparse.SUPPRESS)  # the child: time one bare session, print JSON
    args = parser.parse_args()
    if not args.bare:
        print(provenance(), flush=True)
    cores, budget = 2, 16 * 2**30
    if args.bare:
        engine, mode, profile = args.bare.split(":")
        case = Case(args.workload, engine, mode, profile, int(float(args.rows)))
        print(json.dumps(bare(case, args.data, args.repeats, cores, budget)))
        return
    options = Options(
        repeats=args.repeats,
        data_dir=args.data,
        timeout=1800,
        cores=cores,
        memory_budget=budget,
        memory_method=args.memory_method,
    )
    print(f"{args.workload} at {args.rows} rows, {args.repeats} repeats x {args.rounds} rounds, interleaved")
    failed = False
    for spec in args.engine or CONFIGS:
        engine, mode, profile = spec.split(":")
        case = Case(args.workload, engine, mode, profile, int(float(args.rows)))
        generate(case.data, args.data)
        runner_times: list[float] = []
        bare_times: list[float] = []
        runner_cpu = timed = session_cpu = session_wall = 0.0
        method = ""
        for _ in range(args.rounds):
            record, cpu, wall = through_runner(case, options)
            runner_times += record.times.repeats
            runner_cpu += record.runner_cpu_seconds or 0.0
            timed += (record.times.cold or 0.0) + sum(record.times.repeats)
            session_cpu, session_wall = session_cpu + cpu, session_wall + wall
            method = record.memory_method or "?"
            bare_times += bare_in_child(spec, args)
        ratio = statistics.median(runner_times) / statistics.median(bare_times)
        share = runner_cpu / timed
        ok = ratio <= RATIO_TARGET and share <= CPU_TARGET
        failed |= not ok
        print(
            f"{spec:<22} {method:<11} runner {statistics.median(runner_times):.4f} s, "
            f"bare {statistics.median(bare_times):.4f} s, ratio {ratio:.3f}; runner CPU: timed phases "
            f"{runner_cpu:.3f} s in {timed:.1f} s = {share:.2%} of a core, whole sessions {session_cpu:.2f} s "
            f"in {session_wall:.1f} s = {session_cpu / session_wall:.2%} ({'met' if ok else 'NOT met'})",
            flush=True,
        )
    print(f"targets: ratio <= {RATIO_TARGET:.2f}, runner CPU <= {CPU_TARGET:.0%} of a core")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
