"""Process supervision: one worker process per engine session, the socket to it, the meter of
its memory and CPU (``breakeven.accounting``), the timeout, the disk its scratch folder is on,
and the kill of its whole tree.

A failure of the worker (killed, over its budget, out of time, out of disk, dead, or out of
protocol) is a :class:`WorkerFailure` with the case status and reason that the runner records.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from breakeven.accounting import CgroupMeter, ControlGroup, Meter, OverBudget, SampledMeter
from breakeven.cpus import pinned
from breakeven.logs import log_tail
from breakeven.processes import ProcessTree
from breakeven.protocol import ACK, Fatal, M, Message, ProtocolError, SessionPlan, decode

# Kept free on the disk of a session's scratch folder, where engines spill and shuffle: a session
# that leaves less is stopped, its case recorded as crashed, before the disk fills for everyone.
# Seen: Dask processes' q3 at 1e9 rows from files wrote 41 GB of shuffle files in 18 minutes.
DISK_RESERVE = 4 * 2**30


class WorkerFailure(Exception):
    """The worker was killed or died: a case status and its reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class WorkerSession:
    """One worker process, the socket to it, and the meter of its memory and CPU."""

    def __init__(
        self,
        plan: SessionPlan,
        plan_path: Path,
        log_path: Path,
        memory_budget: int | None,
        shared: list[int] | None = None,
        group: ControlGroup | None = None,
        owns_group: bool = True,
    ) -> None:
        plan.write(plan_path)
        parent, child = socket.socketpair()
        self.sock, self.buffer, self.memory_budget = parent, b"", memory_budget
        self.log_path, self.scratch = log_path, Path(plan.scratch_dir)
        self.leaf = f"session-{plan_path.stem}"
        # The worker enters its control group, and takes its CPUs, before it starts.
        prefix = (group.join(self.leaf) if group else []) + pinned(plan.cpus)
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "breakeven.worker", str(plan_path), str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the runner only; the runner kills the tree
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )
        child.close()
        self.tree = ProcessTree(self.proc.pid, shared)
        self.group, self.owns_group = group, owns_group
        self.meter: Meter = CgroupMeter(group, memory_budget) if group else SampledMeter(self.tree, memory_budget)

    @property
    def method(self) -> str:
        return self.meter.method

    def own_pids(self) -> list[int]:
        """The session's processes by its control group (none without one): a cheap read."""
        return self.group.pids(self.leaf) if self.group else []

    def _message(self) -> Message | None:
        if b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            return decode(line)
        return None

    def next_event(self, expected: type[M] | tuple[type[M], ...], deadline: float, limit_what: str) -> M:
        """The worker's next message, which must be an ``expected`` (one of them, given a
        tuple); raises WorkerFailure on timeout, memory, death, or a message out of turn."""
        while True:
            try:
                message = self._message()
            except ProtocolError as exc:
                self.stop()
                raise WorkerFailure("crashed", f"{limit_what}: {exc}") from None
            if message is not None:
                if isinstance(message, Fatal):
                    self.proc.wait(timeout=30)
                    raise WorkerFailure(message.status, message.reason)
                if not isinstance(message, expected):
                    self.stop()
                    wanted = " or ".join(
                        repr(t.event) for t in (expected if isinstance(expected, tuple) else (expected,))
                    )
                    raise WorkerFailure("crashed", f"{limit_what}: the worker sent {message.event!r}, not {wanted}")
                return message
            ready, _, _ = select.select([self.sock], [], [], self.meter.interval)
            try:
                self.meter.poll()
            except OverBudget as over:
                self.stop()
                raise WorkerFailure("memory", f"{limit_what}: {over}") from None
            if (free := shutil.disk_usage(self.scratch).free) < DISK_RESERVE:
                self.stop()
                raise WorkerFailure(
                    "crashed",
                    f"{limit_what}: out of disk: {free / 2**30:.1f} GiB left on the disk of the session's scratch "
                    f"folder (its spills and shuffles), under the {DISK_RESERVE / 2**30:.0f} GiB kept free",
                )
            if time.monotonic() > deadline:
                self.stop()
                raise WorkerFailure("timeout", f"{limit_what} exceeded the timeout")
            if ready:
                chunk = self.sock.recv(1 << 16)
                if chunk:
                    self.buffer += chunk
                    continue
                raise WorkerFailure("crashed", self._death_reason())
            if self.proc.poll() is not None and b"\n" not in self.buffer:
                raise WorkerFailure("crashed", self._death_reason())

    def _death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.stop()
            return "worker closed its channel and hung"
        if code < 0:
            what = f"worker killed by {signal.Signals(-code).name}"
            if -code == signal.SIGKILL:
                what += f" (out of memory? the session's peak was {self.meter.peak() / 2**20:.0f} MiB)"
        else:
            what = f"worker exited with code {code}"
        return f"{what}; see {self.log_path.name}: {log_tail(self.log_path)}"

    def ack(self) -> None:
        self.sock.sendall(ACK)

    def stop(self) -> None:
        """Kill whatever is left of the tree (and of its control group) and close the channel."""
        self.tree.kill(self.own_pids)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for _ in range(2):  # a process born in the group after the tree's last look
            if not self.own_pids():
                break
            self.tree.kill(self.own_pids)
        self.sock.close()

    def close(self) -> None:
        """After ``stop``: release the meter and remove the session's control group (a cluster's
        stays with the cluster)."""
        self.meter.close()
        if self.group and self.owns_group:
            self.group.remove()


def runner_cpu() -> float:
    """CPU seconds the runner process (all its threads) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
