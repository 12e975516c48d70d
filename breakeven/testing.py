"""Fault-injection workloads that prove the runner records every failure and goes on.

Not part of the catalogue: they are registered only where this module is imported, which the
tests do and which the runner does in its workers when ``Options.plugins`` names it.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from breakeven.workloads import TEST_FAMILY, Ctx, Workload, get_workload, workload

HOG_CAP_BYTES = 6 * 2**30  # the hog stops growing here, whatever happens


def _reference_of(name: str) -> Callable[[dict[str, pa.Table]], pa.Table]:
    """The reference of the catalogue's workload ``name``, whose answer a fault workload owes."""

    def reference(t: dict[str, pa.Table]) -> pa.Table:
        ref = get_workload(name).reference
        assert ref is not None
        return ref(t)

    return reference


def _q1_pandas(c: Ctx) -> Any:
    return c.x.groupby("id1", dropna=False, observed=True).agg(v1=("v1", "sum")).reset_index()


def _fault(name: str, question: str, like: str = "groupby_q1") -> Workload:
    """A fault workload that owes the answer of the catalogue's workload ``like``: its data,
    keys, sinks and reference."""
    if name in _registered():
        return get_workload(name)
    model = get_workload(like)
    wl = workload(name, TEST_FAMILY, question, model.data_kind, keys=model.keys, large_answer=bool(model.sinks))
    wl.ref(_reference_of(like))
    wl.partial, wl.merge, wl.finish, wl.rowwise = model.partial, model.merge, model.finish, model.rowwise
    wl.parts_by, wl.answer_per_row = model.parts_by, model.answer_per_row
    return wl


def _registered() -> set[str]:
    from breakeven.workloads import CATALOGUE

    return set(CATALOGUE)


WRONG = _fault("fault_wrong", "returns q1's answer plus one")
CRASH = _fault("fault_crash", "the worker dies of a segmentation fault")
HANG = _fault("fault_hang", "never returns")
HANG.timeout = 5.0  # a hang is a hang: the case ends here, the other cases keep the run's timeout
HOG = _fault("fault_hog", "allocates memory until stopped")
RAISE = _fault("fault_raise", "the engine raises an exception")
SPIKE = _fault(
    "fault_spike", "touches 512 MiB for a few milliseconds and spends 0.3 s of CPU in its first run, then q1"
)
SPIKE_CPU_SECONDS = 0.3
SPIKE_BYTES = 512 * 2**20
NO_REFERENCE = _fault("fault_reference", "q1, whose reference answer's process is killed (as for memory)")


