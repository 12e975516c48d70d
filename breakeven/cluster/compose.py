"""The compose cluster with podman, on hosts without a Docker engine or bridge networks.

``cluster/docker-compose.yml`` is what a Docker user runs as it is. Where containers cannot
have a bridge network (podman without a daemon, as on our machines), ``cluster/compose.loopback.yml``
puts every service in one network namespace of breakeven's own (``breakeven.network``; its
loopback rate-limited with ``--network-rate``), and this module does what Docker would:

- podman's configuration and storage in a state folder of their own (``STATE``; ``runc``,
  ``cgroupfs``, no network of podman's: ``../shared/CONTAINERS.md`` in the team's notes);
- the base image ``python:3.11-slim-bookworm`` made from Debian packages with ``mmdebstrap``
  when no registry is reachable, built once and cached by its inputs;
- ``cluster/Dockerfile`` built with podman (its dependencies' layer cached), dangling layers pruned;
- health checks, which podman-compose cannot run without systemd, replaced by polling
  ``roles.probe`` inside the namespace until every worker has joined;
- ``down`` removes every container of the project by label (``podman-compose down`` leaves
  scaled services behind), the namespace, and the cluster's secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from breakeven import network
from breakeven.cluster import access, roles
from breakeven.defaults import DATA_DIR, RESULTS_DIR
from breakeven.errors import UsageError

STATE = Path(os.environ.get("BREAKEVEN_PODMAN_STATE", "~/.cache/breakeven/podman")).expanduser()
REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = (REPO / "cluster" / "docker-compose.yml", REPO / "cluster" / "compose.loopback.yml")
PROJECT = "breakeven"  # docker-compose.yml's name
IMAGE = "breakeven-cluster:local"
BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"  # cluster/Dockerfile's FROM
CONTAINER_UID = 1000  # cluster/Dockerfile's user
TOOLS = {"podman": "podman", "runc": "runc", "catatonit": "catatonit", "mmdebstrap": "mmdebstrap"}
INSTALL = "apt-get install podman runc catatonit mmdebstrap"
# Inside the namespace every service is on 127.0.0.1: the addresses the host probes, and the ones
# the bench service uses (names that compose.loopback.yml resolves to 127.0.0.1).
PROBE = {
    "dask": ("127.0.0.1:8786", None),
    "spark": ("127.0.0.1:7077", "127.0.0.1:8080"),
    "ray": ("127.0.0.1:6379", None),
}
ADDRESS = {"dask": "tcp://dask-scheduler:8786", "spark": "spark://spark-master:7077", "ray": "ray-head:6379"}
CONTAINERS_CONF = """\
[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


@dataclass
class ComposeState:
    """A compose cluster that ``up`` started: what ``run`` and ``down`` need."""

    engine: str
    workers: int
    netns: str
    rate: str
    secret: str
    data_dir: str
    results_dir: str
    worker_cores: int
    worker_memory: str

    @property
    def address(self) -> str:
        return ADDRESS[self.engine]

    @property
    def run_options(self) -> list[str]:
        """``breakeven run``'s options for this cluster (a Ray address does not say its engine)."""
        return ["--cluster-address", self.address] + (["--cluster", "ray"] if self.engine == "ray" else [])


def check_tools() -> None:
    """One line naming what is missing and how to install it."""
    missing = [name for name, tool in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise UsageError(f"the compose cluster needs {', '.join(missing)}: {INSTALL}")
    if _podman_compose() is None:
        raise UsageError("the compose cluster needs podman-compose: pip install podman-compose (breakeven[dev])")
    if not all(path.exists() for path in COMPOSE_FILES):
        raise UsageError(f"no {COMPOSE_FILES[0]}: the compose cluster needs breakeven installed from its repository")
    if os.geteuid() != 0:
        raise UsageError("the compose cluster runs podman as root here (a network namespace of its own): run as root")


def _podman_compose() -> str | None:
    return shutil.which("podman-compose", path=roles.bin_path())


def podman_env() -> dict[str, str]:
    """The environment that points podman at its configuration and storage in ``STATE``."""
    STATE.mkdir(parents=True, exist_ok=True)
    conf, storage = STATE / "containers.conf", STATE / "storage.conf"
    conf.write_text(CONTAINERS_CONF)
    storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{STATE}/storage"\nrunroot = "{STATE}/run"\n')
    return os.environ | {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


def _run(argv: list[str], env: dict[str, str], what: str, timeout: float = 1800) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        raise UsageError(f"{what} failed: {tail[-1] if tail else f'exit {done.returncode}'}")
    return done.stdout


def debian_mirror() -> str:
    """The Debian mirror of this machine's own apt sources (the only registry it may reach)."""
    sources = sorted(Path("/etc/apt").glob("sources.list.d/*.sources")) + [Path("/etc/apt/sources.list")]
    for path in sources:
        text = path.read_text() if path.exists() else ""
        match = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*]\s+)?(\S+)", text, re.M)
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def base_image(env: dict[str, str], echo: bool = True) -> None:
    """``python:3.11-slim-bookworm`` from Debian's packages, when podman has no such image: a
    minimal Debian with Python 3.11 (bookworm's) in a venv at /opt/venv, the machine's extra CA
    certificates trusted (pip behind a proxy), cached under ``STATE`` by its inputs."""
    certs = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    argv = ["mmdebstrap", "--mode=root", "--variant=minbase", "--include=python3,python3-venv,ca-certificates"]
    if certs:
        argv.append(
            '--customize-hook=cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"'
            ' && chroot "$1" update-ca-certificates'
        )
    argv += ['--customize-hook=chroot "$1" python3 -m venv /opt/venv', "bookworm"]
    mirror = debian_mirror()
    key = hashlib.sha256(json.dumps([argv, mirror, [c.read_bytes().hex() for c in certs]]).encode()).hexdigest()[:12]
    stamp = STATE / f"base-{key}.done"
    made = list(STATE.glob("base-*.done"))  # an image of ours, and its inputs' key
    have = subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=env).returncode == 0
    if have and (stamp.exists() or not made):  # ours, of these inputs; or one pulled from a registry
        return
    tar = STATE / "base.tar"
    if echo:
        print(f"making the base image {BASE_IMAGE} from {mirror} (mmdebstrap, about a minute)", file=sys.stderr)
    _run([*argv, str(tar), mirror], env, "mmdebstrap")
    path = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    changes = [f"ENV PATH={path}", "ENV LANG=C.UTF-8", 'CMD ["python3"]']
    _run(["podman", "import", *(f"--change={c}" for c in changes), str(tar), BASE_IMAGE], env, "podman import")
    tar.unlink()
    for old in made:
        old.unlink()
    stamp.touch()


