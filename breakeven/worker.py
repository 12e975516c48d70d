"""The worker process: one engine session that runs its parts' cases and reports each phase.

Started by the runner as ``python -m breakeven.worker PLAN.json FD``; it talks to the runner
through the socket ``FD`` with the messages of ``breakeven.protocol``. Around the timed part of
each case it waits for the runner's acknowledgement, so the runner's memory and CPU accounting
starts and stops exactly there. Its stdout and stderr (engine logs) go to the session's log
file, never the terminal.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from breakeven import workload_file
from breakeven.engines import PARQUET_CODEC, Engine, SessionSettings, engine_class
from breakeven.errors import EngineUnavailable, Unsupported
from breakeven.files import read_json
from breakeven.protocol import (
    CaseDone,
    CaseStart,
    Fatal,
    Loaded,
    Message,
    PartPlan,
    PartStart,
    PlannedCase,
    SessionDone,
    SessionPlan,
    Startup,
    TimedEnd,
)
from breakeven.verify import Digest, DigestBuilder, Match, checksum, compare, compare_digests, is_digest
from breakeven.workloads import Ctx, Workload, get_workload


class Channel:
    """Messages over a socket; ``request`` waits for the runner's acknowledgement."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.reader = self.sock.makefile("rb")

    def send(self, message: Message) -> None:
        self.sock.sendall(message.encode())

    def request(self, message: Message) -> None:
        self.send(message)
        reply = self.reader.readline()
        if not reply:
            raise SystemExit("runner went away")


def describe(exc: BaseException) -> str:
    """The exception in one line; where it was raised in a user's workload file, that place."""
    text = str(exc).strip().splitlines()
    at = workload_file.where(exc)
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500] + (f" (at {at})" if at else "")


def run_case(
    engine: Engine,
    chan: Channel,
    case: PlannedCase,
    tables: Tables,
    repeats: int,
    sink_dir: Path,
) -> None:
    """Time the case's cold run and verify its answer, then time the repeats and verify the last.

    The runner meters each of the two windows (the cold run's, the repeats') from a
    ``CaseStart`` it acknowledges to a ``TimedEnd``. The cold answer is verified and let go
    between them: neither its verification nor its memory (a collected answer of 1e8 rows is
    GBs) is counted in the repeats or held while they run. A run that fails or a cold answer
    that is wrong ends the case. From files, every run opens the tables inside the timed part.
    With the ``parquet`` sink the timed part ends when the engine's writer has closed its last
    file; the files are read back for verification outside it, and deleted after.
    """
    wl = get_workload(case.workload)
    times: list[float] = []
    status, reason, rows_out, sums = "ok", None, None, None
    try:
        for runs in (range(1), range(1, 1 + repeats)):
            if not runs or status != "ok":
                break
            chan.request(CaseStart(case.id))
            answer = None
            try:
                answer = _timed(engine, wl, case, tables, runs, sink_dir, times)
            except Unsupported as exc:
                status, reason = "unsupported", str(exc)
            except Exception as exc:  # the engine failed: recorded; the runner gives the rest a new session
                traceback.print_exc()
                status, reason = "crashed", f"raised {describe(exc)}"
            chan.request(TimedEnd(case.id))
            if status == "ok":
                status, reason, rows_out, sums = _verify(engine, wl, case, answer)
            del answer
            shutil.rmtree(sink_dir, ignore_errors=True)
            release_memory()
    finally:
        shutil.rmtree(sink_dir, ignore_errors=True)
    chan.send(CaseDone(case.id, status, reason, times[0] if times else None, times[1:], rows_out, sums))


