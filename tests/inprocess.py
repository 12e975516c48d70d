"""An engine session in the test process (no worker, no runner): for the tests that check every
workload's answer and for the smoke benchmarks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from breakeven import data as datagen
from breakeven import reference
from breakeven.cases import Case, EngineConfig
from breakeven.engines import Engine, SessionSettings, engine_class
from breakeven.errors import EngineUnavailable, Unsupported
from breakeven.verify import Match, compare
from breakeven.worker import Tables, answer_table, other_codec, produce
from breakeven.workloads import CATALOGUE, Ctx


@contextlib.contextmanager
def engine_session(
    config: EngineConfig, cores: int = 2, memory_budget: int | None = None, chunk_rows: int | None = None
) -> Iterator[Engine]:
    """The configuration's engine on ``cores`` cores (and ``memory_budget`` bytes, a session's
    ``chunk_rows``), started; closed with everything it started. An engine whose extra is not
    installed skips the test, saying so."""
    try:
        cls = engine_class(config.engine)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    saved = dict(os.environ)  # engines set variables for their own servers (Ray, Spark)
    with tempfile.TemporaryDirectory(prefix="breakeven-ip-") as scratch:
        settings = SessionSettings(cores, memory_budget, Path(scratch), Path(scratch))
        eng = cls(config.mode, config.profile, settings)
        eng.start()
        eng.begin(chunk_rows)
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


class ProfileBlind(Ctx):
    """A context whose profile must not be read: given where an engine declares that its tuned
    profile is the default's twin (``Engine.tuned_kinds``), so that the claim is checked."""

    @property
    def tuned(self) -> bool:
        raise AssertionError("an implementation reads the profile on data its engine declares untuned")

    @tuned.setter
    def tuned(self, value: bool) -> None:
        pass


def answer_verdict(engine: Engine, case: Case, data_dir: Path) -> Match | None:
    """The case's workload run by a started engine on the case's data (generated and its
    reference computed on first use), read as the case's source says, its answer collected or
    written as its sink says and compared with the reference; None for a declared gap."""
    wl = CATALOGUE[case.workload]
    chunk = case.chunk_rows if wl.uses_chunks(engine.name) else None
    if not datagen.is_generated(case.data, data_dir):
        datagen.generate(case.data, data_dir, 1)
    target = reference.reference_path(case.data, case.workload, data_dir)
    if not target.exists():
        reference.compute(case.data, [case.workload], data_dir)
    paths, rows = datagen.dataset_paths(case.data, data_dir), case.data.table_rows()
    tables = Tables(case.source, {r: paths[r] for r in wl.tables}, {r: rows[r] for r in wl.tables})
    tables.load(engine, chunk)
    ctx = tables.context(engine, wl, chunk)
    if not type(engine).tunes(wl.data_kind, case.source):  # the engine says its profiles are twins here
        ctx = ProfileBlind(**vars(ctx))
    try:
        with tempfile.TemporaryDirectory(prefix="breakeven-sink-") as out:  # as the worker does
            answer = produce(engine, wl, ctx, case.sink, Path(out) / "answer")
            if case.sink == "parquet" and (why := other_codec(answer)):
                return Match(False, why)
            table = answer_table(engine, answer, case.sink)
    except Unsupported as exc:
        assert engine.name in wl.unsupported, f"undeclared gap: {exc}"
        return None
    finally:
        del ctx
        tables.unload(engine)  # as the worker does after a part: the next case loads its own
    return compare(table, pq.read_table(target), list(wl.keys))