def build(env: dict[str, str], echo: bool = True) -> None:
    """``cluster/Dockerfile`` built from the repository, then the layers it no longer uses pruned."""
    if echo:
        print(f"building {IMAGE} (cached layers are reused)", file=sys.stderr)
    argv = ["podman", "build", "--network", "host", "--pull=never", "-f", str(REPO / "cluster" / "Dockerfile")]
    _run([*argv, "-t", IMAGE, str(REPO)], env, "podman build")
    _run(["podman", "image", "prune", "-f"], env, "podman image prune")


def compose_argv(state: ComposeState) -> list[str]:
    files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
    return [_podman_compose() or "podman-compose", *files, "--profile", state.engine]


def compose_env(env: dict[str, str], state: ComposeState) -> dict[str, str]:
    return env | {
        "BREAKEVEN_NETNS": state.netns,
        "BREAKEVEN_CLUSTER_SECRET": state.secret,
        "BREAKEVEN_DATA_DIR": state.data_dir,
        "BREAKEVEN_RESULTS_DIR": state.results_dir,
        "WORKER_CORES": str(state.worker_cores),
        "WORKER_MEMORY": state.worker_memory,
    }


def _state_path() -> Path:
    return STATE / "compose.json"


def load() -> ComposeState:
    path = _state_path()
    if not path.exists():
        raise UsageError("no compose cluster is up: breakeven cluster compose up ENGINE")
    return ComposeState(**json.loads(path.read_text()))


