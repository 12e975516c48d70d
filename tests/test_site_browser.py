"""The results site as a person sees it: served on 127.0.0.1, opened in headless Chromium
(Debian's ``chromium`` package; ``.ci/run`` installs it), every chart loaded, no console message
and no page error, and a screenshot of each page saved."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_report import _run

from breakeven import report
from breakeven.commands.report import publish_asv
from breakeven.results import RunStore

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # a headless browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


ROOT = Path(__file__).resolve().parents[1]
# Only 127.0.0.1 resolves: a page that needs the network (a CDN) fails here as it would offline.
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-background-networking"]
WIDTHS = {"desktop": "1300,2400", "phone": "390,1800"}


PUBLISHED = ROOT / "results" / "published" / "site"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """The site of a small run, with the asv pages of the committed asv results, served on
    127.0.0.1 by a thread of this process."""
    store: RunStore = _run(tmp_path / "results")
    site = tmp_path / "site"
    monkeypatch.chdir(ROOT)  # asv publish reads ./asv.conf.json
    publish_asv(site / "asv")
    report.build([store], site)
    yield from _serve(site, tmp_path)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The committed published site (results/published/site), served as it is."""
    assert (PUBLISHED / "index.html").exists(), "build it: breakeven report --results results/published"
    yield from _serve(PUBLISHED, tmp_path_factory.mktemp("published"))


def _serve(site: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``site`` served on 127.0.0.1 by a thread of this process, with the folder for screenshots."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "the site test needs Debian's chromium: apt-get install chromium (.ci/run does)"
    return subprocess.run([CHROMIUM, *FLAGS, *OFFLINE, *args], capture_output=True, text=True, timeout=120)


def _shoot(url: str, shot: Path, width: str) -> None:
    done = _chromium(f"--window-size={WIDTHS[width]}", "--virtual-time-budget=10000", f"--screenshot={shot}", url)
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", ["index.html", "claims.html", "cost.html", "groupby.html", "join.html"])
def test_pages_render_with_their_charts_and_no_errors(served: tuple[str, Path], page: str, width: str) -> None:
    _check_page(*served, page, width)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", ["index.html", "claims.html", "cost.html", "transform.html"])
def test_the_published_site_renders(published: tuple[str, Path], page: str, width: str) -> None:
    """The answer as published: the front page, the claims, COST and a family page."""
    _check_page(*published, page, width)


def _check_page(url: str, tmp_path: Path, page: str, width: str) -> None:
    """Every chart loaded, no page error or console message, nothing wider than the window; and
    a screenshot saved in ``tmp_path``."""
    dom = _chromium(f"--window-size={WIDTHS[width]}", "--dump-dom", f"{url}/{page}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    root = re.search(r"<html[^>]*>", dom.stdout)
    assert root, dom.stdout[:500]
    charts = re.search(r'data-charts="(\d+)/(\d+)"', root.group(0))
    assert charts, f"the page did not finish loading: {root.group(0)}"
    loaded, total = map(int, charts.groups())
    assert loaded == total, f"{total - loaded} of {total} charts did not load"
    if page not in ("claims.html", "cost.html"):
        assert total > 0  # the front page's picture, a family page's charts
    assert "data-errors" not in root.group(0), root.group(0)
    overflow = re.search(r'data-overflow="(\d+)"', root.group(0))
    assert overflow and overflow.group(1) == "0", f"the page is wider than a {width} window: {root.group(0)}"
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    _shoot(f"{url}/{page}", tmp_path / f"{page}.{width}.png", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_asv_pages_load_their_scripts_from_the_site(served: tuple[str, Path], width: str) -> None:
    """asv's benchmark list and one benchmark's graph, with every address but 127.0.0.1 unresolvable:
    its scripts come from the site (breakeven.asv_offline), or it would show its error page."""
    url, tmp_path = served
    benchmarks = json.loads((ROOT / "results" / "asv" / "benchmarks.json").read_text())
    name = min(b for b in benchmarks if b.startswith("groupby.GroupBy") and b.endswith(".track_compute"))
    graph = f"{url}/asv/index.html#{name}"
    for page in (f"{url}/asv/index.html", graph):
        dom = _chromium(f"--window-size={WIDTHS[width]}", "--virtual-time-budget=10000", "--dump-dom", page)
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert "failed to load" not in dom.stdout, "asv's error page: a script did not load"
        assert name.split(".", 1)[1] in dom.stdout  # the benchmark list, drawn by asv's scripts
    assert '<canvas class="flot-base"' in dom.stdout  # flot drew the graph
    _shoot(graph, tmp_path / f"asv.{width}.png", width)


def test_a_chart_that_does_not_load_is_caught(served: tuple[str, Path]) -> None:
    url, tmp_path = served
    for chart in (tmp_path / "site").glob("*.svg"):
        chart.unlink()
    dom = _chromium("--dump-dom", f"{url}/groupby.html")
    root = re.search(r"<html[^>]*>", dom.stdout)
    assert root and re.search(r'data-charts="0/[1-9]', root.group(0)), root
    assert "data-errors" in root.group(0)
