"""Each runner status provoked for real, the suite going on after it, and no process left."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

import breakeven.testing  # noqa: F401  (registers the fault workloads here; workers import it by plugin)
from breakeven.accounting import SAMPLED, control_group
from breakeven.cases import Case
from breakeven.results import summarise

PLUGIN = ("breakeven.testing",)


def case(workload: str, engine: str = "pandas", mode: str = "single", profile: str = "default") -> Case:
    return Case(workload, engine, mode, profile, rows=10_000)


def test_the_progress_says_when_reference_answers_are_being_made(tmp_path: Path) -> None:
    """At 1e8 rows a merge's reference takes minutes: the progress line says so, once."""
    from breakeven import api
    from breakeven.events import DataGenerated, DataGenerating, MakingReferences
    from breakeven.runner import Options, Runner

    seen: list[object] = []
    opts = Options(data_dir=tmp_path / "data", cores=1)
    store, _ = api.open_run([case("groupby_q1")], opts, results=tmp_path / "results", run_id="test")
    runner = Runner(opts, store, seen.append)
    spec = case("groupby_q1").data
    assert runner._prepare(spec, ["groupby_q1"]) == {}
    assert runner._prepare(spec, ["groupby_q1"]) == {}  # made once, then found
    assert [type(e) for e in seen] == [DataGenerating, DataGenerated, MakingReferences]
    assert seen[-1] == MakingReferences(spec.name, ("groupby_q1",))


@pytest.mark.pandas
@pytest.mark.parametrize("method", ["auto", "sampled"])
def test_failures_are_recorded_and_the_suite_goes_on(run_cases, no_orphans, method: str) -> None:
    cases = [
        case(w)
        for w in ("fault_wrong", "fault_crash", "groupby_q1", "fault_hang", "fault_hog", "fault_raise", "groupby_q2")
    ]
    records, runner = run_cases(cases, memory_budget=1536 * 2**20, plugins=PLUGIN, memory_method=method)
    status = {r.case.workload: r for r in records}
    assert {r.memory_method for r in records} == {runner.memory_method}
    assert (runner.memory_method == SAMPLED) == (method == "sampled" or runner.memory_fallback is not None)
    assert [r.case.workload for r in records] == [c.workload for c in cases]
    assert status["fault_wrong"].status == "wrong_result"
    assert "v1" in status["fault_wrong"].reason and "differ" in status["fault_wrong"].reason
    assert status["fault_crash"].status == "crashed"
    assert "SIGSEGV" in status["fault_crash"].reason
    assert status["fault_hang"].status == "timeout"
    assert status["fault_hog"].status == "memory"
    assert status["fault_hog"].peak_memory_bytes >= 1536 * 2**20
    assert status["fault_raise"].status == "crashed"
    assert "ValueError: injected failure" in status["fault_raise"].reason
    assert status["groupby_q1"].status == "ok" and status["groupby_q2"].status == "ok"
    # one session for the wrong answer (the worker survives it), fresh ones after deaths and after
    # the raise (the engine's state is unknown): groupby_q2 runs in a session of its own
    assert runner.sessions_started == 5
    assert status["groupby_q2"].log != status["fault_raise"].log
    assert len(runner.seen_pids) >= 4
    no_orphans(runner.seen_pids)


@pytest.mark.pandas
def test_a_session_short_of_disk_is_stopped_and_recorded(run_cases, no_orphans, monkeypatch) -> None:
    """Engines spill and shuffle into the session's scratch folder: a session that leaves less
    than the reserve free on its disk is killed and its case recorded, and the suite goes on."""
    import shutil

    from breakeven import supervision

    monkeypatch.setattr(supervision, "DISK_RESERVE", shutil.disk_usage(tempfile.gettempdir()).total)
    records, runner = run_cases([case("groupby_q1"), case("groupby_q1", "polars", "eager")])
    assert [(r.status, "out of disk" in (r.reason or "")) for r in records] == [("crashed", True)] * 2
    no_orphans(runner.seen_pids)


