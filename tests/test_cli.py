"""The command line: bad input is one clear line and exit code 2; a run can be interrupted and
resumed without losing finished cases or leaving processes behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from breakeven import cli
from breakeven.cases import select_configs
from breakeven.cluster.plan import ClusterPlan, Topology
from breakeven.commands import common
from breakeven.engines import installed_engines
from breakeven.tables import SHOW_WIDTH, show_tables


def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["breakeven", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--engine", "spork"], "unknown engine 'spork'"),
        (["run", "--engine", "dask:warp"], "engine dask has no mode 'warp'"),
        (["run", "--engine", "dask:threads:turbo"], "no profile 'turbo'"),
        (["run", "--workload", "groupby_q99"], "unknown workload 'groupby_q99'"),
        (["run", "--suite", "huge"], "unknown suite 'huge'"),
        (["run", "--rows", "0"], "rows must be a positive whole number"),
        (["run", "--rows", "-1e6"], "rows must be a positive whole number"),
        (["run", "--rows", "many"], "bad row count"),
        (["run", "--memory-budget", "lots"], "bad size 'lots'"),
        (["run", "--engine", "dask:cluster"], "dask:cluster needs a cluster: pass --cluster dask"),
        (["run", "--cluster", "flink"], "unknown cluster engine 'flink'"),
        (["run", "--cluster", "dask", "--cores", "2", "--topology", "3x1"], "topology 3x1 has 3 cores, the run has 2"),
        (["run", "--cluster", "dask", "--topology", "2by1"], "bad topology '2by1'"),
        (["run", "--topology", "2x1"], "--topology needs --cluster ENGINE"),
        (["run", "--cluster-address", "10.0.0.1:6379"], "which engine is at 10.0.0.1:6379?"),
        (["cluster", "up", "flink"], "unknown cluster engine 'flink'"),
        (["run", "--repeats", "0"], "repeats must be at least 1"),
        (["run", "--sink", "s3"], "unknown --sink s3: use collect or parquet"),
        (["run", "--from", "disk"], "unknown --from disk: use memory or files"),
        (["run", "--network-rate", "1gbit"], "--network-rate needs --cluster ENGINE"),
        (["run", "--cluster", "dask", "--network-rate", "fast"], "bad network rate 'fast'"),
        (["run", "--cluster", "dask", "--network-rate", "1bit"], 'refused: tbf: the "rate" parameter is mandatory'),
        (["run", "--cluster-address", "tcp://127.0.0.1:1", "--network-rate", "1gbit"], "network is its own"),
        (["cluster", "up", "dask", "--network-rate", "1bit"], 'refused: tbf: the "rate" parameter is mandatory'),
        (["datagen", "--kind", "X9"], "unknown data kind 'X9'"),
        (["datagen", "--nas", "150"], "nas is a percentage"),
        (["show", "nosuchrun", "--results", "/nonexistent-breakeven"], "no run 'nosuchrun'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, monkeypatch, capsys, tmp_path) -> None:
    code, out, err = invoke(monkeypatch, capsys, *args, *(["--results", str(tmp_path)] if args[0] == "run" else []))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()  # nothing written


def test_unknown_option_exits_2(monkeypatch, capsys) -> None:
    code, _, err = invoke(monkeypatch, capsys, "run", "--frobnicate")
    assert code == 2 and "frobnicate" in err


def test_engine_without_its_extra_names_the_fix(monkeypatch, capsys, tmp_path) -> None:
    from breakeven.engines.polars_engine import PolarsEngine

    monkeypatch.setattr(PolarsEngine, "packages", ("polars_is_not_installed",))
    code, _, err = invoke(monkeypatch, capsys, "run", "--engine", "polars", "--results", str(tmp_path))
    assert code == 2 and "pip install 'breakeven[polars]'" in err


def test_unwritable_results_folder(monkeypatch, capsys, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = invoke(monkeypatch, capsys, "run", "--engine", "pandas", "--results", str(blocker / "results"))
    assert code == 2 and "cannot write results" in err and "--results" in err


def test_unwritable_scratch_folder(monkeypatch, capsys, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ("run", "--engine", "pandas", "--scratch", str(blocker / "tmp"), "--results", str(tmp_path))
    code, _, err = invoke(monkeypatch, capsys, *args)
    assert code == 2 and "cannot write temporary files and written answers" in err and "--scratch" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()  # nothing written


def _cli(tmp_path: Path, *args: str) -> list[str]:
    """`breakeven run` on the smoke suite, one repeat, into this test's folders."""
    results, data = str(tmp_path / "results"), str(tmp_path / "data")
    return [sys.executable, "-m", "breakeven.cli", "run", "--results", results, "--data", data,
            "--suite", "smoke", "--repeats", "1", *args]  # fmt: skip


