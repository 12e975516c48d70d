"""What a case's processes use: peak memory, CPU seconds, and the memory budget, at (almost) no
cost to the engine being measured.

On a 2-core machine every CPU-second the runner spends is taken from an engine, so the runner
does not walk the process tree to measure it. Where the machine allows it, each engine session
runs in a control group of its own, below the runner's own (``/proc/self/cgroup``): the kernel
counts every page the session's processes are charged for, keeps the peak (every spike, not
just those a sample sees), enforces the budget, and counts CPU time, also of processes that
have exited. The runner only reads a few small files. Where it does not (no cgroup tree the
runner may write, as in most containers), a sampler reads each process's resident size from
``/proc/PID/statm`` every poll and its proportional set size (PSS, a page-table walk in the
kernel) only when the total grows.

The two count different things (docs/memory.md): cgroup memory is what a container's limit
counts (anonymous memory, shared memory, and the page cache of files the session wrote or was
first to read); PSS is the resident memory of the processes, with shared pages split among
them, and no page cache.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psutil

from breakeven.errors import UsageError
from breakeven.processes import ProcessTree

CGROUP_ROOT = Path("/sys/fs/cgroup")
METHODS = ("auto", "cgroup", "sampled")
# Methods as the records name them.
CGROUP_V1, CGROUP_V2, SAMPLED = "cgroup-v1", "cgroup-v2", "sampled-pss"
PAGE = os.sysconf("SC_PAGE_SIZE")
TREE_REFRESH_SECONDS = 1.0  # the sampler looks for new processes this often
PSS_GROWTH = 1.05  # ... and measures PSS when the resident total grew by this factor since it last did,
PSS_SHARE = 0.01  # ... if PSS walks have so far taken at most this share of the time


class OverBudget(Exception):
    """The session used more memory than its budget: the reason says how much."""


# -- control groups ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Hierarchy:
    """Where the runner's own control group is, for memory and for CPU accounting."""

    version: int
    memory: Path  # the runner's own memory cgroup (v2: its only cgroup)
    cpu: Path | None  # v1: the runner's own cpuacct cgroup, if that controller is mounted

    @classmethod
    def find(cls) -> Hierarchy | str:
        """The runner's control groups, or why they cannot be used."""
        own: dict[str, str] = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path.lstrip("/")
        mounts = _cgroup_mounts()
        if "memory" in own and "memory" in mounts:  # v1 (or hybrid) with the memory controller
            cpu = mounts["cpuacct"] / own["cpuacct"] if "cpuacct" in own and "cpuacct" in mounts else None
            return cls(1, mounts["memory"] / own["memory"], cpu)
        if "" in own and "" in mounts:  # v2: one tree; memory must be delegated to our children
            base = mounts[""] / own[""]
            controllers = (base / "cgroup.controllers").read_text().split() if base.exists() else []
            if "memory" not in controllers:
                return "the memory controller is not available in this control group"
            return cls(2, base, None)
        return "no cgroup memory controller is mounted"


