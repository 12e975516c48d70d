"""A worker's process tree: found (its descendants, and a local cluster's servers measured with
it) and killed as a whole, with nothing orphaned and nothing left stopped."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

import psutil


class ProcessTree:
    """A process and its descendants: found, and killed, as a whole."""

    def __init__(self, pid: int, shared: list[int] | None = None) -> None:
        self.root = psutil.Process(pid)
        self.procs: dict[int, psutil.Process] = {pid: self.root}
        # Processes that serve this tree but are not its own (a local cluster's servers and their
        # children): measured with it, never killed with it.
        self.shared_roots = [p for pid in shared or [] if (p := _alive(pid)) is not None]
        self.shared: dict[int, psutil.Process] = {}

    def refresh(self) -> None:
        """Find the processes born since the last look (a walk over /proc: not every poll)."""
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in self.root.children(recursive=True):
                self.procs.setdefault(child.pid, child)
        for root in self.shared_roots:
            self.shared.setdefault(root.pid, root)
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in root.children(recursive=True):
                    self.shared.setdefault(child.pid, child)

    def add(self, pids: list[int]) -> None:
        for pid in pids:
            if pid not in self.procs and (proc := _alive(pid)) is not None:
                self.procs[pid] = proc

    def measured(self) -> list[psutil.Process]:
        return list(self.procs.values()) + list(self.shared.values())

    def pids(self) -> set[int]:
        return set(self.procs)

    def kill(self, extra: Callable[[], list[int]] | None = None) -> None:
        """Freeze the tree, find every descendant, then SIGKILL them all.

        Killing while a process is still starting others would orphan a child born after the
        last look. So first SIGSTOP the worker's process group (the worker leads its own
        session) and every process seen, again until no new one appears; then SIGKILL every
        process ever seen that still runs (psutil checks the creation time, so a recycled pid
        is never hit). ``extra`` lists more of the tree's processes (its control group's), read
        again at every round: a process that left both the tree and the session while the tree
        was being stopped (Ray's raylet, started with its own session) is still in the group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.root.pid, signal.SIGSTOP)
        known = -1
        while len(self.procs) != known:  # a process that left the group (setsid) is stopped too
            known = len(self.procs)
            self.refresh()
            self.add(extra() if extra else [])
            self._add_session()
            for proc in list(self.procs.values()):
                with contextlib.suppress(psutil.Error):
                    proc.suspend()
        alive = []
        for proc in self.procs.values():
            try:
                if proc.is_running():
                    proc.kill()
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=10)

    def _add_session(self) -> None:
        """Add every process of the worker's session (it leads its own) to the tree, also those
        whose parent died and left them to init: a JVM that exits while spawning leaves its
        ``jspawnhelper`` so, and the group's SIGSTOP would leave it stopped for ever."""
        started = self.root.create_time()
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                mine = os.getsid(proc.pid) == self.root.pid and proc.create_time() >= started
                if mine and proc.pid not in self.procs:
                    self.procs[proc.pid] = proc


def _alive(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
