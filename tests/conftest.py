"""Shared fixtures: tiny data in a session-wide cache, a runner on a fresh results folder, and
a check that no test leaves a process behind. A test that runs cases through the runner (worker
processes, engines started for real) or starts Spark or Ray is in the slow tier: ``-m "not slow"``
leaves it out."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from breakeven import api
from breakeven.cases import Case
from breakeven.cluster.access import ray_env
from breakeven.results import Record
from breakeven.runner import Options, Runner

# Ray reads its environment once, when first imported, and several test modules import it before
# starting an engine in this process: set it here, before any of them, as RayEngine.start does,
# so that Ray binds to 127.0.0.1 only (RayEngine.start refuses otherwise).
os.environ.update(ray_env(None, loopback=True))


# Under pytest-xdist (``-n 2``) each worker has a temporary folder of its own, which its tests'
# processes inherit (TMPDIR), so that what ``no_orphans`` finds there is its own tests'. Made
# once per process (a test that runs pytest in this process imports this file again), removed
# at its exit; short, as Ray's Unix sockets go below it, at most 107 bytes a path.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER and "BREAKEVEN_TEST_TMPDIR" not in os.environ:
    _tmp = Path("/tmp") / f"{WORKER}.{os.getpid()}"
    _tmp.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = os.environ["BREAKEVEN_TEST_TMPDIR"] = str(_tmp)
    tempfile.tempdir = None
    atexit.register(shutil.rmtree, _tmp, ignore_errors=True)


def _this_worker(proc: psutil.Process) -> bool:
    """Whether a process was started by this test process (its xdist worker's), by the variable
    every child inherits; without xdist, every process is."""
    if not WORKER:
        return True
    try:
        return proc.environ().get("PYTEST_XDIST_WORKER") == WORKER
    except psutil.Error:
        return False


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def run_cases(data_dir: Path, tmp_path: Path) -> Callable[..., tuple[list[Record], Runner]]:
    """Run cases through the real runner (worker processes and all) into a fresh run folder:
    ``results/runs/test``, then ``test-2``, ... for a test's further runs."""
    made = 0

    def run(cases: list[Case], **options: Any) -> tuple[list[Record], Runner]:
        nonlocal made
        made += 1
        opts = Options(
            data_dir=options.pop("data_dir", data_dir),
            cores=options.pop("cores", 2),
            repeats=options.pop("repeats", 1),
            **options,
        )
        run_id = "test" if made == 1 else f"test-{made}"
        done = api.run(cases, opts, results=tmp_path / "results", run_id=run_id, suite="test")
        return done.records, done.runner

    return run


def descendants() -> set[tuple[int, float]]:
    me = psutil.Process()
    found = set()
    for proc in me.children(recursive=True):
        try:
            found.add((proc.pid, proc.create_time()))
        except psutil.NoSuchProcess:
            continue
    return found


def _temp_dirs(temp: Path) -> set[Path]:
    """The engines' folders in the system's temporary folder: Spark's, breakeven's scratch, and
    Dask's default scratch (made by any Dask server not given a folder of its own)."""
    return set(temp.glob("spark-*")) | set(temp.glob("breakeven-*")) | set(temp.glob("dask-scratch-space"))


@pytest.fixture
def no_orphans() -> Iterator[Callable[[set[int]], None]]:
    """Yields a checker: every pid given (and every child of this test) must be gone; and no
    process started during the test may be left stopped (frozen by a kill that missed it)."""
    import time

    before = descendants()
    started = time.time()
    temp = Path(tempfile.gettempdir())
    temp_before = _temp_dirs(temp)

    def check(pids: set[int]) -> None:
        alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"processes left behind: {alive}"

    yield check
    left = descendants() - before
    assert not left, f"processes left behind by the test: {left}"
    frozen = []
    for proc in psutil.process_iter(["create_time", "status", "name"]):
        stopped = proc.info["create_time"] >= started - 1 and proc.info["status"] == psutil.STATUS_STOPPED
        if stopped and _this_worker(proc):
            frozen.append((proc.pid, proc.info["name"]))
    assert not frozen, f"stopped processes left behind: {frozen}"
    left_dirs = _temp_dirs(temp) - temp_before
    assert not left_dirs, f"temporary folders left behind: {sorted(map(str, left_dirs))}"


# Engines whose session starts servers of their own (a JVM; Ray's GCS, raylet and workers): a
# test of theirs is in the slow tier, in this process or not.
SERVER_ENGINES = ("spark", "ray")
# Tests that share what the machine has once, run by one xdist worker one after another: the
# compose project (its containers, state and namespace) and the machine's network namespaces,
# which the network tests count before and after.
ONE_AT_A_TIME = ("test_compose_cluster.py", "test_network.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that run cases through the runner, or start Spark or Ray, are slow; a test module's
    ``keep(item)`` deselects the parameter combinations it returns False for (a product of
    parameters that has holes)."""
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if "run_cases" in getattr(item, "fixturenames", ()) or any(item.get_closest_marker(m) for m in SERVER_ENGINES):
            item.add_marker(pytest.mark.slow)
        if xdist and item.path.name in ONE_AT_A_TIME:
            item.add_marker(pytest.mark.xdist_group("machine"))  # one worker runs them all (--dist loadgroup)
    dropped = [i for i in items if (keep := getattr(i.module, "keep", None)) is not None and not keep(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [i for i in items if i not in gone]


# Each test's time budget (tests/durations.toml): a test whose run (its call, not the fixtures
# it shares) grows past its budget fails, so that the suite's time cannot creep up unseen.
BUDGETS = tomllib.loads((Path(__file__).parent / "durations.toml").read_text())
BUDGET_SCALE = float(os.environ.get("BREAKEVEN_TEST_BUDGET_SCALE", "1"))


def budget(nodeid: str, slow: bool) -> float:
    """The budget of the longest entry of ``[tests]`` that starts ``nodeid``, else its tier's."""
    named = [(len(k), v) for k, v in BUDGETS["tests"].items() if nodeid.startswith(k)]
    return float(max(named)[1] if named else BUDGETS["tier"]["slow" if slow else "fast"])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and report.passed and BUDGET_SCALE > 0:
        allowed = budget(item.nodeid, item.get_closest_marker("slow") is not None) * BUDGET_SCALE
        if report.duration > allowed:
            report.outcome = "failed"
            report.longrepr = (
                f"took {report.duration:.1f} s, past its budget of {allowed:.0f} s (tests/durations.toml; "
                "BREAKEVEN_TEST_BUDGET_SCALE=2 on a machine twice as slow, 0 for none)"
            )