def _run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = _cli(tmp_path, *args)
    env = os.environ | {"COLUMNS": str(SHOW_WIDTH)}  # a terminal as wide as the tables (pytest passes on 80)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
@pytest.mark.pandas
def test_run_show_resume_and_corrupt_file(tmp_path, monkeypatch, capsys) -> None:
    selection = ("--engine", "pandas", "--engine", "duckdb", "--workload", "groupby_q1",
                 "--workload", "join_small_inner_agg", "--run-id", "r1")  # fmt: skip
    done = _run_cli(tmp_path, *selection)
    assert done.returncode == 0, done.stderr
    assert "groupby_q1" in done.stdout and "1e4 rows" in done.stdout and "*" in done.stdout, done.stdout
    cases = sorted((tmp_path / "results/runs/r1/cases").glob("*.json"))
    # q1 on pandas and DuckDB in both profiles, each in memory and from files (smoke's); the merge
    # on DuckDB's two profiles from both, on pandas' two in memory and its default from files
    # (its tuned profile types a merge's tables at load: from files it would be the default's twin)
    assert len(cases) == 15
    assert "groupby_q1 from=files" in done.stdout
    first = json.loads((tmp_path / "results/runs/r1/run.json").read_text())
    again = _run_cli(tmp_path, *selection, "--resume")
    assert again.returncode == 0 and "15 cases already finished, 0 to go" in again.stdout
    # a committed run comes without its engine logs (.gitignore): a record taken out is run again
    shutil.rmtree(tmp_path / "results/runs/r1/logs")
    cases[0].unlink()
    redo = _run_cli(tmp_path, *selection, "--resume")
    assert redo.returncode == 0 and "14 cases already finished, 1 to go" in redo.stdout, redo.stderr
    assert cases[0].exists()
    # the run says how it was made: each command that wrote into it, and the time of every sitting
    meta = json.loads((tmp_path / "results/runs/r1/run.json").read_text())
    typed = [c.split(" --results ")[0] for c in meta["commands"]]
    assert typed == ["breakeven run"] * 3 and meta["commands"][1].endswith("--run-id r1 --resume")
    assert "--workload join_small_inner_agg" in meta["commands"][0]
    assert meta["wall_seconds"] > first["wall_seconds"] and meta["runner_cpu_seconds"] > first["runner_cpu_seconds"]
    clash = _run_cli(tmp_path, "--engine", "pandas", "--run-id", "r1")
    assert clash.returncode == 2 and "exists already" in clash.stderr

    cases[0].write_text("{not json")
    code, _, err = invoke(monkeypatch, capsys, "show", "r1", "--results", str(tmp_path / "results"))
    assert code == 2 and "corrupt" in err and cases[0].name in err
    assert cases[0].read_text() == "{not json"  # nothing was rewritten


@pytest.mark.slow
@pytest.mark.pandas
def test_a_suite_brings_its_memory_budget_and_engines(tmp_path) -> None:
    from breakeven.cases import SUITES

    labels = [c.label for c in select_configs(None, None, SUITES["budget"].engines)]
    installed = installed_engines()
    assert ("dask:processes:tuned" in labels) == ("dask" in installed)
    assert not any(label.endswith(":default") and label.split(":")[0] in ("dask", "spark", "ray") for label in labels)
    plan = ClusterPlan("dask", (Topology(2, 1, 2**31),))
    both = [c.label for c in select_configs(["pandas"], plan)]
    pandas = ["pandas:single:default", "pandas:single:tuned"]
    assert both == [*pandas, "dask:cluster:default@2x1", "dask:cluster:tuned@2x1"]
    assert [c.label for c in select_configs(["dask:cluster:tuned"], plan)] == ["dask:cluster:tuned@2x1"]
    done = _run_cli(tmp_path, "--suite", "budget", "-e", "pandas:single:default", "--rows", "1e4", "-w", "groupby_q1",
                    "--from", "memory", "--run-id", "b")  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "results/runs/b/run.json").read_text())
    assert meta["suite"] == "budget" and meta["settings"]["memory_budget"] == 2 * 2**30
    assert meta["planned"] == ["groupby_q1.pandas-single-default.G1_1e4_1e2_0_0"]
    override = _run_cli(tmp_path, "--suite", "budget", "-e", "pandas", "-n", "1e4", "-w", "groupby_q1",
                        "--memory-budget", "3GiB", "--run-id", "c")  # fmt: skip
    assert override.returncode == 0, override.stderr
    assert json.loads((tmp_path / "results/runs/c/run.json").read_text())["settings"]["memory_budget"] == 3 * 2**30


