"""The workload catalogue: each workload with every engine's implementation side by side.

A workload names a question on a table set (G1, J1, D1 or T1 of ``breakeven.data``), a
reference answer computed with pyarrow and NumPy (none of the engines under test), and one
implementation per engine. An implementation receives a :class:`Ctx` with the engine's loaded
tables and returns the engine's result object; the engine materialises it (the timed part).
A workload's SQL text (``sql``) serves every engine that speaks SQL (DuckDB) and has no
implementation of its own for it.

One rule for the two profiles, in every engine and question (``c.tuned`` tells them apart):

- ``default`` is what a newcomer writes from the engine's own documentation, with db-benchmark's
  code as the proxy where it has the question: the API's obvious idiom, even when it is slow
  (groupby-apply of a Python function per group for q8 in Dask and Ray and q9 in pandas, Dask
  and Ray; the portable SQL window for q8 in DuckDB; a plain merge or join).
- ``tuned`` is what an expert of the engine writes: vectorised forms (grouped sums of moments
  for q9, a pre-reduction and one pass per partition for q8), the engine's own operators
  (DuckDB's top-N aggregate, Spark's ``mapInArrow``), explicit broadcasts of small tables, and
  the settings of each engine module.

Where an implementation's two profiles differ, a comment beside the branch says which idiom
each one is; where the engine offers one idiom (a grouped sum, Polars' ``top_k``, Spark's
``corr``), both profiles use it and differ only in the engine's settings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from breakeven.errors import UsageError

FAMILIES = ("groupby", "join", "transform")
# Where a large answer goes: back to the driver as one Arrow table, or written as Parquet by the
# engine's own writer (``Engine.write``). Small answers (aggregates) always come back.
SINKS = ("collect", "parquet")
# Where a question's tables come from: loaded into the engine (and persisted) before the clock
# starts, for repeated queries; or read from their Parquet files inside the timed query, the cold
# one-off query (``Engine.scan``). Verdicts compare configurations within one source, never across.
SOURCES = ("memory", "files")
TEST_FAMILY = "fault"  # fault-injection workloads of breakeven.testing: never in a suite


@dataclass
class Ctx:
    """What an implementation sees: the loaded tables by role, and the session's settings."""

    tables: Mapping[str, Any]
    session: Any = None
    tuned: bool = False
    chunk_rows: int | None = None
    cores: int = 1
    rows: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, role: str) -> Any:
        try:
            return self.tables[role]
        except KeyError:
            raise AttributeError(role) from None


class Chunks:
    """An answer in pieces, made as they are taken, as a chunked pandas job makes it: it reads a
    chunk, transforms it and hands the piece on before it reads the next, so that it holds one
    chunk at a time. Concatenated when the answer comes back to the driver, written one file per
    piece to a Parquet sink (``PandasEngine``). Taken once."""

    def __init__(self, pieces: Iterable[Any]) -> None:
        self._pieces = iter(pieces)

    def __iter__(self) -> Iterator[Any]:
        return self._pieces


Impl = Callable[[Ctx], Any]
Reference = Callable[[Mapping[str, pa.Table]], pa.Table]


