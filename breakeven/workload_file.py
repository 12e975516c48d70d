"""A user's own workloads: a Python file (``breakeven run --workload-file my_questions.py``)
that declares questions with the API the built-in ones use (``breakeven.workloads.workload``,
``Workload.implement``, ``Workload.ref`` or ``Workload.reference_engine``; see
``examples/my_questions.py``).

The file is imported by path in every process that runs its questions (the runner, each worker
and the reference job, through ``Options.plugins``). Whatever is wrong in it is found when the
runner imports it, before any case runs, and said in one line with the file and line: a
syntax error, an exception at import, an implementation for an engine that does not exist, a
question without a reference, or a file that declares none. What goes wrong later, inside an
engine, is recorded with the case (``crashed``, with the file and line, see :func:`where`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import types
from pathlib import Path

from breakeven.engines import Engine, registry
from breakeven.errors import UsageError
from breakeven.workloads import CATALOGUE, Workload

MODULE_PREFIX = "breakeven_workload_file_"  # "breakeven..." : the reference key hashes its functions too
# The files imported in this process, by module name: the distributed engines pickle their
# functions by value (see :func:`pickle_by_value`), since their workers cannot import them.
LOADED: dict[str, types.ModuleType] = {}


def is_workload_file(plugin: str) -> bool:
    """Whether a plugin of ``Options.plugins`` is a workload file (a path) rather than a module."""
    return plugin.endswith(".py")


def module_name(path: Path) -> str:
    """A module name of its own for each file: its stem and a hash of its absolute path."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"{MODULE_PREFIX}{stem}_{digest}"


def load(path: Path) -> list[Workload]:
    """Import the file and check its workloads; returns them. Raises UsageError, one line
    ``FILE:LINE: what is wrong``, and then nothing of the file stays registered."""
    path = path.resolve()
    name = module_name(path)
    if name in LOADED:
        return [w for w in CATALOGUE.values() if w.origin and w.origin[0] == str(path)]
    if not path.is_file():
        raise UsageError(f"{path}: no such workload file")
    before = set(CATALOGUE)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        declared = [CATALOGUE[n] for n in CATALOGUE if n not in before]
        check(path, declared)
    except BaseException as exc:
        for added in set(CATALOGUE) - before:
            del CATALOGUE[added]
        del sys.modules[name]
        if isinstance(exc, UsageError):
            raise
        if isinstance(exc, SyntaxError):
            raise UsageError(f"{path}:{exc.lineno}: SyntaxError: {exc.msg}") from None
        if isinstance(exc, Exception):
            raise UsageError(f"{where(exc, path) or path}: {type(exc).__name__}: {exc}") from None
        raise
    LOADED[name] = module
    return declared


def check(path: Path, declared: list[Workload]) -> None:
    """What the runner needs of each workload: engines that exist, and a reference."""
    if not declared:
        raise UsageError(f"{path}: declares no workload (breakeven.workloads.workload(...), see examples/)")
    engines = registry()
    for wl in declared:
        line = wl.origin[1] if wl.origin else 0
        for engine, impl in wl.impls.items():
            if engine not in engines:
                at = impl.__code__.co_firstlineno if isinstance(impl, types.FunctionType) else line
                raise UsageError(f"{path}:{at}: {wl.name}: unknown engine {engine!r} (engines: {', '.join(engines)})")
        if wl.reference_by is not None:
            cls = engines.get(wl.reference_by)
            if cls is None or cls.distributed:
                single = [n for n, c in engines.items() if not c.distributed]
                raise UsageError(
                    f"{path}:{line}: {wl.name}: reference engine {wl.reference_by!r} is not a single-machine "
                    f"engine ({', '.join(single)})"
                )
            if wl.reference_by not in wl.impls:
                raise UsageError(
                    f"{path}:{line}: {wl.name}: reference engine {wl.reference_by!r} has no implementation of it"
                )
        elif wl.reference is None:
            raise UsageError(
                f"{path}:{line}: {wl.name} has no reference: decorate a pyarrow function with @{wl.name}.ref, "
                "or name a single-machine engine with .reference_engine('polars')"
            )


def where(exc: BaseException, path: Path | None = None) -> str | None:
    """``FILE:LINE`` of the innermost frame of ``exc`` in a workload file (``path``, or any
    loaded one); None when none of its frames is in one."""
    files = {str(path)} if path else {m.__file__ for m in LOADED.values()}
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in files]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def load_plugins(plugins: list[str] | tuple[str, ...]) -> None:
    """Import what registers extra workloads (in the runner, workers and reference jobs): modules
    by name (``breakeven.testing``), and users' workload files by path (``*.py``)."""
    for plugin in plugins:
        if is_workload_file(plugin):
            load(Path(plugin))
        else:
            importlib.import_module(plugin)


def ship(engine: Engine) -> None:
    """Before the engine starts: its cloudpickle (Dask's, Ray's or PySpark's own copy) sends the
    functions of the loaded workload files by value, since its worker processes have breakeven
    but not the user's file
    (https://github.com/cloudpipe/cloudpickle#overriding-pickles-serialization-mechanism-for-importable-constructs)."""
    if engine.pickler and LOADED:
        pickler = importlib.import_module(engine.pickler)
        for module in LOADED.values():
            pickler.register_pickle_by_value(module)