def _cgroup_mounts() -> dict[str, Path]:
    """Controller name ('' for the v2 tree) -> mount point."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, options = right.split(" ", 2)
        mount = Path(left.split(" ")[4])
        if fstype == "cgroup2":
            found.setdefault("", mount)
        elif fstype == "cgroup":
            for opt in options.split(","):
                if opt in ("memory", "cpuacct"):
                    found.setdefault(opt, mount)
    return found


_names = itertools.count(1)


class ControlGroup:
    """A memory (and CPU accounting) control group of breakeven's, below the runner's own.

    Processes join its leaves (``join``), never the group itself: cgroup v2 allows processes
    only in leaves of a tree with controllers. The group's memory limit is the budget; its
    peak, CPU time and count of out-of-memory kills cover every leaf."""

    def __init__(self, hierarchy: Hierarchy, memory_limit: int | None) -> None:
        self.h = hierarchy
        name = f"breakeven-{os.getpid()}-{next(_names)}"
        self.dirs: list[Path] = []
        if hierarchy.version == 2:
            _enable_memory(hierarchy.memory)
        self.memory = self._mkdir(hierarchy.memory / name)
        self.cpu = self._mkdir(hierarchy.cpu / name) if hierarchy.cpu else None
        if hierarchy.version == 2:
            _enable_memory(self.memory)
        if memory_limit:
            self._write(self.memory, "memory.max" if hierarchy.version == 2 else "memory.limit_in_bytes", memory_limit)
        if hierarchy.version == 2:  # no swap: a session over its budget is killed, not swapped out
            with contextlib.suppress(OSError):
                self._write(self.memory, "memory.swap.max", 0)
        self.leaves: list[Path] = []
        self._peak_fd: int | None = None
        self.oom_base = self.oom_kills()

    @property
    def method(self) -> str:
        return CGROUP_V2 if self.h.version == 2 else CGROUP_V1

    def _mkdir(self, path: Path) -> Path:
        path.mkdir()
        self.dirs.append(path)
        return path

    @staticmethod
    def _write(folder: Path, name: str, value: object) -> None:
        (folder / name).write_text(f"{value}\n")

    def join(self, leaf: str) -> list[str]:
        """A command prefix that puts the command's process into leaf ``leaf`` before it starts,
        so that everything it allocates, and every process it starts, is counted here."""
        procs = [self._mkdir(self.memory / leaf) / "cgroup.procs"]
        if self.cpu:
            procs.append(self._mkdir(self.cpu / leaf) / "cgroup.procs")
        self.leaves.append(self.memory / leaf)
        script = (
            'for f in "$@"; do case $f in --) break;; esac; echo $$ > "$f" || exit 97; shift; done; shift; exec "$@"'
        )
        return ["/bin/sh", "-c", script, "cgroup-join", *map(str, procs), "--"]

    def pids(self, leaf: str | None = None) -> list[int]:
        """The processes in leaf ``leaf``, or in every leaf."""
        found = []
        for path in [self.memory / leaf] if leaf else self.leaves:
            with contextlib.suppress(OSError):
                found += [int(p) for p in (path / "cgroup.procs").read_text().split()]
        return found

    def oom_kills(self) -> int:
        """Processes the kernel killed in this group for want of memory. v2 counts them in every
        ancestor of the victim's group; v1 only in the victim's own (a leaf), so leaves are added."""
        if self.h.version == 2:
            return _counter(self.memory / "memory.events", "oom_kill")
        return sum(_counter(path / "memory.oom_control", "oom_kill") for path in [self.memory, *self.leaves])

    def reset_peak(self) -> None:
        """Start a new peak at the current usage."""
        if self.h.version == 1:
            self._write(self.memory, "memory.max_usage_in_bytes", 0)
            return
        if self._peak_fd is not None:
            os.close(self._peak_fd)
        # A write resets the peak for reads through the same descriptor (Linux 6.12 and newer).
        self._peak_fd = os.open(self.memory / "memory.peak", os.O_RDWR)
        with contextlib.suppress(OSError):
            os.write(self._peak_fd, b"reset\n")

    def peak(self) -> int:
        if self.h.version == 1:
            return int((self.memory / "memory.max_usage_in_bytes").read_text())
        if self._peak_fd is None:
            return int((self.memory / "memory.peak").read_text())
        return int(os.pread(self._peak_fd, 64, 0))

    def cpu_seconds(self) -> float:
        if self.h.version == 1:
            return int((self.cpu / "cpuacct.usage").read_text()) / 1e9 if self.cpu else 0.0
        for line in (self.memory / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return 0.0

    def remove(self) -> None:
        """Remove the group once its processes are gone (they are killed before this)."""
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        for path in reversed(self.dirs):
            for _ in range(50):  # a killed process leaves its group a moment after it died
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _counter(path: Path, name: str) -> int:
    """The value of ``name`` in a flat-keyed cgroup file; 0 if absent (or the leaf is gone)."""
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    return 0


def _enable_memory(folder: Path) -> None:
    """cgroup v2: let ``folder``'s children have the memory (and cpu) controllers."""
    control = folder / "cgroup.subtree_control"
    if "memory" not in control.read_text().split():
        control.write_text("+memory\n")


def remove_stale(hierarchy: Hierarchy) -> None:
    """Remove the groups of breakeven runners that died without removing them (SIGKILL): only
    empty ones, named for a process that no longer runs."""
    for base in filter(None, (hierarchy.memory, hierarchy.cpu)):
        for group in base.glob("breakeven-*-*"):
            pid = group.name.split("-")[1]
            if not pid.isdigit() or psutil.pid_exists(int(pid)):
                continue
            for leaf in sorted(group.glob("*/"), reverse=True):
                with contextlib.suppress(OSError):
                    leaf.rmdir()
            with contextlib.suppress(OSError):
                group.rmdir()


def control_group(memory_limit: int | None) -> ControlGroup | str:
    """A new control group for a session, or why there cannot be one here."""
    found = Hierarchy.find()
    if isinstance(found, str):
        return found
    try:
        return ControlGroup(found, memory_limit)
    except OSError as exc:
        return f"cannot make a control group below {found.memory} ({exc.strerror or exc})"


@cache
def choose_method(asked: str, budget: int | None) -> tuple[str, str | None]:
    """The method that will measure a run asked for ``asked`` (``auto``, ``cgroup``, ``sampled``):
    ``cgroup-v1``, ``cgroup-v2`` or ``sampled-pss``, and why it is not a control group, if it is
    not. ``cgroup`` that cannot be is an error. Probed once a process (the CLI, the run's
    metadata and the runner all ask), which is also when stale groups are swept."""
    if asked == "sampled":
        return SAMPLED, "asked for (--memory-method sampled)"
    probe = control_group(budget)
    if isinstance(probe, str):
        if asked == "cgroup":
            raise UsageError(f"--memory-method cgroup: {probe}; use --memory-method sampled (or auto)")
        return SAMPLED, probe
    probe.remove()
    remove_stale(probe.h)
    return probe.method, None


