from __future__ import annotations

from pathlib import Path

import pytest

from breakeven import java
from breakeven.cases import Case


def _fake_java(tmp_path: Path, version: str) -> Path:
    home = tmp_path / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    exe = home / "bin" / "java"
    exe.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2020-01-01' >&2\n")
    exe.chmod(0o755)
    return exe


def test_old_java_is_refused_with_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(
        java, "_candidates", lambda: [_fake_java(tmp_path, "11.0.2"), _fake_java(tmp_path, "1.8.0_292")]
    )
    found = java.find_java()
    assert isinstance(found, str)
    assert "Java 11.0.2" in found and "Java 8.0_292" in found and "apt-get install openjdk-17" in found


def test_new_enough_java_is_found(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(java, "_candidates", lambda: [_fake_java(tmp_path, "11"), _fake_java(tmp_path, "17.0.15")])
    found = java.find_java()
    assert isinstance(found, java.Java) and found.major == 17 and found.home == tmp_path / "jdk-17.0.15"


@pytest.mark.spark
def test_spark_without_java_is_unavailable_and_the_suite_goes_on(run_cases, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent / "plugins"))
    cases = [
        Case("groupby_q1", "spark", "local", "default", 10_000),
        Case("groupby_q1", "pandas", "single", "default", 10_000),
    ]
    records, _ = run_cases(cases, plugins=("no_java",))
    assert [r.status for r in records] == ["unavailable", "ok"]
    assert "Spark needs Java 17+" in records[0].reason and "JAVA_HOME" in records[0].reason