@pytest.mark.pandas
def test_a_reference_that_fails_fails_its_cases_once_and_no_others(run_cases, no_orphans, monkeypatch) -> None:
    """At 1e8 rows q10's reference was killed for memory: each engine's cases of it say so, the
    other questions of the same data run, and the reference is not tried again for each engine."""
    from breakeven import reference

    tried: list[list[str]] = []
    ensure = reference.ensure

    def counted(spec: Any, workloads: list[str], *args: Any, **kwargs: Any) -> dict[str, str]:
        tried.append(list(workloads))
        return ensure(spec, workloads, *args, **kwargs)

    monkeypatch.setattr(reference, "ensure", counted)
    cases = [case(w, profile=p) for p in ("default", "tuned") for w in ("fault_reference", "groupby_q1")]
    records, runner = run_cases(cases, plugins=PLUGIN)
    assert [(r.case.workload, r.status) for r in records] == [
        ("fault_reference", "crashed"),
        ("groupby_q1", "ok"),
        ("fault_reference", "crashed"),
        ("groupby_q1", "ok"),
    ]
    assert records[0].reason == records[2].reason
    assert "reference answer of fault_reference" in records[0].reason
    assert "killed (SIGKILL: most likely out of memory)" in records[0].reason
    assert sum(w.count("fault_reference") for w in tried) == 1
    no_orphans(runner.seen_pids)


@pytest.mark.dask
def test_a_hang_inside_dask_workers_kills_the_whole_tree(run_cases, no_orphans) -> None:
    records, runner = run_cases(
        [case("fault_hang", "dask", "processes"), case("groupby_q1", "dask", "processes")], plugins=PLUGIN
    )
    assert [r.status for r in records] == ["timeout", "ok"]
    assert records[0].peak_memory_bytes > 100 * 2**20  # the scheduler and worker processes were counted
    assert len(runner.seen_pids) >= 4  # worker, and the LocalCluster's worker processes
    no_orphans(runner.seen_pids)


@pytest.mark.pandas
def test_a_control_group_catches_a_spike_shorter_than_a_sample_and_leaves_no_group(run_cases) -> None:
    from breakeven.testing import SPIKE_BYTES, SPIKE_CPU_SECONDS

    probe = control_group(None)
    if isinstance(probe, str):
        pytest.skip(f"this machine gives no control group: {probe}")  # the sampler is tested above
    parent = probe.memory.parent
    probe.remove()
    before = set(parent.glob("breakeven-*"))
    records, runner = run_cases([case("fault_spike")], memory_method="cgroup", plugins=PLUGIN, repeats=2)
    assert records[0].status == "ok" and records[0].memory_method.startswith("cgroup")
    assert records[0].peak_memory_bytes >= SPIKE_BYTES  # in the window of the cold run, the first
    assert records[0].cpu_seconds >= SPIKE_CPU_SECONDS  # both windows' CPU, the cold one's too
    assert 0 <= records[0].runner_cpu_seconds < records[0].times.cold + sum(records[0].times.repeats)
    assert set(parent.glob("breakeven-*")) == before


@pytest.mark.pandas
def test_the_cold_answer_is_verified_and_let_go_before_the_repeats(run_cases) -> None:
    """A collected answer of 1e8 rows is GBs: the worker must not hold the cold one while the
    repeats run (fault_held raises if it does), and a wrong cold answer ends the case."""
    records, _ = run_cases([case("fault_held"), case("fault_wrong_cold")], plugins=PLUGIN, repeats=3)
    held, wrong = records
    assert held.status == "ok", held.reason
    assert len(held.times.repeats) == 3 and held.times.cold is not None
    assert wrong.status == "wrong_result" and "v1" in wrong.reason
    assert wrong.times.cold is not None and not wrong.times.repeats  # not run after a wrong answer


def test_unsupported_and_unavailable_are_recorded_without_running(run_cases, monkeypatch) -> None:
    from breakeven.engines.polars_engine import PolarsEngine
    from breakeven.workloads import get_workload

    wl = get_workload("groupby_q1")
    monkeypatch.setitem(wl.unsupported, "duckdb", "cannot, for the test")
    monkeypatch.setitem(wl.impls, "duckdb", None)
    monkeypatch.setattr(PolarsEngine, "packages", ("polars_is_not_installed",))
    records, runner = run_cases([case("groupby_q1", "duckdb"), case("groupby_q1", "polars", "eager")])
    assert [r.status for r in records] == ["unsupported", "unavailable"]
    assert records[0].reason == "cannot, for the test"
    assert "pip install 'breakeven[polars]'" in records[1].reason
    assert runner.sessions_started == 0


def test_repeats_cold_run_and_noise_flag(run_cases) -> None:
    records, _ = run_cases([case("groupby_q1")], repeats=3)
    times = records[0].times
    assert len(times.repeats) == 3 and times.cold is not None
    assert times.end_to_end == pytest.approx(times.startup + times.load + times.compute_median)
    assert summarise([1.0, 1.05, 1.2]).noisy and not summarise([1.0, 1.02, 1.05]).noisy