@NO_REFERENCE.ref
def _killed_reference(t: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does


NO_REFERENCE.implement("pandas")(_q1_pandas)
NO_REFERENCE.partial = NO_REFERENCE.merge = NO_REFERENCE.parts_by = None  # made whole, or not at all


@WRONG.implement("pandas")
def _wrong(c: Ctx) -> Any:
    out = _q1_pandas(c)
    return out.assign(v1=out["v1"] + 1)


@CRASH.implement("pandas")
def _crash(c: Ctx) -> Any:
    return ctypes.string_at(0)  # reads address 0: SIGSEGV


@HANG.implement("pandas")
def _hang(c: Ctx) -> Any:
    time.sleep(3600)


def _sleep_partition(frame: Any) -> Any:
    time.sleep(3600)
    return frame


@HANG.implement("dask")
def _hang_dask(c: Ctx) -> Any:
    return c.x.map_partitions(_sleep_partition, meta=c.x._meta)  # hangs inside the Dask workers


def _sleep_batches(batches: Any) -> Any:
    for frame in batches:
        time.sleep(3600)
        yield frame


@HANG.implement("spark")
def _hang_spark(c: Ctx) -> Any:
    return c.x.mapInPandas(_sleep_batches, c.x.schema)  # hangs in Spark's Python workers


def _sleep_batch(batch: Any) -> Any:
    time.sleep(3600)
    return batch


@HANG.implement("ray")
def _hang_ray(c: Ctx) -> Any:
    return c.x.map_batches(_sleep_batch, batch_format="pyarrow")  # hangs inside Ray's worker processes


@CRASH.implement("spark")
@CRASH.implement("ray")
def _crash_driver(c: Ctx) -> Any:
    return _crash(c)  # the driver dies with the engine's processes running


@HOG.implement("pandas")
def _hog(c: Ctx) -> Any:
    blocks = []
    while sum(b.nbytes for b in blocks) < HOG_CAP_BYTES:
        blocks.append(np.ones(2**25))  # 256 MiB, touched
        time.sleep(0.05)
    time.sleep(3600)


@SPIKE.implement("pandas")
def _spike(c: Ctx) -> Any:
    if not _calls(SPIKE.name):  # the cold run's window only: the case's peak is of both windows
        block = np.ones(SPIKE_BYTES // 8)  # touched, then freed at once: shorter than a sampling interval
        del block
        spent = time.process_time() + SPIKE_CPU_SECONDS
        while time.process_time() < spent:
            pass
    return _q1_pandas(c)


_CALLS: dict[str, int] = {}


def _calls(name: str) -> int:
    """How many times this worker ran the fault ``name`` before."""
    _CALLS[name] = _CALLS.get(name, 0) + 1
    return _CALLS[name] - 1


WRONG_COLD = _fault("fault_wrong_cold", "q1 plus one in its cold run, q1 after")
HELD = _fault("fault_held", "q1, which raises when an answer it gave before is still held")
_given: list[weakref.ref[Any]] = []


@WRONG_COLD.implement("pandas")
def _wrong_cold(c: Ctx) -> Any:
    return _wrong(c) if not _calls(WRONG_COLD.name) else _q1_pandas(c)


@HELD.implement("pandas")
def _held(c: Ctx) -> Any:
    gc.collect()  # what only a cycle keeps is not held
    if any(given() is not None for given in _given):
        raise RuntimeError("an answer of an earlier run is still held while this one runs")
    out = _q1_pandas(c)
    _given.append(weakref.ref(out))
    return out


@RAISE.implement("pandas")
def _raise(c: Ctx) -> Any:
    raise ValueError("injected failure")


KILL_ENV = "BREAKEVEN_FAULT_KILL"  # process ids the fault_kill_worker workload kills, comma-separated
KILL = _fault("fault_kill_worker", "one cluster worker is killed with SIGKILL, then q1 runs")


def _kill_then_q1(engine: str) -> Any:
    """SIGKILL every process named in BREAKEVEN_FAULT_KILL (a whole cluster worker: its server
    and children) once, at the start of the case, then build q1: the data the worker held is
    lost and the engine must recover it or fail."""

    def run(c: Ctx) -> Any:
        for pid in filter(None, os.environ.get(KILL_ENV, "").split(",")):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:  # killed by an earlier run of the case
                continue
        return get_workload("groupby_q1").impls[engine](c)

    return run


for _engine in ("dask", "spark", "ray"):
    KILL.implement(_engine)(_kill_then_q1(_engine))


# Large answers, for the sinks: a row dropped from transform_arith's answer, and a writer that
# writes one file and then hangs (the case is killed with its output folder half written).
DROPPED_ROW = _fault("fault_dropped_row", "transform_arith's answer without its first row", "transform_arith")
WRITE_HANG = _fault("fault_write_hang", "writes one file of the answer, then never returns", "transform_arith")
WRITE_HANG.timeout = 5.0


@DROPPED_ROW.implement("pandas")
def _dropped_row(c: Ctx) -> Any:
    return get_workload("transform_arith").impls["pandas"](c).iloc[1:]


class _HangingWriter:
    """Writes a real Parquet file where pandas would write the answer, then hangs."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def to_parquet(self, path: Any, index: bool = False, **options: Any) -> None:
        self.frame.to_parquet(path, index=index, **options)
        time.sleep(3600)


@WRITE_HANG.implement("pandas")
def _write_hang(c: Ctx) -> Any:
    return _HangingWriter(get_workload("transform_arith").impls["pandas"](c))