@dataclass
class Workload:
    """One question, its reference answer and its implementation in each engine."""

    name: str
    family: str
    question: str
    data_kind: str
    tables: tuple[str, ...]
    keys: tuple[str, ...]
    high_cardinality: bool = False
    chunked_engines: frozenset[str] = frozenset()
    impls: dict[str, Impl] = field(default_factory=dict)
    query: str | None = None  # SQL over the loaded tables, named by role
    unsupported: dict[str, str] = field(default_factory=dict)
    reference: Reference | None = None
    # The most one case of it may take, below the run's --timeout: for the fault-injection
    # workloads that hang, so that a test's other cases keep the run's generous timeout.
    timeout: float | None = None
    # Where its answer may go (``SINKS``); empty for a small answer, which always comes back.
    sinks: tuple[str, ...] = ()
    # The columns it reads of each table (a table not named: all of them): what an engine that does
    # not prune columns itself (pandas, Polars eager) reads from the files (``SOURCES``).
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # A single-machine engine whose answer is the reference (a user's workload file may choose
    # this instead of a reference function, ``reference_engine``), and where it was declared.
    reference_by: str | None = None
    origin: tuple[str, int] | None = None  # (file, line) of the ``workload(...)`` call
    module: str | None = None  # the module that made that call
    # Data larger than memory (the 1e9-row slice): the reference made a batch of x at a time, the
    # other tables whole. ``merge`` makes one partial answer of several (concatenated), ``finish``
    # the answer of the merged one (``batched``). A question with a row per row of x (``rowwise``)
    # is checked there by a digest of its answer (``verify.Digest``), not the answer itself.
    partial: Reference | None = None  # one batch's partial answer; default: the reference
    merge: Callable[[pa.Table], pa.Table] | None = None
    finish: Callable[[pa.Table], pa.Table] | None = None
    rowwise: bool = False
    # A key whose values split x into parts the reference answers on their own (a group-by's
    # key, a running total's group): where x is too large for the reference whole and its
    # answer cannot be merged from batches, it is made a part at a time.
    parts_by: str | None = None
    # About a row per row of x (a large answer, or a group-by by nearly unique keys): from
    # ``reference.DIGEST_ROWS`` rows such an answer is checked by digest.
    answer_per_row: bool = False

    def implement(self, engine: str) -> Callable[[Impl], Impl]:
        """Decorator: register ``fn`` as this workload's implementation for ``engine`` (a name of
        ``breakeven.engines.registry()``, which a test checks)."""

        def register(fn: Impl) -> Impl:
            self.impls[engine] = fn
            return fn

        return register

    def not_supported(self, engine: str, reason: str) -> None:
        """Declare that ``engine`` cannot run this workload, and why (ibis's ``notimpl``): the
        runner records such cases as ``unsupported`` with the reason, without running them."""
        if engine in self.impls:
            raise ValueError(f"{self.name} has a {engine} implementation: it cannot also be unsupported")
        self.unsupported[engine] = reason

    def sql(self, text: str) -> None:
        """The workload as SQL over the loaded tables, named by role: the implementation of every
        engine that speaks SQL and has none of its own for it."""
        self.query = text

    def ref(self, fn: Reference) -> Reference:
        """Decorator: ``fn`` (the tables by role, as Arrow, in; the answer as Arrow out) computes
        the reference answer, with no engine under test (pyarrow, NumPy)."""
        self.reference = fn
        return fn

    def batched(
        self,
        merge: Callable[[pa.Table], pa.Table],
        partial: Reference | None = None,
        finish: Callable[[pa.Table], pa.Table] | None = None,
    ) -> None:
        """How the reference is made a batch of x at a time where the data does not fit in
        memory: ``partial`` (default: the reference) on each batch, ``merge`` over the partial
        answers, ``finish`` (default: none) on the merged one."""
        self.partial, self.merge, self.finish = partial, merge, finish

    def reference_engine(self, engine: str) -> None:
        """Take this engine's answer (a single-machine engine, its first mode and default
        profile) as the reference, where no engine-independent function is at hand; the records
        say so (``reference``). Its own cases are then checked against themselves."""
        self.reference_by = engine

    @property
    def reference_label(self) -> str:
        """How the reference answer is made, as records say it."""
        return f"engine {self.reference_by}" if self.reference_by else "function"

    def reads(self, role: str) -> list[str] | None:
        """The columns the workload reads of table ``role``; None: all of them."""
        return list(self.columns[role]) if role in self.columns else None

    def uses_chunks(self, engine: str) -> bool:
        """Whether ``engine`` honours the chunk_rows parameter for this workload."""
        return engine in self.chunked_engines


CATALOGUE: dict[str, Workload] = {}


def workload(
    name: str,
    family: str,
    question: str,
    data_kind: str,
    tables: tuple[str, ...] = ("x",),
    keys: tuple[str, ...] = (),
    high_cardinality: bool = False,
    chunked_engines: frozenset[str] = frozenset(),
    large_answer: bool = False,
    columns: Mapping[str, tuple[str, ...]] | None = None,
) -> Workload:
    """Create and register a workload; ``large_answer``: about one row per input row, so that
    where it goes (``SINKS``) is part of the question; ``columns``: the columns it reads of each
    table, where not all of them."""
    if family not in (*FAMILIES, TEST_FAMILY):
        raise ValueError(f"unknown family {family!r}")
    caller = sys._getframe(1)
    module = caller.f_globals.get("__name__")
    # The same module imported again (Dask's Client.upload_file reloads a user's workload file in
    # the process that runs its scheduler) declares its workloads anew; anything else is an error.
    if name in CATALOGUE and CATALOGUE[name].module != module:
        raise ValueError(f"workload {name!r} defined twice")
    wl = Workload(name, family, question, data_kind, tables, keys, high_cardinality, chunked_engines)
    wl.sinks = SINKS if large_answer else ()
    wl.answer_per_row = large_answer
    wl.columns = {role: tuple(cols) for role, cols in (columns or {}).items()}
    if unknown := set(wl.columns) - set(tables):
        raise ValueError(f"{name} declares the columns of tables it does not read: {sorted(unknown)}")
    wl.origin, wl.module = (caller.f_code.co_filename, caller.f_lineno), module
    CATALOGUE[name] = wl
    return wl


def sum_merge(keys: list[str]) -> Callable[[pa.Table], pa.Table]:
    """A ``Workload.batched`` merge for partial answers that are sums and counts by ``keys``."""

    def merge(t: pa.Table) -> pa.Table:
        values = [c for c in t.column_names if c not in keys]
        out = t.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in values])
        return out.select(keys + [f"{c}_sum" for c in values]).rename_columns(keys + values)

    return merge


def get_workload(name: str) -> Workload:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UsageError(
            f"unknown workload {name!r}: `breakeven list` shows the workloads (families: {', '.join(FAMILIES)})"
        ) from None


def select_workloads(patterns: list[str]) -> list[Workload]:
    """Workloads named exactly, or a whole family by its name (``groupby``)."""
    chosen: list[Workload] = []
    for pat in patterns:
        found = [w for w in CATALOGUE.values() if w.family == pat] or [get_workload(pat)]
        chosen.extend(w for w in found if w not in chosen)
    return chosen


from breakeven.workloads import groupby, join, transform  # noqa: E402,F401  (registers the catalogue)
