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

import importlib.util
import sys
import traceback
import types
from pathlib import Path

from breakeven.engines import Engine, registry
from breakeven.errors import UsageError
from breakeven.workloads import CATALOGUE, Workload

# The files imported in this process, by module name (the file's stem, as the engines' own ways
# of sending a file to their workers import it: Dask's ``Client.upload_file``).
LOADED: dict[str, types.ModuleType] = {}
PATHS: dict[str, Path] = {}  # and where each was loaded from (its ``__file__`` may name a copy later)


def is_workload_file(plugin: str) -> bool:
    """Whether a plugin of ``Options.plugins`` is a workload file (a path) rather than a module."""
    return plugin.endswith(".py")


def module_name(path: Path) -> str:
    """The file's module name: its stem, which must not be another module's."""
    name = path.stem
    if not name.isidentifier():
        raise UsageError(f"{path}: a workload file's name must be a Python module name (letters, digits, _)")
    known = sys.modules.get(name)
    found = getattr(known, "__file__", None) if known else None
    if found is None and known is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        found = spec.origin if spec else None
    if (known is not None or found is not None) and (found is None or Path(found).resolve() != path):
        raise UsageError(f"{path}: its name {name!r} is another module's ({found or 'built in'}): rename the file")
    return name


def load(path: Path) -> list[Workload]:
    """Import the file and check its workloads; returns them. Raises UsageError, one line
    ``FILE:LINE: what is wrong``, and then nothing of the file stays registered."""
    path = path.resolve()
    if not path.is_file():
        raise UsageError(f"{path}: no such workload file")
    if path.stem in LOADED and PATHS.get(path.stem) == path:
        return [w for w in CATALOGUE.values() if w.origin and w.origin[0] == str(path)]
    name = module_name(path)
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
    LOADED[name], PATHS[name] = module, path
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
    loaded one); None when none of its frames is in one. A frame in a copy of the file (a Dask
    worker imports the one ``Client.upload_file`` gave it, in a folder of its own) names the
    user's file: the copy has the same name and lines (and as Dask reloads the module from its
    copy, ``__file__`` names the copy, not the user's file: ``PATHS`` does)."""
    files = [Path(path)] if path else [PATHS[name] for name in LOADED]
    by_name = {f.name: f for f in files}
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).name in by_name]
    return f"{by_name[Path(frames[-1].filename).name]}:{frames[-1].lineno}" if frames else None


def load_plugins(plugins: list[str] | tuple[str, ...]) -> None:
    """Import what registers extra workloads (in the runner, workers and reference jobs): modules
    by name (``breakeven.testing``), and users' workload files by path (``*.py``)."""
    for plugin in plugins:
        if is_workload_file(plugin):
            load(Path(plugin))
        else:
            importlib.import_module(plugin)


def ship(engine: Engine) -> None:
    """Once the engine has started: its worker processes have breakeven but not the user's file.
    Ray and PySpark pickle functions with their own cloudpickle, which then sends the file's by
    value
    (https://github.com/cloudpipe/cloudpickle#overriding-pickles-serialization-mechanism-for-importable-constructs);
    Dask pickles a task graph with the standard pickle, by reference, so its workers get the file
    itself (``Engine.upload``: ``Client.upload_file``)."""
    if not LOADED:
        return
    if engine.pickler:
        pickler = importlib.import_module(engine.pickler)
        for module in LOADED.values():
            pickler.register_pickle_by_value(module)
    engine.upload([Path(m.__file__ or "") for m in LOADED.values()])
