"""Engine and server logs: kept in the run's folder, quoted in failure reasons."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def keep_logs(scratch: Path, dest: Path) -> None:
    """Move every ``logs`` folder under ``scratch`` (Ray's session logs) to ``dest``, then delete
    ``scratch`` with whatever else the engine left there (shuffle files, sockets)."""
    for root, dirs, _ in os.walk(scratch):  # symbolic links (Ray's session_latest) are not followed
        if "logs" in dirs:
            shutil.copytree(Path(root) / "logs", dest / Path(root).relative_to(scratch), dirs_exist_ok=True)
            dirs.remove("logs")
    shutil.rmtree(scratch, ignore_errors=True)


def log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-300:]
