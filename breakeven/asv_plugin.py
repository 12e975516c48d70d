"""An asv plugin (``".breakeven.asv_plugin"`` in asv.conf.json's ``plugins``; the leading dot
makes asv import it by name rather than from ``asv.plugins``): ``asv preview`` serves on
127.0.0.1 only, and ``asv publish`` makes pages that work without a network.

asv 0.6.6's preview server binds ``""``, every interface of the machine, while printing a
127.0.0.1 address (``asv/commands/preview.py``, ``create_httpd``). breakeven's servers bind
127.0.0.1 unless told otherwise, so this replaces that one function; the rest of ``asv
preview`` (ports tried, handler, output) is asv's own.

asv's pages load jQuery, flot and bootstrap from CDNs; after asv's own ``publish`` has written
the site, ``breakeven.asv_offline`` copies them into it from ``breakeven/asv_vendor/`` and points
the pages there, and pins the build time to the newest result's (the same results publish the
same bytes).
"""

from __future__ import annotations

import errno
import http.server
import socketserver
from pathlib import Path
from typing import Any

from asv import util
from asv.commands import preview, publish

from breakeven import asv_offline

HOST = "127.0.0.1"


def create_httpd(handler_cls: type[http.server.BaseHTTPRequestHandler], port: int = 0) -> tuple[object, str]:
    class LoopbackServer(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    for candidate in preview.random_ports(port, 5):
        try:
            return LoopbackServer((HOST, candidate), handler_cls), f"http://{HOST}:{candidate}/"
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    raise util.UserError(f"no free port near {port or 8080} on {HOST} for serving the asv site")


def offline_publish(run: Any) -> Any:
    """asv's ``Publish.run``, then the site made to work offline."""

    def run_offline(cls: type, conf: Any, *args: Any, **kwargs: Any) -> Any:
        done = run.__func__(cls, conf, *args, **kwargs)
        asv_offline.localise(Path(conf.html_dir))
        asv_offline.pin_build_time(Path(conf.html_dir), Path(conf.results_dir))
        return done

    run_offline.offline = True  # type: ignore[attr-defined]
    return classmethod(run_offline)


def setup() -> None:
    """Called by asv's plugin manager when it loads the plugin."""
    preview.create_httpd = create_httpd
    if not getattr(publish.Publish.run, "offline", False):
        publish.Publish.run = offline_publish(publish.Publish.run)
