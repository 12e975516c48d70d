"""What a result was measured on: the machine and every relevant package version."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
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
