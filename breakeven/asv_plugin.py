"""An asv plugin (``".breakeven.asv_plugin"`` in asv.conf.json's ``plugins``; the leading dot
makes asv import it by name rather than from ``asv.plugins``): ``asv preview`` serves on
127.0.0.1 only.

asv 0.6.6's preview server binds ``""``, every interface of the machine, while printing a
127.0.0.1 address (``asv/commands/preview.py``, ``create_httpd``). breakeven's servers bind
127.0.0.1 unless told otherwise, so this replaces that one function; the rest of ``asv
preview`` (ports tried, handler, output) is asv's own.
"""

from __future__ import annotations

import errno
import http.server
import socketserver

from asv import util
from asv.commands import preview

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


def setup() -> None:
    """Called by asv's plugin manager when it loads the plugin."""
    preview.create_httpd = create_httpd
