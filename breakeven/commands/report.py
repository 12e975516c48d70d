"""``breakeven report``: the static results site, with the asv pages where there are asv results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from breakeven.commands.common import Results, console, err
from breakeven.defaults import RESULTS_DIR
from breakeven.errors import UsageError
from breakeven.results import RunStore

SHORT_HELP = "Build the static results site: the answer, claims, COST, verdicts and charts."


def report(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="runs to include (default: every readable run under RESULTS/runs)")
    ] = None,
    results: Results = RESULTS_DIR,
    out: Annotated[Path | None, typer.Option(help="site folder (default: RESULTS/site)")] = None,
    asv: Annotated[
        bool | None,
        typer.Option(
            help="also publish the asv results (asv publish into SITE/asv, its scripts served from the site); "
            "default: when ./asv.conf.json has results"
        ),
    ] = None,
) -> None:
    """Build the static results site: the answer, the claims, COST, the verdicts against both
    baselines and charts per workload family; with the asv pages, readable offline."""
    from breakeven import report as site

    if run_ids:
        stores = [RunStore.open(results, run_id) for run_id in run_ids]
    else:
        stores = []
        for store in RunStore.all(results):
            try:
                store.meta(), store.records()
            except UsageError as exc:  # an old or damaged run: say so, build the rest
                err.print(f"skipped run {store.run_id}: {exc}", markup=False, highlight=False)
                continue
            stores.append(store)
        if not stores:
            raise UsageError(f"no readable runs under {results / 'runs'}: run `breakeven run` first")
    target = out or results / "site"
    if asv is None:
        asv = asv_results() is not None
    if asv:
        publish_asv(target / "asv")
    with console.status(f"building the site from {len(stores)} runs"):
        index = site.build(stores, target)
    console.print(
        f"site: {index} ({len(stores)} runs). Serve the folder with any static host, e.g. "
        f"python -m http.server --bind 127.0.0.1 --directory {target}"
    )


def asv_results() -> Path | None:
    """The asv results folder of ``./asv.conf.json``, when it holds results."""
    import json

    config = Path("asv.conf.json")
    if not config.is_file():
        return None
    # asv.conf.json allows // comments (asv's own reader strips them)
    text = "\n".join(line for line in config.read_text().splitlines() if not line.lstrip().startswith("//"))
    folder = Path(json.loads(text).get("results_dir", "results"))
    return folder if any(folder.glob("*/machine.json")) else None


def publish_asv(html_dir: Path) -> None:
    """``asv publish`` into ``html_dir``: breakeven's asv plugin (asv.conf.json) makes its pages
    work offline (``breakeven.asv_plugin``)."""
    if asv_results() is None:
        raise UsageError("--asv: no asv results under ./asv.conf.json's results_dir (run asv first: docs/asv.md)")
    asv_bin = Path(sys.executable).parent / "asv"
    with console.status("asv publish"):
        done = subprocess.run([str(asv_bin), "publish", "--html-dir", str(html_dir)], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"asv publish failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    console.print(f"asv site: {html_dir} (its scripts and styles served from the site)")
