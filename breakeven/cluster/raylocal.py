"""A Ray cluster of several nodes on 127.0.0.1, for the local launcher.

Why not ``ray start``: Ray 2.60 resolves 127.0.0.1 to the machine's outward address when a node
joins with ``ray start --address`` (``resolve_ip_for_localhost``), and a node whose IP is not
127.0.0.1 binds its GCS, raylet and object manager on every interface (measured here with
``ss -ltn``). Loopback-only binding needs ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes
``ray start`` refuse to add worker nodes. Ray's own multi-node-on-one-machine facility,
``ray.cluster_utils.Cluster`` (https://docs.ray.io/en/latest/ray-core/examples/testing-tips.html,
tip 4), starts the same processes (a head with the GCS and dashboard, and per node a raylet with
its own object store and workers) with the node IP 127.0.0.1. The compose services, one node per
container, use ``ray start`` (see roles.py).

Run as ``python -m breakeven.cluster.raylocal SPEC.json``; writes ``ready.json`` next to the
spec when every node has joined, and shuts the cluster down on SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from breakeven.files import write_json_atomic


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    # ``Cluster`` writes the head's address to ``<system temp>/ray/ray_current_cluster`` whatever
    # its temp_dir, and fails when that folder does not exist (a machine where Ray never ran
    # with its defaults). RAY_TMPDIR moves that file into the cluster's own folder.
    os.environ["RAY_TMPDIR"] = spec["workdir"]
    (Path(spec["workdir"]) / "ray").mkdir(parents=True, exist_ok=True)
    from ray.cluster_utils import Cluster

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # handled below
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,  # the head runs the GCS and the dashboard; the worker nodes run the tasks
            "gcs_server_port": spec["port"],
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": spec["dashboard_port"],
            "ray_client_server_port": None,  # no Ray Client proxy: drivers connect to the GCS
            "temp_dir": spec["workdir"],
        },
    )
    try:
        for _ in range(spec["workers"]):
            cluster.add_node(
                num_cpus=spec["cores"],
                memory=spec["memory"],
                object_store_memory=int(spec["memory"] * 0.3),  # Ray's default share
            )
        cluster.wait_for_nodes()
        write_json_atomic(
            Path(spec_path).with_name("ready.json"),
            {"address": cluster.gcs_address, "dashboard": cluster.head_node.webui_url},
        )
        print(f"ray: {spec['workers']} worker nodes joined the head at {cluster.gcs_address}", flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
