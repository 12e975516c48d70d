"""``breakeven advise`` on records made for the purpose: the known answer where they cover the
request, each figure marked with how it was obtained, and a refusal where a prediction would go
beyond what its error allows."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from breakeven import advice
from breakeven.cases import Case
from breakeven.errors import UsageError
from breakeven.results import RunMeta, RunSettings, RunStore, make_record
from breakeven.tables import SHOW_WIDTH

GIB = 2**30
MACHINE = advice.Hardware(cores=2, memory_bytes=16 * GIB)


def _sample(engine: str, mode: str, rows: int, seconds: float | None, memory: float = 1.0, status: str = "ok",
            topology: str | None = None, budget: int = 16 * GIB, run: str = "r") -> advice.Sample:  # fmt: skip
    case = Case("groupby_q1", engine, mode, "default", rows, topology=topology)
    found = {}
    if seconds is not None:
        found = {"startup": 1.0, "load": 0.5, "cold": seconds, "repeats": [seconds * 0.95, seconds, seconds * 1.05]}
    record = make_record(case, run, status, None if status == "ok" else status, peak_memory_bytes=int(memory * GIB),
                         **found)  # fmt: skip
    meta = RunMeta(run_id=run, machine={"memory_bytes": 24 * GIB}, settings=RunSettings(cores=2, memory_budget=budget))
    return advice.Sample(replace(record, run_cores=2), meta)


def _power(engine: str, mode: str, sizes: list[int], a: float, b: float, gib: float = 1.0, **kw: object) -> list:
    """Times that follow a * rows ** b exactly; ``gib`` of peak memory per 1e7 rows."""
    return [_sample(engine, mode, n, a * n**b, memory=gib * n / 1e7, **kw) for n in sizes]


def _one(found: list[advice.Advice], config: str) -> advice.Advice:
    (match,) = [a for a in found if a.config == config]
    return match


SIZES = [10**6, 10**7, 10**8]


def test_measured_interpolated_and_extrapolated_on_a_power_law() -> None:
    samples = _power("pandas", "single", SIZES, 1e-7, 1.0, 0.1) + _power("dask", "threads", SIZES, 2e-6, 0.8, 0.1)
    measured = _one(advice.advise(samples, "groupby_q1", 10**7, MACHINE), "pandas:single:default")
    assert (measured.time.how, measured.time.value) == ("measured", pytest.approx(1.0))
    between = _one(advice.advise(samples, "groupby_q1", 3 * 10**7, MACHINE), "pandas:single:default")
    assert between.time.how == "interpolated" and between.time.value == pytest.approx(3.0)
    assert between.time.low < 3.0 < between.time.high  # the repeats' spread
    found = advice.advise(samples, "groupby_q1", 5 * 10**8, MACHINE)
    beyond = _one(found, "dask:threads:default")
    assert beyond.time.how == "extrapolated" and beyond.time.value == pytest.approx(2e-6 * (5e8) ** 0.8)
    # At 5e8 Dask's 2e-6 n^0.8 (18.2 s) beats pandas' 1e-7 n (50 s): fastest first, and said so.
    assert [a.config for a in found] == ["dask:threads:default", "pandas:single:default"]
    lines = advice.summary(found)
    assert lines[0].startswith("fastest: dask:threads:default, 18.2 s") and "(extrapolated)" in lines[0]
    assert lines[1] == "distribution helps 2.7x here: dask:threads:default against pandas:single:default"
    assert "pandas:single:default rests on: r (1e6, 1e7, 1e8)" in lines


def test_a_prediction_beyond_what_its_error_allows_is_refused() -> None:
    far = _one(advice.advise(_power("pandas", "single", SIZES, 1e-7, 1.0), "groupby_q1", 10**10, MACHINE),
               "pandas:single:default")  # fmt: skip
    assert not far.time.known and far.time.how == "not covered"
    assert far.why == "measured at 1e6, 1e7, 1e8: 1e10 is more than 10x beyond"
    assert far.command == "breakeven run -w groupby_q1 -e pandas:single:default --rows 1e10"
    two = _one(advice.advise(_power("pandas", "single", SIZES[:2], 1e-7, 1.0), "groupby_q1", 3 * 10**7, MACHINE),
               "pandas:single:default")  # fmt: skip
    assert two.why == "measured at 1e6, 1e7 only: too few sizes to extrapolate with a known error"
    noisy = [_sample("pandas", "single", n, s) for n, s in [(10**6, 1.0), (10**7, 0.5), (10**8, 40.0)]]
    erratic = _one(advice.advise(noisy, "groupby_q1", 3 * 10**8, MACHINE), "pandas:single:default")
    assert erratic.why == "a measured size predicted from the two below it was missed by 99% (the limit is 25%)"


def test_an_extrapolation_follows_the_local_slope_with_the_band_of_its_own_misses() -> None:
    """Times 1, 3.5 and 14 s at 1e6, 1e7 and 1e8: the slope steepens (0.54, then 0.60), as fixed
    costs fade. 1e8 predicted from the two below it is 12.25 s, a miss of 12.5% in one decade."""
    times = (1.0, 3.5, 14.0)
    samples = [_sample("pandas", "single", n, t, memory=0.1) for n, t in zip(SIZES, times, strict=True)]
    (up,) = advice.advise(samples, "groupby_q1", 3 * 10**8, MACHINE)
    slope = math.log10(14 / 3.5)
    assert up.time.value == pytest.approx(14 * 3**slope)
    widen = 0.125 / math.log(10) * math.log(3)
    steeper = 14 * 3 ** (slope + slope - math.log10(3.5))  # the slope steepening again as it did: 0.66
    assert (up.time.low, up.time.high) == pytest.approx((up.time.value * (1 - widen), steeper))
    assert steeper > up.time.value * (1 + widen)
    (down,) = advice.advise(samples, "groupby_q1", 3 * 10**5, MACHINE)  # down: 1e6 from 1e8 and 1e7, 0.875 s
    assert down.time.value == pytest.approx(0.3 ** math.log10(3.5))
    steep = [_sample("pandas", "single", n, t, memory=0.1) for n, t in zip(SIZES, (1.0, 2.0, 20.0), strict=True)]
    (refused,) = advice.advise(steep, "groupby_q1", 3 * 10**5, MACHINE)  # 1e6 from the two above: 0.2 s, 80% off
    assert refused.why == "a measured size predicted from the two above it was missed by 80% (the limit is 25%)"


def test_no_extrapolation_up_while_fixed_costs_dominate() -> None:
    """Ray's 5 s of start-up per query: 5.0, 5.2 and 5.5 s at 1e6 to 1e8 are predictable among
    themselves, and say nothing of where the work takes over."""
    flat = [_sample("ray", "local", n, t, memory=0.1) for n, t in zip(SIZES, (5.0, 5.2, 5.5), strict=True)]
    (up,) = advice.advise(flat, "groupby_q1", 3 * 10**8, MACHINE)
    assert up.time.value is None
    assert up.why is not None and up.why.startswith("its time grew as rows^0.02 from 1e7 to 1e8: fixed costs dominate")
    (down,) = advice.advise(flat, "groupby_q1", 3 * 10**5, MACHINE)  # down, the fixed costs stay: predicted
    assert down.time.value == pytest.approx(5.0 * 0.3 ** math.log10(5.2 / 5.0))


def test_memory_headroom_and_the_cliff() -> None:
    samples = _power("pandas", "single", SIZES, 1e-7, 1.0)  # 0.1, 1 and 10 GiB at the three sizes
    samples.append(_sample("pandas", "single", 3 * 10**8, None, status="memory"))
    at_1e8 = _one(advice.advise(samples, "groupby_q1", 10**8, MACHINE), "pandas:single:default")
    assert at_1e8.memory.value == pytest.approx(10 * GIB) and at_1e8.headroom == pytest.approx(6 * GIB)
    assert at_1e8.cliff == 3 * 10**8
    over = _one(advice.advise(samples, "groupby_q1", 5 * 10**8, MACHINE), "pandas:single:default")
    assert not over.time.known and over.why == "ran out of memory at 3e8 rows"
    # A 2 GiB budget's failures say nothing of a 16 GiB machine: that run is left out.
    small = [_sample("polars", "eager", n, 0.1, budget=2 * GIB, status="memory") for n in SIZES]
    assert not [a for a in advice.advise(small, "groupby_q1", 10**7, MACHINE) if a.config.startswith("polars")]


def test_cheapest_and_fastest_differ_when_a_cluster_holds_more() -> None:
    big = advice.Hardware(cores=1, memory_bytes=4 * GIB, workers=8)
    samples = _power("dask", "cluster", SIZES, 2e-7, 1.0, topology="8x1")
    samples += _power("dask", "cluster", SIZES, 3e-7, 1.0, topology="2x1")
    found = advice.advise(samples, "groupby_q1", 10**7, big)
    assert [a.config for a in found] == ["dask:cluster:default@8x1"]  # only the requested topology
    prices = advice.Prices(core_hour=0.05, gib_hour=0.005)
    (eight,) = found
    assert eight.cost(prices) == pytest.approx((8 * 0.05 + 32 * 0.005) * (1.5 + 2.0) / 3600)
    small = advice.advise(samples, "groupby_q1", 10**7, advice.Hardware(cores=1, memory_bytes=4 * GIB, workers=2))
    assert small[0].cost(prices) < eight.cost(prices) and small[0].time.value > eight.time.value
    lines = advice.summary(found + small, prices)
    (cheapest,) = [line for line in lines if line.startswith("cheapest:")]
    assert cheapest.startswith("cheapest: dask:cluster:default@2x1")
    assert "the fastest, dask:cluster:default@8x1" in cheapest


def _scaling() -> list[advice.Sample]:
    """Dask on 1, 2 and 4 workers at 1e6 and 1e7 rows: T = 0.5 + 1e-7 n / w + 0.1 w, exactly."""
    return [
        _sample("dask", "cluster", n, 0.5 + 1e-7 * n / w + 0.1 * w, topology=f"{w}x1")
        for w in (1, 2, 4)
        for n in SIZES[:2]
    ]


def test_an_unmeasured_worker_count_comes_from_the_scale_out_model() -> None:
    samples = _scaling()
    (model,) = advice.advise(samples, "groupby_q1", 10**7, advice.Hardware(1, 4 * GIB, workers=3))
    assert model.config == "dask:cluster:default@3x1" and model.time.how == "model"
    assert model.time.value == pytest.approx(0.5 + 1e-7 * 1e7 / 3 + 0.3, rel=1e-3)
    assert model.records == ["scale-out model of dask:cluster:default (workers of 1 core) on 6 points"]


def test_the_scale_out_model_takes_the_newest_record_of_a_point_measured_twice() -> None:
    samples = _scaling()
    old = replace(samples[2], record=replace(samples[2].record, finished_at="2020-01-01T00:00:00Z"))
    old = replace(old, record=replace(old.record, times=replace(old.record.times, compute_median=9.0)))
    (model,) = advice.advise([old, *samples], "groupby_q1", 10**7, advice.Hardware(1, 4 * GIB, workers=3))
    assert model.time.value == pytest.approx(0.5 + 1e-7 * 1e7 / 3 + 0.3, rel=1e-3)
    assert model.records == ["scale-out model of dask:cluster:default (workers of 1 core) on 6 points"]


def test_records_of_a_rate_limited_network_are_another_cluster() -> None:
    samples = _power("dask", "cluster", SIZES, 2e-7, 1.0, topology="2x1")
    slow = _power("dask", "cluster", SIZES, 9e-7, 1.0, topology="2x1", run="slow")
    slow = [replace(s, record=replace(s.record, cluster={"network_rate": "1gbit"})) for s in slow]
    machine = advice.Hardware(cores=1, memory_bytes=4 * GIB, workers=2)
    (found,) = advice.advise(samples + slow, "groupby_q1", 10**7, machine)
    assert found.time.value == pytest.approx(2.0) and found.records == ["r (1e6, 1e7, 1e8)"]


def test_bad_prices_are_one_line() -> None:
    assert advice.parse_prices("core-hour=0.05,gib-hour=0.005") == advice.Prices(0.05, 0.005)
    for bad in ("core-hour=0.05", "core-hour=x,gib-hour=1", "core-hour=-1,gib-hour=1", "cores=1,gib-hour=1"):
        with pytest.raises(UsageError, match="write core-hour=PRICE,gib-hour=PRICE"):
            advice.parse_prices(bad)


def _advise(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "breakeven.cli", "advise", *args]
    env = os.environ | {"COLUMNS": str(SHOW_WIDTH + 40)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_advise_from_the_command_line(tmp_path) -> None:
    store = RunStore.create(tmp_path / "results", "r", RunMeta(settings=RunSettings(cores=2, memory_budget=16 * GIB)))
    for s in _power("pandas", "single", SIZES, 1e-7, 1.0):
        store.write(s.record)
    done = _advise(tmp_path, "groupby_q1", "--rows", "3e7", "--cores", "2", "--memory", "16GiB")
    assert done.returncode == 0, done.stderr
    assert "groupby_q1 (sum v1 by id1) at 3e7 rows on one machine of 2 cores, 16 GiB" in done.stdout
    assert "interpolated" in done.stdout and "pandas:single:default rests on: r (1e6, 1e7, 1e8)" in done.stdout
    other = _advise(tmp_path, "groupby_q1", "--rows", "3e7", "--cores", "8")
    assert "no record of this question on such a machine; measure it with: breakeven run" in other.stdout
    for args, message in [
        ((), "give the data's size: --rows N or --bytes SIZE"),
        (("--rows", "1e7", "--cluster", "4"), "bad topology '4': write WORKERSxCORES"),
        (("--rows", "1e7", "--price", "1"), "--price '1': write core-hour=PRICE"),
    ]:
        bad = _advise(tmp_path, "groupby_q1", *args)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_configuration_faster_at_every_measured_size_is_named_though_not_covered() -> None:
    """DuckDB, 10x faster than pandas at each size, whose slope wobbles too much to extrapolate:
    'fastest' would be pandas of the covered ones only; the answer says so, and names DuckDB."""
    samples = _power("pandas", "single", SIZES, 1e-7, 1.0, gib=0.01)
    duck = [_sample("duckdb", "single", n, t, memory=0.1) for n, t in zip(SIZES, (0.01, 0.02, 0.9), strict=True)]
    found = advice.advise(samples + duck, "groupby_q1", 3 * 10**8, MACHINE)
    assert _one(found, "duckdb:single:default").time.value is None
    lines = advice.summary(found, advice.Prices(0.05, 0.005))
    assert lines[0].startswith("fastest of those covered: pandas:single:default, 30 s")
    assert lines[0].endswith("faster than it at every size both were measured, but not covered: duckdb:single:default")
    assert _one(found, "duckdb:single:default").cost(advice.Prices(0.05, 0.005)) is None  # no time: no cost