# -- meters -----------------------------------------------------------------------------------
class Meter:
    """Peak memory and CPU seconds of a session, from ``mark()`` on; ``poll()`` raises
    :class:`OverBudget` when the session is over its budget."""

    method: str
    interval: float  # seconds between polls, while the worker is silent

    def poll(self) -> None:
        raise NotImplementedError

    def mark(self) -> None:
        raise NotImplementedError

    def peak(self) -> int:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027  (an optional hook)
        """Release what the meter holds open."""


class CgroupMeter(Meter):
    """Everything from the kernel's counters, which enforces the budget itself: a poll only looks
    for a process it killed (one small file per leaf), and need not come often."""

    interval = 0.25

    def __init__(self, group: ControlGroup, budget: int | None) -> None:
        self.group, self.budget, self.method = group, budget, group.method
        self.cpu_base = group.cpu_seconds()

    def poll(self) -> None:
        kills = self.group.oom_kills()
        if kills > self.group.oom_base:
            self.group.oom_base = kills
            raise OverBudget(
                f"the kernel killed a process of the session at its memory limit of {_mib(self.budget)} "
                f"(control group peak {_mib(self.group.peak())})"
            )

    def mark(self) -> None:
        self.group.reset_peak()
        self.cpu_base = self.group.cpu_seconds()

    def peak(self) -> int:
        return self.group.peak()

    def cpu_seconds(self) -> float:
        return max(0.0, self.group.cpu_seconds() - self.cpu_base)


class SampledMeter(Meter):
    """Resident size from ``statm`` of every known process each poll (a few microseconds each);
    the tree's PSS (a page-table walk: milliseconds for a JVM) when the resident total grew by
    ``PSS_GROWTH`` since PSS was last measured, as long as PSS walks have taken at most
    ``PSS_SHARE`` of the time so far, and always when the resident total passed the budget (so
    that a kill is decided on PSS); new processes looked for once a second. The cost is so
    bounded; the peak is the highest PSS measured: a spike shorter than a poll, or while the
    walks are over their share, is missed."""

    method = SAMPLED
    interval = 0.05  # a spike shorter than this is missed

    def __init__(self, tree: ProcessTree, budget: int | None) -> None:
        self.tree, self.budget = tree, budget
        self.statm: dict[int, int] = {}  # pid -> an open /proc/PID/statm: a read is then a few microseconds
        self.cpu: dict[int, float] = {}
        self.cpu_base: dict[int, float] = {}
        self.high = 0  # peak PSS in the window
        self.rss_checked = 0  # resident total when PSS was last measured
        self.refreshed = 0.0
        self.started = time.monotonic()
        self.pss_seconds = 0.0  # spent in PSS walks since ``started``

    def poll(self) -> None:
        now = time.monotonic()
        if now - self.refreshed > TREE_REFRESH_SECONDS:
            self.tree.refresh()
            self._cpu()
            self.refreshed = now
        rss = self._resident()
        over = self.budget is not None and rss > self.budget
        affordable = self.pss_seconds <= PSS_SHARE * (now - self.started)
        if over or (rss > self.rss_checked * PSS_GROWTH and affordable):
            pss = self._pss()
            self.rss_checked, self.high = rss, max(self.high, pss)
            if self.budget is not None and pss > self.budget:
                raise OverBudget(f"process tree used {_mib(pss)} (PSS), over the budget of {_mib(self.budget)}")

    def _resident(self) -> int:
        """The resident size of every known process, from ``statm`` (its second field, in pages)."""
        total = 0
        for proc in self.tree.measured():
            fd = self.statm.get(proc.pid)
            if fd is None:
                try:
                    fd = self.statm[proc.pid] = os.open(f"/proc/{proc.pid}/statm", os.O_RDONLY)
                except OSError:
                    continue
            try:
                total += int(os.pread(fd, 128, 0).split()[1]) * PAGE
            except (OSError, IndexError, ValueError):  # the process has exited
                continue
        return total

    def close(self) -> None:
        for fd in self.statm.values():
            os.close(fd)
        self.statm.clear()

    def _pss(self) -> int:
        start = time.monotonic()
        total = 0
        for proc in self.tree.measured():
            with contextlib.suppress(psutil.Error):
                try:
                    total += proc.memory_full_info().pss
                except (psutil.AccessDenied, AttributeError):
                    total += proc.memory_info().rss
        self.pss_seconds += time.monotonic() - start
        return total

    def _cpu(self) -> None:
        for proc in self.tree.measured():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                self.cpu[proc.pid] = times.user + times.system

    def mark(self) -> None:
        self.tree.refresh()
        self._cpu()
        self.cpu_base = dict(self.cpu)
        self.high = self._pss()
        self.rss_checked = self._resident()

    def peak(self) -> int:
        return max(self.high, self._pss())

    def cpu_seconds(self) -> float:
        self.tree.refresh()
        self._cpu()
        return sum(max(0.0, t - self.cpu_base.get(pid, 0.0)) for pid, t in self.cpu.items())


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value else "none"
