"""An engine session in the test process (no worker, no runner): for the tests that check every
workload's answer and for the smoke benchmarks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakeven.cases import EngineConfig
from breakeven.engines import Engine, Settings, engine_class
from breakeven.errors import EngineUnavailable


@contextlib.contextmanager
def engine_session(config: EngineConfig) -> Iterator[Engine]:
    """The configuration's engine, started; closed with everything it started. An engine whose
    extra is not installed skips the test, saying so."""
    try:
        cls = engine_class(config.engine)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    saved = dict(os.environ)  # engines set variables for their own servers (Ray, Spark)
    with tempfile.TemporaryDirectory(prefix="breakeven-inprocess-") as scratch:
        eng = cls(config.mode, config.profile, Settings(2, None, Path(scratch), Path(scratch)))
        eng.start()
        try:
            yield eng
        finally:
            eng.close()
            _stop_spark_jvm(config.engine)
            os.environ.clear()
            os.environ.update(saved)


def _stop_spark_jvm(name: str) -> None:
    """``SparkSession.stop()`` keeps the driver's JVM until Python exits; stop it here."""
    if name != "spark":
        return
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        proc = getattr(gateway, "proc", None)
        if proc is not None:
            proc.kill()
            proc.wait()
        SparkContext._gateway = SparkContext._jvm = None
