"""The clusters of one run: a cluster at a given address, or local clusters that the run starts
and stops, one topology at a time, each in a control group that its sessions join."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from breakeven.accounting import ControlGroup
from breakeven.cluster.launcher import LocalCluster
from breakeven.cluster.plan import ClusterPlan
from breakeven.cpus import pinned
from breakeven.events import ClusterStarting, ClusterUp, Listener
from breakeven.logs import keep_logs
from breakeven.network import NONE


class RunClusters:
    """``use(topology)`` makes that topology's cluster the current one; ``down()`` stops it.

    ``info`` is what the plan and the records say of the current cluster, ``roots`` the pids of
    a local cluster's servers (measured with a session, never killed with it), ``group`` its
    control group (None where the run samples memory), and ``seen_pids`` every process of every
    cluster stopped, for leak checks."""

    def __init__(
        self,
        plan: ClusterPlan | None,
        log_dir: Path,
        emit: Listener,
        new_group: Callable[[], ControlGroup | None],
        cpus: list[int] | None = None,
    ) -> None:
        self.plan, self.log_dir, self.emit, self.new_group = plan, log_dir, emit, new_group
        self.cpus = cpus  # the CPUs a local cluster's servers may use (``breakeven.cpus``)
        self.local: LocalCluster | None = None
        self.info: dict[str, Any] | None = None
        self.roots: list[int] = []
        self.group: ControlGroup | None = None
        self.seen_pids: set[int] = set()

    def use(self, topology: str) -> str | None:
        """Make the cluster of ``topology`` the current one (starting it if local); None, or why not."""
        plan = self.plan
        if plan is None:
            return "the cluster mode needs a cluster: pass --cluster or --cluster-address"
        if plan.address:
            host = plan.address.split("://")[-1].rsplit(":", 1)[0]
            self.info = {
                "kind": "external",  # not managed by breakeven: local, compose or real
                "address": plan.address,
                "loopback": host in ("localhost", "::1") or host.startswith("127."),
                "topology": None,
                "secret_file": plan.secret_file,
                "network_rate": plan.network_rate,
            }
            return None
        if self.local is not None and self.info and self.info["label"] == topology:
            return None
        self.down()
        self.group = self.new_group()
        prefix = (self.group.join("servers") if self.group else []) + pinned(self.cpus)
        state_dir = Path(tempfile.mkdtemp(prefix="breakeven-state-"))
        cluster = LocalCluster(plan.engine, plan.topology(topology), state_dir, argv_prefix=prefix)
        self.emit(ClusterStarting(plan.engine, topology))
        try:
            state = cluster.up()
        except Exception as exc:  # recorded on every case that needed it (ClusterError: one line)
            self._keep_logs(cluster, topology)
            self._remove_group()
            return f"the {plan.engine} cluster {topology} did not start: {exc}"
        self.local = cluster
        self.roots = [p["pid"] for p in state.processes if not p.get("child")]
        self.info = {
            "kind": "local",  # started and stopped by this run, on 127.0.0.1
            "loopback": True,
            "label": topology,
            "address": state.url,
            "dashboard": f"http://{state.dashboard}",
            "topology": state.topology,
            "startup_seconds": state.startup_seconds,
            "secret_file": state.secret_file,
            "network_rate": plan.network_rate,  # its loopback's, in the run's namespace (breakeven.network)
        }
        rate = plan.network_rate if plan.network_rate != NONE else None
        self.emit(ClusterUp(plan.engine, topology, state.startup_seconds, rate))
        return None

    def down(self) -> None:
        """Stop the local cluster that is up, if any, keeping its logs."""
        if self.local is None:
            return
        label = self.info["label"] if self.info else "cluster"
        self.seen_pids |= set(self.local.down())
        self._keep_logs(self.local, label)
        self.local, self.info, self.roots = None, None, []
        self._remove_group()

    def _remove_group(self) -> None:
        if self.group is not None:
            self.group.remove()
            self.group = None

    def _keep_logs(self, cluster: LocalCluster, label: str) -> None:
        """The servers' and the engine's logs go to the run's logs; the state folder is deleted."""
        cluster.down()
        keep_logs(cluster.dir, self.log_dir / f"cluster-{cluster.engine}@{label}")