def release_memory() -> None:
    """Give back to the system what the untimed part freed (the answer read back, the reference,
    their sorted copies): Arrow's pool and the C allocator keep freed memory for reuse, and the
    next timed window's peak would count it (a chunked pandas job that holds one chunk of 1e5
    rows showed 1.2 GB at 1e7 rows, its answer's verification, against 0.26 GB for the job)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc: return the heap's free pages


def _timed(
    engine: Engine, wl: Workload, case: PlannedCase, tables: Tables, runs: range, sink_dir: Path, times: list[float]
) -> Any:
    """Run the case ``runs`` times, each timed into ``times``; the last answer (the others are
    let go, and their written files deleted, outside the timer)."""
    answer = None
    for i in runs:
        if answer is not None and case.sink == "parquet":
            shutil.rmtree(answer)
        answer = None
        folder = sink_dir / f"{case.id}.{i}"
        engine.settle()  # untimed: every run starts as a new query does, whatever ran before it
        start = time.perf_counter()
        answer = produce(engine, wl, tables.context(engine, wl, case.chunk_rows), case.sink, folder)
        times.append(time.perf_counter() - start)
    return answer


def _verify(
    engine: Engine, wl: Workload, case: PlannedCase, answer: Any
) -> tuple[str, str | None, int | None, dict[str, float] | None]:
    """The answer checked against the case's reference: status, reason, rows and checksums."""
    check = AnswerCheck(engine, wl, Path(case.reference), case.sink)
    expected = check.expected()
    try:
        if case.sink == "parquet" and (why := other_codec(answer)):
            return "wrong_result", why, None, None
        checked = check(answer, expected)
    except (OSError, pa.ArrowInvalid) as exc:  # nothing written, or not Parquet
        return "wrong_result", f"the written answer cannot be read: {describe(exc)}", None, None
    if not checked.match.ok:
        return "wrong_result", checked.match.reason, None, None
    return "ok", None, checked.rows, checked.sums


@dataclass
class Tables:
    """A session's tables: loaded once (``memory``), or their files, which each run of a case
    reads inside its timed part (``files``, ``Engine.scan``)."""

    source: str
    paths: dict[str, Path]
    rows: dict[str, int]
    loaded: dict[str, Any] = field(default_factory=dict)

    def load(self, engine: Engine, chunk_rows: int | None) -> None:
        """Load every table (the load phase); nothing to do from files."""
        if self.source == "memory":
            self.loaded = {r: engine.load(r, path, self.rows[r], chunk_rows) for r, path in self.paths.items()}

    def unload(self, engine: Engine) -> None:
        """Let go of the loaded tables (``Engine.release``) and give their memory back."""
        loaded, self.loaded = self.loaded, {}
        engine.release(loaded)
        del loaded
        release_memory()

    def context(self, engine: Engine, wl: Workload, chunk_rows: int | None) -> Ctx:
        """What the workload's implementation sees (from files: timed, since it opens them)."""
        if self.source == "files":
            tables = {r: engine.scan(r, self.paths[r], self.rows[r], chunk_rows, wl.reads(r)) for r in wl.tables}
        else:
            tables = {role: self.loaded[role] for role in wl.tables}
        return engine.context(tables, {role: self.rows[role] for role in wl.tables}, chunk_rows)


def produce(engine: Engine, wl: Workload, ctx: Ctx, sink: str | None, folder: Path) -> Any:
    """The timed part of a case: the answer in the driver, or with the ``parquet`` sink written
    in ``folder`` (returned) by the engine's own writer."""
    if sink == "parquet":
        engine.write(engine.build(wl, ctx), folder)
        return folder
    return engine.materialise(engine.build(wl, ctx))


def answer_table(engine: Engine, answer: Any, sink: str | None) -> pa.Table:
    """What ``produce`` gave, as an Arrow table for verification (untimed)."""
    return read_written(answer) if sink == "parquet" else engine.to_arrow(answer)


@dataclass(frozen=True)
class Checked:
    """An answer against its reference: whether it matches, its rows and its columns' checksums."""

    match: Match
    rows: int
    sums: dict[str, float]