def _writable_by_containers(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_uid != CONTAINER_UID and not st.st_mode & 0o002:
        raise UsageError(
            f"{folder} is not writable by the containers' user (uid {CONTAINER_UID}): "
            f"chown {CONTAINER_UID} {folder}, or pass a folder it can write"
        )


def up(
    engine: str,
    workers: int = 2,
    worker_cores: int = 1,
    worker_memory: str = "2g",
    rate: str = network.NONE,
    data_dir: Path = DATA_DIR,
    results_dir: Path = RESULTS_DIR,
    timeout: float = 180,
) -> ComposeState:
    """Build what is missing, start ``engine``'s profile with ``workers`` workers in a namespace
    of its own, and wait until every worker has joined. On failure, takes it all down again."""
    check_tools()
    if _state_path().exists():
        raise UsageError(f"a compose cluster is up already ({load().engine}): breakeven cluster compose down")
    network.parse_rate(rate)
    for folder in (data_dir, results_dir):
        _writable_by_containers(folder.resolve())
    env = podman_env()
    base_image(env)
    build(env)
    ns = network.create(rate)
    secret = STATE / "secret"
    state = ComposeState(
        engine, workers, ns.name, rate, str(secret), str(data_dir.resolve()), str(results_dir.resolve()),
        worker_cores, worker_memory,
    )  # fmt: skip
    _state_path().write_text(json.dumps(asdict(state)))
    try:
        access.write_secret(secret)
        os.chown(secret, CONTAINER_UID, CONTAINER_UID)  # readable by the containers' user only
        argv = [*compose_argv(state), "up", "-d", "--no-build", "--scale", f"{engine}-worker={workers}"]
        _run(argv, compose_env(env, state), "podman-compose up", timeout=10 * 60)
        wait_ready(state, timeout)
    except BaseException:
        down()
        raise
    return state


def wait_ready(state: ComposeState, timeout: float) -> str:
    """Poll the engine's probe inside the namespace until every worker has joined."""
    address, dashboard = PROBE[state.engine]
    ns = network.Namespace(state.netns, state.rate)
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            return network.call_in(
                ns, lambda: roles.probe(state.engine, address, dashboard, state.workers, Path(state.secret))
            )
        except Exception as exc:  # not up yet
            last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        time.sleep(2)
    raise UsageError(f"the {state.engine} compose cluster was not ready after {timeout:.0f} s: {last}")


def bench(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command, and its environment, that runs ``argv`` in a new ``bench`` container; for
    Ray, in the head's container: a Ray driver runs on a node of its cluster that outlives it
    (see ``RayEngine._connect``), as Ray Jobs run theirs."""
    state = load()
    where = ["exec", "-T", "ray-head"] if state.engine == "ray" else ["run", "--rm", "bench"]
    return [*compose_argv(state), *where, *argv], compose_env(podman_env(), state)


def run(argv: list[str]) -> int:
    """``argv`` on the cluster's network, in the bench container (Ray: the head's); its exit code."""
    command, env = bench(argv)
    return subprocess.run(command, env=env).returncode


def containers(service: str | None = None) -> list[str]:
    """Ids of the project's containers (of one service)."""
    label = f"io.podman.compose.service={service}" if service else f"io.podman.compose.project={PROJECT}"
    project = f"label=io.podman.compose.project={PROJECT}"
    argv = ["podman", "ps", "-aq", "--filter", project, "--filter", f"label={label}"]
    return _run(argv, podman_env(), "podman ps").split()


def kill_worker(index: int = 0) -> str:
    """Kill one worker container (SIGKILL), as a machine lost; its id."""
    state = load()
    ids = sorted(containers(f"{state.engine}-worker"))
    _run(["podman", "kill", ids[index]], podman_env(), "podman kill", timeout=60)
    return ids[index]


def down() -> None:
    """Every container of the project, the namespace and the secret: gone."""
    state = load() if _state_path().exists() else None
    env = podman_env()
    ids = containers()
    if ids:
        _run(["podman", "rm", "-f", "--depend", "-t", "10", *ids], env, "podman rm", timeout=300)
    if state is not None:
        network.delete(network.Namespace(state.netns, state.rate))
        Path(state.secret).unlink(missing_ok=True)
        _state_path().unlink()
