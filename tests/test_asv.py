"""The asv benchmarks: their grid and targets, ``asv check``, and a small ``asv run`` + ``asv publish``
in this environment that runs real cases through the runner."""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from benchmarks import common
from benchmarks.common import Grid, Target, resolve_topology
from breakeven.cases import get_suite
from breakeven.results import RunStore

REPO = Path(__file__).resolve().parents[1]
ASV = [sys.executable, "-m", "asv"]


UDF = "transform_udf chunk=1e5 sink=parquet"  # a question of the quick grid


def test_asv_check_passes() -> None:
    done = subprocess.run(
        [*ASV, "check", "-E", f"existing:{sys.executable}"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


@pytest.mark.parametrize("suite", ["quick", "standard", "cluster"])
def test_every_case_of_the_grid_is_one_combination(suite: str) -> None:
    grids = [Grid(family, suite) for family in ("groupby", "join", "transform")]
    mapped = [c for g in grids for c in g.cases.values()]
    configs = common.all_configs()
    expected = get_suite(suite).cases(configs)
    assert sorted(c.id for c in mapped) == sorted(c.id for c in expected)
    for grid in grids:
        combos = list(itertools.product(*grid.params))
        assert len(grid.cases) <= len(combos)
        assert all(key in combos for key in grid.cases)


def test_combinations_that_do_not_apply_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = Grid("transform", "quick")
    monkeypatch.setattr(common, "TARGET", Target("laptop"))
    assert grid.case("pandas:single:default", UDF, "1e6").chunk_rows == 10**5
    with pytest.raises(NotImplementedError, match="no case"):
        grid.case("polars:eager:default", UDF, "1e6")  # Polars picks its own chunks
    with pytest.raises(NotImplementedError, match="BREAKEVEN_ASV_CLUSTER=dask"):
        grid.case("dask:cluster:tuned@Nx1", UDF, "1e6")
    monkeypatch.setattr(common, "TARGET", Target("local-cluster", "dask"))
    with pytest.raises(NotImplementedError, match="laptop target"):
        grid.case("pandas:single:default", UDF, "1e6")
    with pytest.raises(NotImplementedError, match="BREAKEVEN_ASV_CLUSTER=spark"):
        grid.case("spark:cluster:tuned@Nx1", UDF, "1e6")
    with pytest.raises(NotImplementedError, match="not measured on the local-cluster"):
        grid.case("dask:cluster:tuned@external", UDF, "1e6")
    case = grid.case("dask:cluster:tuned@Nx1", UDF, "1e6")
    assert case.topology == f"{common.CORES}x1"
    monkeypatch.setattr(common, "TARGET", Target("cluster", "dask", "tcp://127.0.0.1:8786"))
    assert grid.case("dask:cluster:tuned@external", UDF, "1e6").topology == "external"
    with pytest.raises(NotImplementedError):
        grid.case("dask:cluster:tuned@Nx1", UDF, "1e6")


def test_a_cluster_address_names_its_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKEVEN_ASV_CLUSTER_ADDRESS", "spark://127.0.0.1:7077")
    assert Target.from_env() == Target("cluster", "spark", "spark://127.0.0.1:7077")
    monkeypatch.setenv("BREAKEVEN_ASV_CLUSTER_ADDRESS", "127.0.0.1:6379")
    with pytest.raises(ValueError, match="BREAKEVEN_ASV_CLUSTER=ray"):
        Target.from_env()
    monkeypatch.setenv("BREAKEVEN_ASV_CLUSTER", "ray")
    assert Target.from_env() == Target("cluster", "ray", "127.0.0.1:6379")


def test_topologies_resolve_to_the_same_total_of_cores() -> None:
    assert resolve_topology("1xN", 4) == "1x4"
    assert resolve_topology("Nx1", 4) == "4x1"
    assert resolve_topology("2xN/2", 4) == "2x2"
    with pytest.raises(NotImplementedError, match="not a topology of its own"):
        resolve_topology("2xN/2", 2)  # 2x1 is Nx1
    with pytest.raises(NotImplementedError):
        resolve_topology("2xN/2", 3)


def test_the_machine_is_the_one_asv_saves_results_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert common.current_machine(["run", "--machine", "vm-local-cluster"]) == "vm-local-cluster"
    assert common.current_machine(["--config", "x.json", "run", "-m", "box", "--bench", "q1"]) == "box"
    assert common.current_machine(["run", "--machine=box"]) == "box"
    assert common.current_machine(["check", "-E", "existing"]) is None
    monkeypatch.setenv("HOME", str(tmp_path))
    assert common.current_machine(["run"]) == platform.node()  # asv's default: the host's name
    (tmp_path / ".asv-machine.json").write_text(json.dumps({"laptop": {"machine": "laptop"}, "version": 1}))
    assert common.current_machine(["run"]) == "laptop"  # ... or the only machine asv knows


def test_targets_keep_to_their_own_machines() -> None:
    assert Target("laptop").machine_problem("vm") is None
    assert "vm-local-cluster" in (Target("local-cluster", "dask").machine_problem("vm") or "")
    assert Target("local-cluster", "dask").machine_problem("vm-local-cluster") is None
    assert Target("cluster", "spark", "spark://h:7077").machine_problem("vm-local-cluster")
    assert Target("cluster", "spark", "spark://h:7077").machine_problem("vm-compose-cluster") is None
    assert Target("laptop").machine_problem("vm-compose-cluster")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in its own session; on a timeout kill the whole session (asv's forkserver and
    the runner's workers included), so that a hung run leaves nothing behind."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(cmd)} took over {timeout} s: {out[-2000:]}{err[-2000:]}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _asv_conf(tmp_path: Path) -> Path:
    conf = json.loads((REPO / "asv.conf.json").read_text())
    conf |= {
        "repo": str(REPO),
        "benchmark_dir": str(REPO / "benchmarks"),
        "results_dir": str(tmp_path / "asv"),
        "html_dir": str(tmp_path / "html"),
        "env_dir": str(tmp_path / "env"),
    }
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    return tmp_path / "asv.conf.json"


@pytest.mark.slow
def test_asv_run_measures_cases_through_the_runner_and_publishes(tmp_path: Path, data_dir: Path) -> None:
    _asv_conf(tmp_path)
    env = os.environ | {
        "HOME": str(tmp_path),  # asv keeps its machine file in ~/.asv-machine.json
        "BREAKEVEN_ASV_GRID": "smoke",
        "BREAKEVEN_ASV_REPEATS": "1",
        "BREAKEVEN_RESULTS": str(tmp_path / "records"),
        "BREAKEVEN_DATA": str(data_dir),
    }
    env.pop("BREAKEVEN_ASV_CLUSTER", None)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()

    def asv(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = _run([*ASV, *args], tmp_path, env, 600)
        if ok:
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    asv("machine", "--yes", "--machine", "testbox")
    chosen = r"GroupBy\.track_(compute|peak_memory)\('(pandas:single:default|dask:cluster:tuned@Nx1)', 'groupby_q1'"
    here = ["-E", f"existing:{sys.executable}", "--set-commit-hash", commit, "--machine", "testbox"]
    asv("run", *here, "--bench", chosen)
    [result_file] = [p for p in (tmp_path / "asv" / "testbox").glob("*.json") if p.name != "machine.json"]
    saved = json.loads(result_file.read_text())
    values = {}
    for name, row in saved["results"].items():
        row = dict(zip(saved["result_columns"], row, strict=False))
        for combo, value in zip(itertools.product(*row["params"]), row["result"], strict=True):
            if value is not None and not math.isnan(value):
                values[(name, combo[0])] = value
    assert set(values) == {
        ("groupby.GroupBy.track_compute", "'pandas:single:default'"),
        ("groupby.GroupBy.track_peak_memory", "'pandas:single:default'"),
    }  # the cluster mode is skipped on the laptop target, and every other combination was not selected
    [run] = list((tmp_path / "records" / "runs").iterdir())
    [record] = RunStore(run).records()
    assert record.status == "ok" and record.case.rows == 10**4
    assert values[("groupby.GroupBy.track_compute", "'pandas:single:default'")] == record.times.compute_median
    assert values[("groupby.GroupBy.track_peak_memory", "'pandas:single:default'")] == record.peak_memory_bytes

    # results of another target must not go to this machine: refused before anything runs or is saved
    cluster_env = {"BREAKEVEN_ASV_CLUSTER": "dask"}
    refused = _run([*ASV, "run", *here, "--bench", "GroupBy.track_compute"], tmp_path, env | cluster_env, 300)
    assert refused.returncode != 0
    assert "testbox-local-cluster" in refused.stdout + refused.stderr
    assert json.loads(result_file.read_text()) == saved

    # asv check saves nothing for a machine: it passes whatever machines the results hold
    cluster_machine = tmp_path / "asv" / "vm-local-cluster" / "machine.json"
    cluster_machine.parent.mkdir()
    cluster_machine.write_text((tmp_path / "asv" / "testbox" / "machine.json").read_text())
    asv("check", "-E", f"existing:{sys.executable}")

    asv("publish")
    index = tmp_path / "html" / "index.json"
    assert "groupby.GroupBy.track_compute" in json.loads(index.read_text())["benchmarks"]
    _check_preview(tmp_path, env)


def _check_preview(conf_dir: Path, env: dict[str, str]) -> None:
    """``asv preview`` serves the site, on 127.0.0.1 only (breakeven.asv_plugin)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([*ASV, "preview", "--port", str(port)], cwd=conf_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.json", timeout=5) as page:
                    assert "groupby.GroupBy.track_compute" in json.loads(page.read())["benchmarks"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "asv preview did not serve"
                time.sleep(0.5)
        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections() if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
