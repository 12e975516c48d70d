"""The test suite's time budget: a test that grows past its budget (tests/durations.toml) fails."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
HERE = Path(__file__).parent


def test_a_budget_is_the_longest_named_prefix_else_the_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    import conftest

    named = {"tests/test_x.py": 300, "tests/test_x.py::test_y[ray]": 500}
    monkeypatch.setattr(conftest, "BUDGETS", {"tier": {"fast": 20, "slow": 120}, "tests": named})
    assert conftest.budget("tests/test_x.py::test_y[ray]", slow=True) == 500  # the longer prefix
    assert conftest.budget("tests/test_x.py::test_y[dask]", slow=True) == 300
    assert conftest.budget("tests/test_z.py::test_y", slow=False) == 20
    assert conftest.budget("tests/test_z.py::test_y", slow=True) == 120


@pytest.mark.parametrize(("scale", "failed"), [("0.001", 1), ("0", 0)])
def test_a_test_past_its_budget_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scale: str, failed: int
) -> None:
    pytester.makeconftest((HERE / "conftest.py").read_text())
    (pytester.path / "durations.toml").write_text((HERE / "durations.toml").read_text())
    pytester.makepyfile("import time\n\ndef test_slow():\n    time.sleep(0.1)\n")
    monkeypatch.setenv("BREAKEVEN_TEST_BUDGET_SCALE", scale)  # a fast test's budget of 20 s x 0.001
    done = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    done.assert_outcomes(passed=1 - failed, failed=failed)
    if failed:
        done.stdout.fnmatch_lines(["*took * s, past its budget of 0 s (tests/durations.toml*"])