@pytest.mark.slow
@pytest.mark.dask
@pytest.mark.parametrize(
    ("engine", "sig", "least", "twice"),
    [
        # each engine's tree once, each way a run is stopped once (the runner's handling is the same);
        # the tuned profiles, whose first case is recorded sooner (the trees are the default's)
        pytest.param("dask:processes:default", signal.SIGTERM, 3, False, marks=pytest.mark.dask, id="dask-SIGTERM"),
        pytest.param("spark:local:tuned", signal.SIGINT, 2, True, marks=pytest.mark.spark, id="spark-Ctrl-C-twice"),
        pytest.param("ray:local:tuned", signal.SIGINT, 5, False, marks=pytest.mark.ray, id="ray-SIGINT"),
    ],
)
def test_interrupt_keeps_finished_cases_and_kills_workers(tmp_path, engine, sig, least, twice) -> None:
    """Ctrl-C (or a kill) after the first case: it is kept, and no process of the engine's
    (Dask's cluster, the JVM, Ray's GCS, raylet and workers) survives, nor a scratch folder.
    ``twice``: Ctrl-C pressed twice, to the whole process group as a terminal sends it; the
    second lands while the runner cleans up, and must not cut the cleanup short."""
    scratch_before = set(Path(tempfile.gettempdir()).glob("breakeven-*"))
    cmd = _cli(tmp_path, "--engine", engine, "--workload", "groupby", "--run-id", "r")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    cases_dir = tmp_path / "results/runs/r/cases"
    seen: set[psutil.Process] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (cases_dir.exists() and any(cases_dir.glob("*.json"))):
        seen |= set(psutil.Process(proc.pid).children(recursive=True))
        time.sleep(0.1)
    seen |= set(psutil.Process(proc.pid).children(recursive=True))
    assert len(seen) >= least, "the engine's processes should have been running"
    if twice:
        os.killpg(proc.pid, sig)
        time.sleep(0.5)
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume" in err
    finished = list(cases_dir.glob("*.json"))
    assert finished and all(json.loads(p.read_text())["status"] == "ok" for p in finished)
    left = [p.pid for p in seen if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"left behind: {left}"
    assert set(Path(tempfile.gettempdir()).glob("breakeven-*")) <= scratch_before, "scratch folders left behind"


EXAMPLE = Path(__file__).parents[1] / "results" / "published"


@pytest.mark.parametrize("run_id", ["budget-2gib", "scaleout-dask-2x1", "scaleout-spark-2x1"])
def test_show_fits_100_columns_and_names_the_baseline(run_id: str, monkeypatch) -> None:
    from rich.console import Console
    from rich.table import Table

    from breakeven.results import RunStore

    store = RunStore.open(EXAMPLE, run_id)
    wide = Console(width=400)
    for item in show_tables(store):
        if isinstance(item, Table):  # laid out at its natural width, not squeezed into the terminal
            assert wide.measure(item).maximum <= SHOW_WIDTH
    narrow = Console(width=SHOW_WIDTH, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    monkeypatch.setattr(common, "console", narrow)
    common.show_run(store)
    text = narrow.export_text()
    assert max(len(line) for line in text.splitlines()) <= SHOW_WIDTH
    if run_id == "budget-2gib":  # a row of each table, whole (nothing wrapped), whatever its figures
        # no memory cliff at 3e7: pandas ran out of memory there, DuckDB finished
        verdict = re.compile(r"│   dask:threads:tuned +│ hurts [\d.]+x │ (duckdb|polars)[:\w]* +│")
        times = re.compile(
            r"│   dask:threads:tuned +│ +[\d.]+m?s ~? │ +[\d.]+m?s │ +\d+ MiB │ +hurts [\d.]+x │ +hurts [\d.]+x │"
        )
        assert any(verdict.fullmatch(line) for line in text.splitlines()), text
        assert any(times.fullmatch(line) for line in text.splitlines()), text
        assert "cliff" not in "".join(line for line in text.splitlines() if "dask:threads:tuned" in line)
        # Polars' streaming records of schema 5 scanned the files in the query: a question of their own
        assert "│ groupby_q1 from=files              │ 1e7 rows │" in text


def test_a_named_family_runs_every_question_of_it_and_says_which_the_suite_lacks() -> None:
    from breakeven.cases import SUITES, parse_engines
    from breakeven.workloads import select_workloads

    cases, added = SUITES["quick"].select(["groupby"], parse_engines(["pandas"]), (10**7,))
    every = [w.name for w in select_workloads(["groupby"])]
    assert sorted({c.workload for c in cases}) == sorted(every) and len(every) == 10
    assert {c.rows for c in cases} == {10**7}
    assert added == [w for w in every if w not in ("groupby_q1", "groupby_q3")]
    cases, added = SUITES["quick"].select(["join_dim_left_agg"], parse_engines(["pandas:single:default"]))
    assert [c.id for c in cases] == ["join_dim_left_agg.pandas-single-default.D1_1e6_1e4"]
    assert added == ["join_dim_left_agg"]


@pytest.fixture
def compose_state(monkeypatch, tmp_path) -> Path:
    """The compose module's state folder, empty, in the test's own folder."""
    from breakeven.cluster import compose

    monkeypatch.setattr(compose, "STATE", tmp_path / "podman")
    return tmp_path / "podman"


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("podman", "the compose cluster needs podman: apt-get install podman runc catatonit mmdebstrap"),
        ("mmdebstrap", "the compose cluster needs mmdebstrap: apt-get install podman runc catatonit mmdebstrap"),
        ("podman-compose", "the compose cluster needs podman-compose: pip install podman-compose"),
    ],
)
def test_compose_without_its_tools_is_one_line_and_leaves_nothing(
    missing, message, monkeypatch, capsys, compose_state
) -> None:
    import shutil

    from breakeven.cluster import compose

    which = shutil.which
    monkeypatch.setattr(
        compose.shutil,
        "which",
        lambda tool, path=None: None if tool == missing else which(tool, path=path) or f"/usr/bin/{tool}",
    )
    before = _namespaces()
    code, _, err = invoke(monkeypatch, capsys, "cluster", "compose", "up", "dask")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not compose_state.exists() and _namespaces() == before


