"""A network that costs what a real one costs: a network namespace of breakeven's own, whose only
interface, its loopback, is rate-limited.

On one machine every local cluster talks over loopback at several GB/s; a real cluster's
shuffle crosses a network of 1 to 25 Gbit/s. ``--network-rate 1gbit`` runs the cluster and the
driver in a namespace made for the run (``ip netns add breakeven-...``), whose loopback has an
MTU of 1500, as an Ethernet link, and a token bucket filter of that rate
(``tc qdisc add dev lo root tbf``: https://man7.org/linux/man-pages/man8/tc-tbf.8.html). The
kernel here has no ``netem``, so there is no added latency: only the bandwidth is a real
network's. Nothing in the namespace can reach any other address: it has no other interface.

The process enters the namespace with ``setns(2)`` before it starts anything, so every process
and thread it starts afterwards is inside too; only namespaces whose names breakeven made
(``breakeven-`` and 8 hex digits) are ever deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from breakeven.errors import UsageError

NONE = "none"  # the default: the machine's own loopback, unlimited
PREFIX = "breakeven-"
NETNS_DIR = Path("/run/netns")
MTU = 1500  # with loopback's own 65536 and a small burst, tbf drops every large packet
UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
_RATE = re.compile(r"(\d+(?:\.\d+)?)([kmg]?)bit")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def parse_rate(text: str) -> int | None:
    """Bits per second of ``1gbit``, ``10gbit``, ``500mbit`` (tc's units); None for ``none``."""
    if text == NONE:
        return None
    match = _RATE.fullmatch(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"bad network rate {text!r}: write none, or a rate such as 500mbit, 1gbit, 10gbit")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def burst_bytes(bits_per_second: int) -> int:
    """tbf's bucket: at least a tick's worth of bytes at the rate (a tick of 4 ms, HZ=250, the
    usual kernel's), and never below 64 KiB, else large packets are dropped."""
    return max(64 * 2**10, bits_per_second // 8 // 250)


@dataclass(frozen=True)
class Namespace:
    """A network namespace of breakeven's, and its loopback's rate (``none``: unlimited)."""

    name: str
    rate: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def _fail(what: str, done: subprocess.CompletedProcess[str]) -> str:
    text = (done.stderr or done.stdout).strip().splitlines()
    return f"{what}: {text[0] if text else f'exit {done.returncode}'}"


def create(rate: str) -> Namespace:
    """A new namespace whose loopback is up, at MTU 1500, limited to ``rate`` (``none``: as is).
    Raises UsageError with the missing piece and its fix; leaves nothing behind when it fails."""
    bits = parse_rate(rate)
    for tool, package in (("ip", "iproute2"), ("tc", "iproute2")):
        if shutil.which(tool) is None:
            raise UsageError(f"--network-rate needs `{tool}`: apt-get install {package}")
    ns = Namespace(PREFIX + secrets.token_hex(4), rate)
    made = _run("ip", "netns", "add", ns.name)
    if made.returncode != 0:
        raise UsageError(
            _fail("cannot make a network namespace", made) + " (it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        )
    lo = ("ip", "-n", ns.name, "link", "set", "lo")
    steps = [(*lo, "mtu", str(MTU)), (*lo, "up")]
    if bits is not None:
        steps.append(
            (
                "tc",
                "-n",
                ns.name,
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                str(burst_bytes(bits)),
                "latency",
                "50ms",
            )  # fmt: skip
        )
    for argv in steps:
        done = _run(*argv)
        if done.returncode != 0:
            delete(ns)
            raise UsageError(_fail(f"`{' '.join(argv[:1] + argv[3:])}` refused", done))
    return ns


def delete(ns: Namespace) -> None:
    """Remove a namespace breakeven made (its processes keep it until they exit)."""
    if not re.fullmatch(rf"{PREFIX}[0-9a-f]{{8}}", ns.name):
        raise ValueError(f"{ns.name} is not a network namespace breakeven made")
    _run("ip", "netns", "delete", ns.name)


def enter(ns: Namespace) -> None:
    """Move the calling thread (and so everything it starts from now on) into ``ns``."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open(ns.path, os.O_RDONLY)
    except FileNotFoundError:
        raise UsageError(f"the network namespace {ns.name} is gone: take its cluster down and up again") from None
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise UsageError(f"cannot enter the network namespace {ns.name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in(ns: Namespace, fn: Callable[[], T]) -> T:
    """``fn()`` in a thread of its own inside ``ns`` (a thread's namespace is its own), leaving
    the caller where it is; returns its result or raises its exception."""
    out: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            enter(ns)
            out.append(fn())
        except BaseException as exc:  # handed to the caller
            error.append(exc)

    thread = threading.Thread(target=target, name=f"in-{ns.name}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return out[0]


@contextlib.contextmanager
def joined(rate: str, netns: str | None = None) -> Iterator[Namespace | None]:
    """The calling process inside a network whose loopback has ``rate``, for the block: a new
    namespace, deleted after it (``none``: the machine's own network, left as it is), or, given
    ``netns``, a running cluster's, which stays."""
    if netns is not None:
        ns = Namespace(netns, rate)
        enter(ns)
        yield ns
        return
    if rate == NONE:
        yield None
        return
    ns = create(rate)
    try:
        enter(ns)
        yield ns
    finally:
        delete(ns)


def current() -> str:
    """The calling thread's network namespace, as the kernel names it (``net:[4026531840]``)."""
    return os.readlink("/proc/thread-self/ns/net")
