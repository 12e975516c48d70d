"""The results site as a person sees it: served on 127.0.0.1, opened in headless Chromium
(Debian's ``chromium`` package; ``.ci/run`` installs it), every chart loaded, no console message
and no page error, and a screenshot of each page saved."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_report import _run

from breakeven import report
from breakeven.results import RunStore

pytestmark = pytest.mark.slow  # a headless browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The site of a small run, served on 127.0.0.1 by a thread of this process."""
    store: RunStore = _run(tmp_path / "results")
    site = tmp_path / "site"
    report.build([store], site)
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
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("page", ["index.html", "groupby.html", "join.html"])
def test_pages_render_with_their_charts_and_no_errors(served: tuple[str, Path], page: str) -> None:
    url, tmp_path = served
    dom = _chromium("--dump-dom", f"{url}/{page}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    root = re.search(r"<html[^>]*>", dom.stdout)
    assert root, dom.stdout[:500]
    charts = re.search(r'data-charts="(\d+)/(\d+)"', root.group(0))
    assert charts, f"the page did not finish loading: {root.group(0)}"
    loaded, total = map(int, charts.groups())
    assert loaded == total, f"{total - loaded} of {total} charts did not load"
    if page != "index.html":
        assert total > 0  # a family page shows charts
    assert "data-errors" not in root.group(0), root.group(0)
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    shot = tmp_path / f"{page}.png"
    done = _chromium("--window-size=1300,2400", f"--screenshot={shot}", f"{url}/{page}")
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_chart_that_does_not_load_is_caught(served: tuple[str, Path]) -> None:
    url, tmp_path = served
    for chart in (tmp_path / "site").glob("*.svg"):
        chart.unlink()
    dom = _chromium("--dump-dom", f"{url}/groupby.html")
    root = re.search(r"<html[^>]*>", dom.stdout)
    assert root and re.search(r'data-charts="0/[1-9]', root.group(0)), root
    assert "data-errors" in root.group(0)
