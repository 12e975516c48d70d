"""Benchmark two (or more) releases of one engine side by side with asv.

    python scripts/asv_versions.py dask 2026.6.0 2026.8.0 -- --bench _dask_threads_
    python scripts/asv_versions.py pandas 3.0.6 3.1.1 -- --bench _pandas_

Writes ``.asv/asv.versions.<package>.json``: the project's ``asv.conf.json`` with one asv
environment per release (the package, and the packages released with it, pinned to that
version) and everything else pinned by ``constraints.txt``. Then runs ``asv run`` with it and
the arguments after ``--``. Results go to the same ``results/asv`` and machine as plain
``asv run``; the environment's name carries the version, so ``asv publish`` draws one line per
release and a moved breakeven point shows as two lines parting.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Released together, in lockstep versions: pinned with the package.
RELEASED_WITH = {"dask": ["distributed"], "polars": ["polars-runtime-32"]}


def _name(line: str) -> str:
    return re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0].strip().lower().replace("_", "-")


def write_config(package: str, versions: list[str]) -> Path:
    """The asv configuration for ``versions`` of ``package``; returns its path."""
    pinned = [package, *RELEASED_WITH.get(package, [])]
    conf = json.loads((REPO / "asv.conf.json").read_text())
    folder = REPO / ".asv"
    folder.mkdir(exist_ok=True)
    constraints = folder / f"constraints-without-{package}.txt"
    lines = (REPO / "constraints.txt").read_text().splitlines()
    constraints.write_text("\n".join(x for x in lines if x.startswith("#") or _name(x) not in pinned) + "\n")
    for key in ("benchmark_dir", "env_dir", "results_dir", "html_dir"):
        conf[key] = str(REPO / conf[key])
    conf["repo"] = str(REPO)
    conf["install_command"] = [
        f"in-dir={{env_dir}} python -m pip install {{wheel_file}}[all] -c {constraints}",
    ]
    # One environment per release: no plain environment from the matrix (excluded), only the
    # included ones (https://asv.readthedocs.io/en/stable/asv.conf.json.html#include).
    conf["matrix"] = {}
    conf["exclude"] = [{"python": ".*"}]
    conf["include"] = [
        {"python": conf["pythons"][0], "req": {name: version for name in pinned}} for version in versions
    ]
    path = folder / f"asv.versions.{package}.json"
    path.write_text(json.dumps(conf, indent=4) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", help="the engine's package: pandas, polars, duckdb, dask, pyspark, ray")
    parser.add_argument("versions", nargs="+", help="releases to compare, e.g. 2026.6.0 2026.8.0")
    parser.add_argument("--write-only", action="store_true", help="write the configuration, do not run asv")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, asv_args = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    if len(args.versions) < 2:
        parser.error("give at least two releases to compare")
    path = write_config(args.package.lower(), args.versions)
    print(f"asv configuration: {path.relative_to(REPO)}")
    if args.write_only:
        return 0
    return subprocess.call([sys.executable, "-m", "asv", "--config", str(path), "run", *asv_args], cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