@pytest.mark.spark
def test_a_hang_inside_spark_kills_the_jvm_and_its_python_workers(run_cases, no_orphans) -> None:
    cases = [case("fault_hang", "spark", "local"), case("groupby_q1", "spark", "local")]
    records, runner = run_cases(cases, plugins=PLUGIN)
    assert [r.status for r in records] == ["timeout", "ok"]
    assert records[0].peak_memory_bytes > 200 * 2**20  # the JVM's memory is counted
    assert len(runner.seen_pids) >= 3  # worker, JVM and Spark's Python workers, in both sessions
    no_orphans(runner.seen_pids)


@pytest.mark.ray
def test_a_crash_and_a_hang_inside_ray_leave_no_raylet_or_worker(run_cases, no_orphans) -> None:
    scratch_before = set(Path(tempfile.gettempdir()).glob("breakeven-*"))
    cases = [case(w, "ray", "local") for w in ("fault_crash", "fault_hang", "groupby_q1")]
    records, runner = run_cases(cases, plugins=PLUGIN)
    assert set(Path(tempfile.gettempdir()).glob("breakeven-*")) <= scratch_before  # Ray's session dirs removed
    for r in records:  # and Ray's logs kept in the run's folder, also for the killed sessions
        assert any((runner.store.root / r.log).with_suffix(".engine").rglob("raylet.out"))
    assert [r.status for r in records] == ["crashed", "timeout", "ok"]
    assert "SIGSEGV" in records[0].reason
    assert records[1].peak_memory_bytes > 200 * 2**20  # Ray's own processes are counted
    assert len(runner.seen_pids) >= 10  # worker, GCS, raylet, Ray's workers, in three sessions
    no_orphans(runner.seen_pids)


@pytest.mark.pandas
def test_a_small_table_merge_loads_only_the_tables_it_reads(run_cases, no_orphans) -> None:
    """A session's part holds the tables its cases read: a small-table merge does not hold the
    ``big`` table of the big merge. Measured first without a budget, then under one between the
    small merge's peak and what loading ``big`` takes: the small merge finishes, the big one
    cannot, and the next part (another data set) runs in a new session."""
    from breakeven.runner import group_cases

    rows = 4_000_000
    cases = [Case(w, "pandas", "single", "default", rows=rows) for w in ("join_small_inner_agg", "join_big_inner_agg")]
    cases.append(Case("join_small_inner_agg", "pandas", "single", "default", rows=10**4))  # another data set
    [group] = group_cases(cases)  # one session, a part per data set and tables read
    assert [(p.data.rows, p.tables) for p in group.parts] == [
        (rows, ("small", "x")),
        (rows, ("big", "x")),
        (10**4, ("small", "x")),
    ]
    measured, runner = run_cases(cases)
    small, big, other = measured
    assert small.ok and big.ok and other.ok and runner.sessions_started == 1
    assert small.peak_memory_bytes < 0.9 * big.load_peak_memory_bytes  # x and big loaded: more than the small merge
    budget = (small.peak_memory_bytes + big.load_peak_memory_bytes) // 2
    records, runner = run_cases(cases, memory_budget=budget)
    assert [(r.case.workload, r.case.rows, r.status) for r in records] == [
        ("join_small_inner_agg", rows, "ok"),
        ("join_big_inner_agg", rows, "memory"),
        ("join_small_inner_agg", 10**4, "ok"),  # the next part, in a new session
    ]
    assert runner.sessions_started == 2
    no_orphans(runner.seen_pids)


def test_a_pinned_command_runs_on_the_cpus_it_is_given() -> None:
    import subprocess
    import sys

    from breakeven.cpus import cpu_set, pinned

    if cpu_set(1) is None:
        pytest.skip("one CPU: nothing to pin")
    code = "import os; print(sorted(os.sched_getaffinity(0)))"
    out = subprocess.run([*pinned(cpu_set(1)), sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(cpu_set(1))
    assert pinned(None) == []


@pytest.mark.spark
def test_cores_below_the_machines_are_enforced_and_recorded(run_cases, no_orphans, data_dir) -> None:
    """--cores 1: Spark local[1] kept 1.46 to 1.91 cores busy (its JVM's other threads); held to
    one CPU, the whole session uses at most one, and the record says how many it used."""
    import os

    from breakeven.results import RunStore

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to enforce")
    records, runner = run_cases([Case("groupby_q3", "spark", "local", "default", rows=10**6)], cores=1, repeats=3)
    (record,) = records
    # at most one core, and a little: the CPU is metered over a window a little longer than the runs
    assert record.ok and record.cores_used is not None and record.cores_used <= 1.1, record.cores_used
    assert RunStore(runner.store.root).meta().settings.cpus == [min(os.sched_getaffinity(0))]
    no_orphans(runner.seen_pids)
