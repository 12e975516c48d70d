"""Rebuild the committed example site, ``results/example/``, from runs under ``results/runs/``.

    .venv/bin/python scripts/build_example.py budget-2gib scaleout-dask-1x1 scaleout-dask-2x1 ...

copies each run's ``run.json`` and case records (not its engine logs) to
``results/example/runs/``, publishes the committed asv results into
``results/example/site/asv/`` and builds the report into ``results/example/site/``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from breakeven.report import build
from breakeven.results import RunStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "results" / "example"


def main(run_ids: list[str]) -> None:
    if not run_ids:
        sys.exit(__doc__)
    shutil.rmtree(EXAMPLE, ignore_errors=True)
    for run_id in run_ids:
        source = ROOT / "results" / "runs" / run_id
        if not (source / "run.json").exists():
            sys.exit(f"no run {run_id!r} under {source.parent}")
        target = EXAMPLE / "runs" / run_id
        shutil.copytree(source / "cases", target / "cases")
        shutil.copy2(source / "run.json", target / "run.json")
    site = EXAMPLE / "site"
    asv = [str(Path(sys.executable).parent / "asv"), "publish", "--html-dir", str(site / "asv")]
    subprocess.run(asv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    stores = RunStore.all(EXAMPLE)
    print(f"{build(stores, site)} from {len(stores)} runs")


if __name__ == "__main__":
    main(sys.argv[1:])
