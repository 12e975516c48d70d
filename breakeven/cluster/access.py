"""How a process reaches a cluster: its secret, Ray's environment, whether an address is this
machine's loopback. Imported by the engines (as drivers) and by the servers' roles, it imports no
engine: the dependencies point one way (``tests/test_architecture.py``)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from breakeven.errors import UsageError

LOOPBACK = "127.0.0.1"


def read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if not secret:
        raise UsageError(f"the secret file {path} is empty")
    return secret


def write_secret(path: Path) -> None:
    """A new random secret (Spark's shared secret, Ray's token) in ``path``, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def ray_env(secret_file: Path | None, loopback: bool = False) -> dict[str, str]:
    """Token authentication on, with the cluster's token file
    (https://docs.ray.io/en/latest/ray-security/token-auth.html), when there is one; no usage report. On loopback,
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray from replacing 127.0.0.1 by the machine's
    outward address (see raylocal.py), where it has one."""
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    if secret_file:
        env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(secret_file)}
    if loopback:
        # Where loopback is the only interface (a network namespace of its own, as the compose
        # services share on loopback-only hosts, cluster/compose.loopback.yml), there is no other
        # address to replace it with, and "1" lets worker nodes join a head on 127.0.0.1.
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1" if only_loopback() else "0"
    return env


def on_loopback(address: str) -> bool:
    """Whether a cluster's address (HOST:PORT; a name such as the compose services' resolves
    first) is this machine's loopback."""
    try:
        return socket.gethostbyname(address.rsplit(":", 1)[0]).startswith("127.")
    except OSError:
        return False


def only_loopback() -> bool:
    """Whether this process's network has no interface but loopback."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]
