"""The asv benchmarks: their grid and targets, ``asv check``, and a small ``asv run`` + ``asv publish``
in this environment that runs real cases through the runner."""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import re
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
from benchmarks.common import FamilyCases, Target, resolve_topology
from breakeven.cases import get_suite
from breakeven.results import RunStore

REPO = Path(__file__).resolve().parents[1]
ASV = [sys.executable, "-m", "asv"]


UDF = "transform_udf chunk=1e5 sink=parquet 1e6"  # a case of the quick grid
LAPTOP, LOCAL_DASK = Target("laptop"), Target("local-cluster", "dask")
EXTERNAL_DASK = Target("cluster", "dask", "tcp://127.0.0.1:8786")
PANDAS_GROUPBY = "groupby.GroupBy_pandas_single_default"  # an asv benchmark class


def test_asv_check_passes() -> None:
    done = subprocess.run(
        [*ASV, "check", "-E", f"existing:{sys.executable}"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


@pytest.mark.parametrize("suite", ["quick", "standard", "cluster"])
@pytest.mark.parametrize("target", [LAPTOP, LOCAL_DASK, EXTERNAL_DASK], ids=["laptop", "local-cluster", "cluster"])
def test_every_combination_is_a_case_and_every_case_a_combination(suite: str, target: Target) -> None:
    """A class per family and configuration, its one parameter the cases: nothing that cannot exist."""
    configs = common.configs_here(target)
    grids = [FamilyCases(family, config, suite) for family in ("groupby", "join", "transform") for config in configs]
    assert sorted(c.id for g in grids for c in g.cases.values()) == sorted(
        c.id for c in get_suite(suite).cases(configs)
    )
    for grid in grids:
        assert all(case.engine == grid.config.engine and case.mode == grid.config.mode for case in grid.cases.values())


def test_a_target_measures_its_own_configurations() -> None:
    laptop = {c.label for c in common.configs_here(LAPTOP)}
    assert "pandas:single:default" in laptop and not any(":cluster" in c for c in laptop)
    local = {c.label for c in common.configs_here(LOCAL_DASK)}
    assert {"dask:cluster:tuned@Nx1", "dask:cluster:tuned@1xN"} <= local
    assert not any(c.startswith(("spark", "ray")) or c.endswith("@external") for c in local)
    assert ("dask:cluster:tuned@2xN/2" in local) == (common.CORES >= 4)  # 2x1 is Nx1 on 2 cores
    assert {c.label for c in common.configs_here(EXTERNAL_DASK)} == {
        "dask:cluster:default@external",
        "dask:cluster:tuned@external",
    }


def test_a_case_is_named_by_its_question_and_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    [pandas] = [c for c in common.configs_here(LAPTOP) if c.label == "pandas:single:default"]
    assert FamilyCases("transform", pandas, "quick").case(UDF).chunk_rows == 10**5
    [polars] = [c for c in common.configs_here(LAPTOP) if c.label == "polars:eager:default"]
    with pytest.raises(NotImplementedError, match="no case"):
        FamilyCases("transform", polars, "quick").case(UDF)  # Polars picks its own chunks: no chunk size in its names
    [dask] = [c for c in common.configs_here(LOCAL_DASK) if c.label == "dask:cluster:tuned@Nx1"]
    monkeypatch.setattr(common, "TARGET", LOCAL_DASK)
    assert FamilyCases("transform", dask, "quick").case(UDF).topology == f"{common.CORES}x1"
    assert common.class_name("Merge", dask) == "Merge_dask_cluster_tuned_at_Nx1"


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
    chosen = r"GroupBy_(pandas_single_default|dask_cluster_tuned_at_Nx1)\.track_(compute|peak_memory)"
    here = ["-E", f"existing:{sys.executable}", "--set-commit-hash", commit, "--machine", "testbox"]
    done = asv("run", *here, "--bench", chosen)
    # one line per case of the smoke grid's group-bys on pandas (10 questions, from memory and
    # files), for each of the two benchmarks; none for a combination that cannot exist
    lines = [line for line in done.stdout.splitlines() if "groupby_q" in line]
    assert len(lines) == 2 * 20 and not [line for line in lines if "n/a" in line], done.stdout[-3000:]
    [result_file] = [p for p in (tmp_path / "asv" / "testbox").glob("*.json") if p.name != "machine.json"]
    saved = json.loads(result_file.read_text())
    values = {}
    for name, row in saved["results"].items():
        row = dict(zip(saved["result_columns"], row, strict=False))
        for combo, value in zip(itertools.product(*row["params"]), row["result"], strict=True):
            if value is not None and not math.isnan(value):
                values[(name, combo[0])] = value
    [run] = list((tmp_path / "records" / "runs").iterdir())
    records = {f"'{r.case.question_label} 1e4'": r for r in RunStore(run).records()}
    assert len(records) == 20 and all(r.ok and r.case.rows == 10**4 for r in records.values())
    compute, memory = (
        "groupby.GroupBy_pandas_single_default.track_compute",
        "groupby.GroupBy_pandas_single_default.track_peak_memory",
    )
    # the cluster mode has no class on the laptop target
    assert set(values) == {(name, case) for name in (compute, memory) for case in records}
    for case, record in records.items():
        assert values[(compute, case)] == record.times.compute_median
        assert values[(memory, case)] == record.peak_memory_bytes

    # results of another target must not go to this machine: refused before anything runs or is saved
    cluster_env = {"BREAKEVEN_ASV_CLUSTER": "dask"}
    refused = _run([*ASV, "run", *here, "--bench", "GroupBy_dask"], tmp_path, env | cluster_env, 300)
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
    assert compute in json.loads(index.read_text())["benchmarks"]
    # the pages load no script or style from elsewhere: breakeven's asv plugin made asv publish's site offline
    page = (tmp_path / "html" / "index.html").read_text()
    loads = [t for t in re.findall(r"<(?:script|link)\b[^>]*>", page) if re.search(r'(src|href)="https?://', t)]
    assert loads == [] and 'src="vendor/jquery.min.js"' in page, loads
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
                    assert (
                        "groupby.GroupBy_pandas_single_default.track_compute" in json.loads(page.read())["benchmarks"]
                    )
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "asv preview did not serve"
                time.sleep(0.5)
        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections() if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
