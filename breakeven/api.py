"""The library's entry point: run cases into a run's folder. The command line, asv's benchmarks,
the tests and the scripts all run cases through it, with ``runner.Options`` (every default in
``breakeven.defaults``) saying how.

    from breakeven import api
    from breakeven.cases import Case

    done = api.run([Case("groupby_q1", "pandas", "single", "default", 10**6)])
    print(done.store.root, done.records[0].times.compute_median)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from breakeven.cases import Case
from breakeven.defaults import RESULTS_DIR
from breakeven.errors import UsageError
from breakeven.events import Listener, ignore
from breakeven.results import Record, RunStore, new_run_id, now_iso
from breakeven.runner import Options, Runner, run_meta
from breakeven.supervision import runner_cpu


@dataclass
class Run:
    """A run's folder, the records this sitting made, and the runner that made them (the
    processes it saw, the memory method it used)."""

    store: RunStore
    records: list[Record]
    runner: Runner


def open_run(
    cases: list[Case],
    options: Options | None = None,
    *,
    results: Path = RESULTS_DIR,
    run_id: str | None = None,
    resume: bool = False,
    suite: str = "custom",
    command: str | None = None,
) -> tuple[RunStore, list[Case]]:
    """A new run's folder for ``cases`` (its ``run.json``: the machine, versions, settings, the
    planned cases and ``command``), or with ``resume`` the existing run ``run_id`` (the newest
    if None), with the cases it has not finished yet."""
    options = options or Options()
    if resume:
        store = RunStore.open(results, run_id)
        if command:
            store.update_meta(commands=(*store.meta().commands, command))
        store.log_dir.mkdir(exist_ok=True)  # a committed run comes without its logs (.gitignore)
        done = store.done_ids()
        return store, [c for c in cases if c.id not in done]
    run_id = run_id or new_run_id()
    if (results / "runs" / run_id).exists():
        raise UsageError(f"run {run_id!r} exists already: pass --resume to continue it, or another --run-id")
    meta = replace(run_meta(suite, options, cases), commands=(command,) if command else ())
    return RunStore.create(results, run_id, meta), cases


def run_cases(store: RunStore, cases: list[Case], options: Options | None = None, emit: Listener = ignore) -> Run:
    """Run ``cases`` into ``store``, each record written as it finishes; the sitting's time and
    the runner's CPU are added to the run's, even when interrupted (``KeyboardInterrupt``)."""
    before, started, cpu = store.meta(), time.monotonic(), runner_cpu()
    runner = Runner(options or Options(), store, emit)
    try:
        records = runner.run(cases)
    finally:
        store.update_meta(
            wall_seconds=(before.wall_seconds or 0.0) + time.monotonic() - started,
            runner_cpu_seconds=(before.runner_cpu_seconds or 0.0) + runner_cpu() - cpu,
        )
    store.update_meta(finished=now_iso())
    return Run(store, records, runner)


def run(
    cases: list[Case],
    options: Options | None = None,
    *,
    results: Path = RESULTS_DIR,
    run_id: str | None = None,
    resume: bool = False,
    suite: str = "custom",
    command: str | None = None,
    emit: Listener = ignore,
) -> Run:
    """``open_run``, then ``run_cases``: the cases (with ``resume``, those not finished yet) in a run's folder."""
    options = options or Options()
    store, pending = open_run(
        cases, options, results=results, run_id=run_id, resume=resume, suite=suite, command=command
    )
    return run_cases(store, pending, options, emit)
