"""The results site from records: the verdict matrix, a page per family with charts, failures
shown, machine and versions on every page, and the CLI command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from test_analysis import record
from typer.testing import CliRunner

from breakeven import report
from breakeven.cli import app
from breakeven.results import RunMeta, RunSettings, RunStore


def _run(results: Path) -> RunStore:
    meta = RunMeta(
        created="now",
        machine={"hostname": "box", "cpu": "Test CPU", "cores": 2, "memory_bytes": 2**34, "os": "Linux"},
        versions={"python": "3.11.7", "pandas": "3.1.1"},
    )
    store = RunStore.create(results, "r1", meta)
    records = [
        record("pandas", "single", 10**6, [1.0, 1.1, 0.9]),
        record("pandas", "single", 10**7, None, status="memory"),
        record("dask", "threads", 10**6, [2.0, 2.2, 1.8]),
        record("dask", "threads", 10**7, [4.0, 4.1, 3.9]),
        record("pandas", "single", 10**6, [0.5, 0.5, 0.5], workload="join_dim_inner_agg", dim_rows=10**4),
        record("dask", "threads", 10**6, None, status="timeout", workload="join_dim_inner_agg", dim_rows=10**4),
    ]
    records += [  # cluster runs at one and two workers: the scale-out model
        record("dask", "cluster", n, [0.5 + 2e-7 * n / w + 0.1 * w], topology=f"{w}x1", profile="tuned")
        for n in (10**6, 10**7)
        for w in (1, 2)
    ]
    for i, r in enumerate(records):
        reason = {"memory": "over the budget", "timeout": "took too long"}.get(r.status)
        store.write(replace(r, case_id=f"case{i}", reason=reason, finished_at=f"2026-11-23T10:00:{i:02d}+00:00"))
    return store


def test_the_site_has_the_verdicts_charts_failures_and_machine(tmp_path: Path) -> None:
    store = _run(tmp_path / "results")
    (tmp_path / "results" / "site" / "asv").mkdir(parents=True)
    (tmp_path / "results" / "site" / "asv" / "index.html").write_text("<html></html>")
    result = CliRunner().invoke(app, ["report", "--results", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    site = tmp_path / "results" / "site"
    index = (site / "index.html").read_text()
    # pandas ran out of memory at 1e7 while Dask finished: a breakeven between the sizes, and the cliff
    assert 'class="breaks_even"' in index and "cliff 1e7" in index
    assert 'href="asv/index.html"' in index
    groupby = (site / "groupby.html").read_text()
    charts = [part.split('src="')[1].split('"')[0] for part in groupby.split("<img")[1:]]
    assert charts and all((site / c).read_text().lstrip().startswith("<?xml") for c in charts)
    assert len(charts) == 2 and "Scale-out model" in groupby  # time and memory, and the model
    join = (site / "join.html").read_text()
    assert "timeout" in join and "took too long" in join  # the failure is shown, not dropped
    for page in ("index.html", "groupby.html", "join.html", "transform.html"):
        text = (site / page).read_text()
        assert "Test CPU" in text and "pandas 3.1.1" in text
    assert json.loads((store.root / "run.json").read_text())["run_id"] == "r1"


def test_report_skips_unreadable_runs_and_names_them(tmp_path: Path) -> None:
    _run(tmp_path / "results")
    broken = tmp_path / "results" / "runs" / "old"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text(json.dumps({"schema": 1}))
    result = CliRunner().invoke(app, ["report", "--results", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert "skipped run old" in result.output
    assert (tmp_path / "results" / "site" / "index.html").exists()


def test_workload_pages_carry_the_scale_out_model_marked_as_a_model(tmp_path: Path) -> None:
    results = tmp_path / "results"
    machine = {"hostname": "box", "memory_bytes": 2**34}
    one = RunStore.create(results, "w1", RunMeta(machine=machine, settings=RunSettings(cores=1)))
    two = RunStore.create(results, "w2", RunMeta(machine=machine, settings=RunSettings(cores=2)))
    cluster = [
        record("dask", "cluster", n, [0.5 + 2e-7 * n / w + 0.1 * w], topology=f"{w}x1", profile="tuned")
        for n in (10**6, 10**7)
        for w in (1, 2)
    ]
    singles = [record("pandas", "single", n, [0.1 * n / 1e6]) for n in (10**6, 10**7)]
    for i, r in enumerate(cluster + singles):
        (one if r.case.topology == "1x1" else two).write(replace(r, case_id=f"c{i}"))
    result = CliRunner().invoke(app, ["report", "--results", str(results)])
    assert result.exit_code == 0, result.output
    page = (results / "site" / "groupby.html").read_text()
    assert "Scale-out model" in page and "model, not measurements" in page
    assert "dask:cluster:tuned (workers of 1 core)" in page and "median 0%, max 0%" in page
    chart = page.split('src="')[-1].split('"')[0]
    assert chart.endswith("-scaleout.svg")
    svg = (results / "site" / chart).read_text()
    assert "model only" in svg and "best single machine" in svg
    # The one-core cluster fits the model, but no verdict compares it with two-core pandas.
    index = (results / "site" / "index.html").read_text()
    assert "<th>dask:cluster:tuned@2x1</th>" in index and "<th>dask:cluster:tuned@1x1</th>" not in index
    assert "Not compared" in index and "dask:cluster:tuned@1x1 (1 core)" in index


def test_engines_that_choose_their_own_chunks_are_drawn_with_every_chunk_size(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "results", "t", RunMeta(machine={"hostname": "box"}))
    chunked = {"workload": "transform_udf", "chunk_rows": 10**5}
    records = [
        record("pandas", "single", 10**6, [1.0], **chunked),
        record("dask", "threads", 10**6, [0.5], **chunked),
        record("duckdb", "single", 10**6, [0.1], workload="transform_udf"),
    ]
    for i, r in enumerate(records):
        store.write(replace(r, case_id=f"c{i}"))
    report.build([store], tmp_path / "site")
    page = (tmp_path / "site" / "transform.html").read_text()
    assert page.count("<h3") == 1 and 'id="transform-udf-chunk-1e5"' in page  # no section of DuckDB alone
    chart = (tmp_path / "site" / page.split('src="')[1].split('"')[0]).read_text()
    assert "duckdb:single:default" in chart and "pandas:single:default" in chart


def test_the_same_records_build_the_same_site(tmp_path: Path) -> None:
    """A rebuild of unchanged records rewrites nothing: charts carry no build date and their SVG
    ids are salted with a constant (else every chart differs at every build)."""
    _run(tmp_path / "results")
    built = []
    for out in ("a", "b"):
        result = CliRunner().invoke(
            app, ["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / out)]
        )
        assert result.exit_code == 0, result.output
        built.append(
            {p.relative_to(tmp_path / out): p.read_bytes() for p in sorted((tmp_path / out).rglob("*")) if p.is_file()}
        )
    assert built[0].keys() == built[1].keys() and any(p.suffix == ".svg" for p in built[0])
    changed = [str(p) for p in built[0] if built[0][p] != built[1][p]]
    assert not changed, changed