@dataclass(frozen=True)
class AnswerCheck:
    """How a case's answer is compared with its reference (``reference.found``): read whole and
    compared with the whole reference, or, where the reference is a digest (too large to hold),
    digested a batch at a time and compared with it."""

    engine: Engine
    wl: Workload
    reference: Path
    sink: str | None

    def expected(self) -> Digest | pa.Table:
        """The reference: its digest, or the whole table."""
        if is_digest(self.reference):
            return Digest.from_dict(read_json(self.reference))
        return pq.read_table(self.reference)

    def __call__(self, answer: Any, expected: Digest | pa.Table) -> Checked:
        if isinstance(expected, Digest):
            found = answer_digest(self.engine, answer, self.sink, expected.exact)
            sums = {k: v[1] for k, v in found.columns.items() if v[0]}
            return Checked(compare_digests(found, expected), found.rows, sums)
        table = answer_table(self.engine, answer, self.sink)
        return Checked(compare(table, expected, list(self.wl.keys)), table.num_rows, checksum(table))


def answer_digest(engine: Engine, answer: Any, sink: str | None, exact: Iterable[str]) -> Digest:
    """The digest of what ``produce`` gave (untimed): a written answer a batch at a time; the
    reference's ``exact`` columns in integer arithmetic (``verify.DigestBuilder``)."""
    builder = DigestBuilder(exact)
    if sink == "parquet":
        if not answer.is_dir():
            raise FileNotFoundError(f"the engine wrote no folder {answer}")
        for batch in ds.dataset(answer, format="parquet").to_batches():
            builder.add(batch)
    else:
        builder.add(engine.to_arrow(answer))
    return builder.digest()


def other_codec(folder: Path) -> str | None:
    """Why the Parquet files an engine wrote are not the same work as every other engine's: a
    codec other than ``PARQUET_CODEC`` in a column chunk; None if there is none."""
    found = set()
    for file in ds.dataset(folder, format="parquet").files:
        meta = pq.read_metadata(file)
        for group in range(meta.num_row_groups):
            found |= {meta.row_group(group).column(c).compression.lower() for c in range(meta.num_columns)}
    if other := sorted(found - {PARQUET_CODEC}):
        return f"the answer was written with {', '.join(other)}, every engine's sink with {PARQUET_CODEC}"
    return None


def read_written(folder: Path) -> pa.Table:
    """An answer an engine wrote: every Parquet file under ``folder`` (files whose names start
    with ``_`` or ``.``, such as Spark's ``_SUCCESS`` and checksums, are not data)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"the engine wrote no folder {folder}")
    return pq.read_table(folder)


def main(plan_path: str, fd: str) -> None:
    plan = SessionPlan.read(Path(plan_path))
    chan = Channel(int(fd))
    workload_file.load_plugins(plan.plugins)
    settings = SessionSettings(plan.cores, plan.memory_budget, Path(plan.log_dir), Path(plan.scratch_dir), plan.cluster)
    start = time.perf_counter()
    engine = engine_class(plan.engine)(plan.mode, plan.profile, settings)
    engine.start()
    workload_file.ship(engine)
    chan.send(Startup(time.perf_counter() - start))
    sink_dir = Path(plan.scratch_dir) / "answers"  # the runner deletes the scratch, even after a kill
    try:
        for part in plan.parts:
            run_part(engine, chan, part, plan.repeats, sink_dir)
    finally:
        engine.close()
    chan.send(SessionDone())


def run_part(engine: Engine, chan: Channel, part: PartPlan, repeats: int, sink_dir: Path) -> None:
    """A part of the session: its tables loaded (the load phase, metered from the runner's
    acknowledgement of ``PartStart``), its cases run, its tables let go."""
    chan.request(PartStart(part.name))
    engine.begin(part.chunk_rows)
    start = time.perf_counter()
    tables = Tables(
        part.source,
        {role: Path(t.path) for role, t in part.tables.items()},
        {role: t.rows for role, t in part.tables.items()},
    )
    tables.load(engine, part.chunk_rows)
    chan.send(Loaded(time.perf_counter() - start, engine.topology()))
    for case in part.cases:
        run_case(engine, chan, case, tables, repeats, sink_dir)
    tables.unload(engine)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as exc:  # startup or load failed: tell the runner why, then exit non-zero
        traceback.print_exc()
        try:
            status = "unavailable" if isinstance(exc, EngineUnavailable) else "crashed"
            reason = str(exc) if isinstance(exc, EngineUnavailable) else describe(exc)
            Channel(int(sys.argv[2])).send(Fatal(status, reason))
        finally:
            sys.exit(1)