def test_compose_with_folders_the_containers_cannot_write_is_one_line(
    monkeypatch, capsys, compose_state, tmp_path
) -> None:
    from breakeven.cluster import compose

    monkeypatch.setattr(compose, "check_tools", lambda: None)
    (tmp_path / "data").mkdir(mode=0o755)
    code, _, err = invoke(monkeypatch, capsys, "cluster", "compose", "up", "spark", "--data", str(tmp_path / "data"))
    assert code == 2 and "is not writable by the containers' user (uid 1000): chown 1000" in err, err
    assert not (compose_state / "compose.json").exists()


def test_compose_run_and_a_bad_engine_without_a_cluster_up_are_one_line(monkeypatch, capsys, compose_state) -> None:
    code, _, err = invoke(monkeypatch, capsys, "cluster", "compose", "run", "breakeven", "run")
    assert code == 2 and "no compose cluster is up: breakeven cluster compose up ENGINE" in err, err
    code, _, err = invoke(monkeypatch, capsys, "cluster", "compose", "up", "flink")
    assert code == 2 and "unknown cluster engine 'flink'" in err, err


@pytest.mark.parametrize("args", [[], ["run"], ["advise"], ["report"], ["cluster", "up"], ["cluster", "compose", "up"]])
def test_help_is_plain_words(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--help`` lists every command on one line each and names what an option takes
    (``--results DIR``), never a Python type (typer's ``<list[str]>``) nor reStructuredText."""
    from breakeven import cli

    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as stop:
        cli.command().main(args=[*args, "--help"], prog_name="breakeven")
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert not re.search(r"<[a-z][\w\[\], |]*>", shown), re.findall(r"<[a-z][\w\[\], |]*>", shown)
    assert "``" not in shown
    if not args:
        commands = shown[shown.index("Commands") :]
        listed = re.findall(r"│ (\w+) +\S", commands)
        assert listed == ["run", "advise", "datagen", "list", "show", "report", "cluster"]
        assert all(len(re.findall(rf"│ {c} ", commands)) == 1 for c in listed)
        assert len(commands.strip().splitlines()) == len(listed) + 2  # one line each, between the frame's two
    if args == ["run"]:
        assert re.search(r"--results +DIR", shown) and re.search(r"--engine +-e +ENGINE", shown)
