"""cluster/ checked statically (no Docker engine runs here): the compose file against the Compose
Specification, the Dockerfile with hadolint, and both against the code: every server service runs
``breakeven cluster serve ROLE`` with a role whose command builds, ports are published on
127.0.0.1 only, and the image installs the client's pinned versions."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from breakeven.cluster import compose as podman
from breakeven.cluster import roles
from breakeven.cluster.cli import _host

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "cluster" / "docker-compose.yml"
DOCKERFILE = ROOT / "cluster" / "Dockerfile"
CONSTRAINTS = ROOT / "constraints.txt"
ENGINE_PACKAGES = ("pandas", "polars", "duckdb", "dask", "distributed", "pyspark", "ray", "pyarrow", "numpy")


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def resolve(value: str) -> str:
    """Compose's ``${VAR:-default}`` with no variable set: the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def test_compose_file_follows_the_compose_specification() -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_server_runs_a_role_whose_command_builds(tmp_path: Path) -> None:
    services = compose()["services"]
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    seen = set()
    for name, svc in services.items():
        command = svc["command"]
        if name == "bench":
            assert command[:2] == ["breakeven", "run"]
            continue
        assert command == ["breakeven", "cluster", "serve", name], f"{name} must run its own role"
        assert name in roles.ROLES
        env = {k: resolve(v) for k, v in svc["environment"].items()}
        opts = roles.ServeOptions(
            host=_host(env["BREAKEVEN_HOST"]) if env["BREAKEVEN_HOST"] == "auto" else "10.0.0.5",
            port=int(env.get("BREAKEVEN_PORT", 0)),
            dashboard_port=int(env.get("BREAKEVEN_DASHBOARD_PORT", 0)),
            scheduler=env.get("BREAKEVEN_SCHEDULER"),
            cores=int(env.get("BREAKEVEN_CORES", 1)),
            workdir=tmp_path / name,
            secret_file=secret,  # stands for /run/secrets/cluster_secret
        )
        argv, extra = roles.command(name, opts)
        engine = name.split("-")[0]
        assert Path(argv[0]).name in {"dask": {"dask"}, "spark": {"spark-class"}, "ray": {"ray"}}[engine]
        assert "s3cret" not in " ".join(argv), "a secret on a command line is visible in ps"
        if engine == "ray":
            assert extra["RAY_AUTH_MODE"] == "token" and extra["RAY_AUTH_TOKEN_PATH"] == str(secret)
        if engine == "spark":
            props = Path(argv[argv.index("--properties-file") + 1])
            assert "spark.authenticate true" in props.read_text() and oct(props.stat().st_mode & 0o777) == "0o600"
        seen.add(name)
    assert seen == set(roles.ROLES)


def test_profiles_ports_health_and_one_image() -> None:
    doc = compose()
    services = doc["services"]
    for engine, (port, dash) in roles.DEFAULT_PORTS.items():
        members = {name for name, svc in services.items() if engine in svc.get("profiles", [])}
        head = {"dask": "dask-scheduler", "spark": "spark-master", "ray": "ray-head"}[engine]
        assert members == {head, f"{engine}-worker", "bench"}
        assert services[head]["ports"] == [f"127.0.0.1:{port}:{port}", f"127.0.0.1:{dash}:{dash}"]
        probe = services[head]["healthcheck"]["test"]
        assert probe[:5] == ["CMD", "breakeven", "cluster", "probe", engine]
        assert services[f"{engine}-worker"]["depends_on"] == {head: {"condition": "service_healthy"}}
        assert "ports" not in services[f"{engine}-worker"], "workers scale with --scale: no fixed host ports"
    for svc in services.values():
        assert svc["image"] == "breakeven-cluster:local"
        assert svc["build"] == {"context": "..", "dockerfile": "cluster/Dockerfile"}
        for mapping in svc.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"port {mapping} is published beyond 127.0.0.1"
        assert svc["secrets"] == ["cluster_secret"]
    assert resolve(doc["secrets"]["cluster_secret"]["file"]) == "./secret"


def test_image_installs_the_clients_pinned_versions() -> None:
    text = DOCKERFILE.read_text()
    assert f"ARG PYTHON_VERSION={sys.version_info.major}.{sys.version_info.minor}" in text
    assert 'pip install -c constraints.txt ".[all]"' in text
    lines = CONSTRAINTS.read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    for package in ENGINE_PACKAGES:
        assert pins.get(package) == importlib.metadata.version(package), (
            f"{package}: constraints.txt pins {pins.get(package)}, this client has "
            f"{importlib.metadata.version(package)}; install with -c constraints.txt or regenerate it"
        )


@pytest.mark.parametrize("path", [".ci/run", "README.md"])
def test_client_installs_use_the_constraints(path: str) -> None:
    installs = [line for line in (ROOT / path).read_text().splitlines() if "pip install -e" in line]
    assert installs and all("-c constraints.txt" in line for line in installs)


def test_the_loopback_override_puts_every_service_in_one_namespace_without_published_ports() -> None:
    """cluster/compose.loopback.yml, for hosts without bridge networks (podman here): every service
    of the compose file in the namespace BREAKEVEN_NETNS names, its peers' names on 127.0.0.1,
    no port published (``!reset``), no YAML anchors (podman-compose 1.6 crashes on them)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reset", lambda loader, node: {"reset": loader.construct_sequence(node)})
    text = (ROOT / "cluster" / "compose.loopback.yml").read_text()
    override = yaml.load(text, Loader=Loader)  # noqa: S506  (a SafeLoader with one tag more)
    assert "&" not in text and "<<:" not in text
    services = compose()["services"]
    assert set(override["services"]) == set(services)
    heads = {"dask-scheduler", "spark-master", "ray-head"}
    for name, svc in override["services"].items():
        assert re.fullmatch(r"ns:/run/netns/\$\{BREAKEVEN_NETNS:\?[^}]+\}", svc["network_mode"]), name
        assert {h.split(":")[0] for h in svc["extra_hosts"]} >= heads and all(
            h.endswith(":127.0.0.1") for h in svc["extra_hosts"]
        )
        if "ports" in services[name]:
            assert svc["ports"] == {"reset": []}, f"{name} publishes ports in the namespace"
        if name in heads or name == "bench":
            assert svc["hostname"] == name and (name in heads or f"{name}:127.0.0.1" in svc["extra_hosts"])
    assert override["x-podman"] == {"in_pod": False}
    # breakeven cluster compose: the addresses bench uses are heads' names in the override
    for engine, address in podman.ADDRESS.items():
        head = address.split("://")[-1].split(":")[0]
        assert head in heads and f"{engine}-worker" in services


RAY_STATUS = """\
======== Autoscaler status: 2026-12-01 02:40:00.000000 ========
Node status
---------------------------------------------------------------
Active:
 1 node_4c1f0e6a0d7d2b8f
 1 node_8a2b3c4d5e6f7a8b
 1 node_9d3e1f2a3b4c5d6e
Pending:
 (no pending nodes)
Recent failures:
 (no failures)
"""


def test_the_ray_probe_counts_worker_nodes_without_the_head() -> None:
    assert roles.ray_worker_nodes(RAY_STATUS) == 2
    assert roles.ray_worker_nodes(RAY_STATUS.replace(" 1 node_9d3e1f2a3b4c5d6e\n", "")) == 1
    assert roles.ray_worker_nodes("") == 0
