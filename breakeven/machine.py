"""What a result was measured on: the machine and every relevant package version."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil


def packages() -> tuple[str, ...]:
    """Every engine's distributions, and the data libraries under them."""
    from breakeven.engines import registry

    return tuple(dict.fromkeys(p for cls in registry().values() for p in cls.packages)) + ("pyarrow", "numpy")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
    }


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for pkg in packages():
        try:
            found[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        found["breakeven"] = importlib.metadata.version("breakeven")
    return found


def _commit() -> str:
    """The checkout's commit, ``+changes`` where its tracked files other than records and outputs
    (``results/``, where an experiment writes its own output) differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parents[1])
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results") else "")


def provenance(argv: list[str] | None = None) -> str:
    """The lines an experiment's output starts with, so that a committed copy says what made it:
    the command, when, the commit, the machine and the engines' versions."""
    info = machine_info()
    command = shlex.join(["python", *(argv if argv is not None else sys.argv)])
    found = ", ".join(f"{k} {v}" for k, v in versions().items() if k != "breakeven")
    return (
        f"# {command}\n"
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {_commit()}, {info['cores']} cores "
        f"({info['cpu']}), {info['memory_bytes'] / 2**30:.0f} GiB\n"
        f"# {found}\n"
    )
