"""The library's entry point: a new run's folder, a resumed run's pending cases, and the time of
every sitting kept, even an interrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakeven import api, defaults
from breakeven.cases import Case
from breakeven.errors import UsageError
from breakeven.results import make_record
from breakeven.runner import Options

CASES = [Case(w, "pandas", "single", "default", 10**4) for w in ("groupby_q1", "groupby_q2")]


def test_the_defaults_are_stated_once() -> None:
    options = Options()
    assert (options.repeats, options.timeout, options.cores) == (defaults.REPEATS, defaults.TIMEOUT, defaults.CORES)
    assert options.data_dir == defaults.DATA_DIR and options.memory_budget == defaults.default_budget()


def test_a_new_run_then_a_resumed_one_runs_what_is_left(tmp_path: Path) -> None:
    store, pending = api.open_run(CASES, results=tmp_path, run_id="r", suite="quick", command="breakeven run")
    assert pending == CASES and store.meta().planned == tuple(c.id for c in CASES)
    assert store.meta().commands == ("breakeven run",)
    with pytest.raises(UsageError, match="exists already"):
        api.open_run(CASES, results=tmp_path, run_id="r")
    store.write(make_record(CASES[0], "r", "ok", None))
    again, left = api.open_run(CASES, results=tmp_path, run_id="r", resume=True, command="breakeven run --resume")
    assert again.root == store.root and left == CASES[1:]
    assert again.meta().commands == ("breakeven run", "breakeven run --resume")


def test_an_interrupted_sitting_keeps_its_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = api.open_run(CASES, results=tmp_path, run_id="r")
    store.update_meta(wall_seconds=100.0, runner_cpu_seconds=1.0)

    def interrupted(self: object, cases: list[Case]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api.Runner, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        api.run_cases(store, CASES)
    meta = store.meta()
    assert meta.wall_seconds is not None and meta.wall_seconds > 100.0 and meta.finished is None
