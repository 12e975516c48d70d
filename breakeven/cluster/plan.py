"""What a cluster is, before and after it runs: its topologies (``2x1``), a run's cluster plan
(local clusters of those topologies, or the address of a running one), and the state that
``breakeven cluster up`` records (``state.json``), by which later commands find it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakeven.cluster.roles import DEFAULT_PORTS
from breakeven.engines import cluster_engines, registry
from breakeven.errors import UsageError
from breakeven.files import read_json
from breakeven.network import NONE, parse_rate

ENGINES = tuple(DEFAULT_PORTS)  # the engines with clusters of their own


class ClusterError(Exception):
    """A cluster could not start or be reached: one line naming the port or the missing piece."""


@dataclass(frozen=True)
class Topology:
    """Workers, cores per worker and memory per worker (bytes): ``2x1`` is two one-core workers."""

    workers: int
    cores: int
    memory: int

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.cores}"

    @staticmethod
    def shape(text: str) -> tuple[int, int] | None:
        """``2x1`` -> (2, 1): workers and cores per worker; None for anything else (``external``)."""
        try:
            workers, cores = (int(part) for part in text.lower().split("x"))
        except ValueError:
            return None
        return workers, cores

    @classmethod
    def parse(cls, text: str, memory_total: int) -> Topology:
        """'2x1' -> two workers of one core, each with half of ``memory_total``."""
        shape = cls.shape(text)
        if shape is None:
            raise UsageError(f"bad topology {text!r}: write WORKERSxCORES, e.g. 2x1")
        workers, cores = shape
        if workers < 1 or cores < 1:
            raise UsageError(f"bad topology {text!r}: workers and cores must be at least 1")
        return cls(workers, cores, memory_total // workers)


@dataclass(frozen=True)
class ClusterPlan:
    """The run's cluster: local clusters the runner starts, one topology at a time, or the address
    of a running one (``external``) that the runner uses without managing it."""

    engine: str
    topologies: tuple[Topology, ...] = ()
    address: str | None = None
    secret_file: str | None = None
    # Its network (``breakeven.network``): the loopback's rate, and for a running cluster that
    # ``breakeven cluster up --network-rate`` started, the namespace it runs in.
    network_rate: str = NONE
    netns: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return ("external",) if self.address else tuple(t.label for t in self.topologies)

    def topology(self, label: str) -> Topology:
        return next(t for t in self.topologies if t.label == label)


def same_resources(cores: int, memory_total: int) -> list[Topology]:
    """Topologies with the same total cores and memory: one worker of N cores, N workers of one
    core, and two workers of N/2 (when N is even and above 2), so no topology has more hardware."""
    shapes = [(1, cores), (cores, 1)]
    if cores > 2 and cores % 2 == 0:
        shapes.append((2, cores // 2))
    unique = list(dict.fromkeys(shapes))
    return [Topology(w, c, memory_total // w) for w, c in unique]


# An address's scheme -> its engine (``tcp://`` is Dask's, ``spark://`` Spark's; Ray's has none).
SCHEMES = {
    kind.scheme.split(":")[0]: name
    for name, cls in cluster_engines().items()
    if (kind := cls.cluster_kind) is not None and kind.scheme
}


def cluster_plan(
    cluster: str | None,
    address: str | None,
    secret_file: Path | None,
    topologies: list[str] | None,
    cores: int,
    memory_total: int,
    network_rate: str = NONE,
) -> ClusterPlan | None:
    """The run's cluster: local ones of the given (or same-resource) topologies, or an address."""
    parse_rate(network_rate)  # a bad rate is one line, before anything
    if not cluster and not address:
        if topologies:
            raise UsageError("--topology needs --cluster ENGINE")
        if network_rate != NONE:
            raise UsageError("--network-rate needs --cluster ENGINE: the clusters and their drivers share the network")
        return None
    if cluster and cluster not in ENGINES:
        raise UsageError(f"unknown cluster engine {cluster!r}: use one of {', '.join(ENGINES)}")
    if address:
        scheme = address.split("://")[0] if "://" in address else None
        engine = cluster or SCHEMES.get(scheme or "")
        if engine is None:
            raise UsageError(f"which engine is at {address}? add --cluster dask, spark or ray")
        if topologies:
            raise UsageError("--topology is for clusters breakeven starts; a given address has its own")
        if network_rate != NONE:
            raise UsageError(
                "a running cluster's network is its own: start it with breakeven cluster up --network-rate RATE"
            )
        known = known_state(engine, address)
        if secret_file is None and known:  # a cluster started by ``breakeven cluster up`` has its secret on file
            secret_file = Path(known.secret_file)
        return ClusterPlan(
            engine,
            address=address,
            secret_file=str(secret_file) if secret_file else None,
            network_rate=known.network_rate if known else NONE,
            netns=known.netns if known else None,
        )
    assert cluster is not None
    shapes = (
        [Topology.parse(t, memory_total) for t in topologies] if topologies else same_resources(cores, memory_total)
    )
    for topo in shapes:
        if topo.workers * topo.cores != cores:
            raise UsageError(
                f"topology {topo.label} has {topo.workers * topo.cores} cores, the run has {cores} (--cores): "
                "every topology gets the same total, so that none is credited for more hardware"
            )
    return ClusterPlan(cluster, tuple(dict.fromkeys(shapes)), network_rate=network_rate)


def default_state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "breakeven" / "clusters"


@dataclass
class ClusterState:
    """What ``up`` records and ``status`` and ``down`` read (never the secret itself)."""

    engine: str
    cluster_id: str
    topology: dict[str, int]
    address: str
    dashboard: str
    secret_file: str
    workdir: str = ""  # spill, shuffle and Ray session files: a short path under /tmp (Unix sockets)
    processes: list[dict[str, Any]] = field(default_factory=list)
    startup_seconds: float | None = None
    started_at: float = field(default_factory=time.time)
    network_rate: str = NONE  # its loopback's rate (breakeven.network)
    netns: str | None = None  # the network namespace it runs in, where not the machine's own

    @property
    def url(self) -> str:
        return registry()[self.engine].cluster_kind.scheme + self.address  # type: ignore[union-attr]


def load_state(state_dir: Path) -> ClusterState:
    return ClusterState(**read_json(state_dir / "state.json"))


def known_state(engine: str, address: str, root: Path | None = None) -> ClusterState | None:
    """The state of the cluster that ``breakeven cluster up`` started at ``address``, if any."""
    folder = (root or default_state_root()) / engine
    if not (folder / "state.json").exists():
        return None
    state = load_state(folder)
    return state if address in (state.url, state.address) else None
