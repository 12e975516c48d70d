"""asv's pages without a network: its ``index.html`` loads jQuery, flot, bootstrap and three
small plugins from CDNs, and opened offline shows only "One or more external (JavaScript)
dependencies of airspeed velocity failed to load". :func:`localise` copies the same files,
fetched from the npm registry (``scripts/vendor_asv_assets.py``, committed under
``breakeven/asv_vendor/``), into the published asv site and points the pages at them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from breakeven.errors import UsageError

VENDOR = Path(__file__).parent / "asv_vendor"
FOLDER = "vendor"  # under the asv site

# asv 0.6.6's CDN addresses (www/index.html) -> the file under asv_vendor/
CDN = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": "jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": "jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
}
# A script or stylesheet tag that loads from elsewhere: its address, and the attributes that only
# make sense for a CDN (subresource integrity of the CDN's file, CORS mode, referrer policy).
EXTERNAL = re.compile(r'(?P<attr>src|href)="(?P<url>https?://[^"]+)"')
CDN_ONLY = re.compile(r'\s+(integrity|crossorigin|referrerpolicy)="[^"]*"')
TAG = re.compile(r"<(script|link)\b[^>]*>")


def localise(asv_site: Path) -> list[str]:
    """Copy the vendored files into ``asv_site/vendor/`` and rewrite every page's CDN tags to
    them; returns the addresses replaced. An external script or stylesheet this module does not
    know (a newer asv) is an error, so that the site never silently needs the network again."""
    pages = sorted(asv_site.glob("*.html"))
    if not pages:
        raise UsageError(f"no asv pages in {asv_site}: run asv publish first")
    shutil.copytree(VENDOR, asv_site / FOLDER, dirs_exist_ok=True)
    replaced = []
    for page in pages:
        text = page.read_text()

        def swap(tag: re.Match[str], page: Path = page) -> str:
            found = EXTERNAL.search(tag.group(0))
            if found is None or not (tag.group(1) == "script" or 'rel="stylesheet"' in tag.group(0)):
                return tag.group(0)
            url = found.group("url")
            if url not in CDN:
                raise UsageError(f"{page}: loads {url}, which breakeven.asv_offline has no copy of")
            replaced.append(url)
            local = EXTERNAL.sub(f'{found.group("attr")}="{FOLDER}/{CDN[url]}"', tag.group(0), count=1)
            return CDN_ONLY.sub("", local)

        page.write_text(TAG.sub(swap, text))
    return replaced


def pin_build_time(html_dir: Path, results: Path) -> None:
    """asv writes the time of the build into ``info.json`` and ``regressions.xml``: pinned to
    the newest result's commit date, so that the same results publish the same bytes."""
    import json
    from datetime import UTC, datetime

    dates = [json.loads(p.read_text()).get("date") for p in results.glob("*/*.json") if p.name != "machine.json"]
    newest = max((d for d in dates if isinstance(d, int)), default=0)
    info = html_dir / "info.json"
    if info.is_file():
        found = json.loads(info.read_text())
        found["timestamp"] = newest
        info.write_text(json.dumps(found, indent=4) + "\n")
    feed = html_dir / "regressions.xml"
    if feed.is_file():
        when = datetime.fromtimestamp(newest / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        feed.write_text(re.sub(r"<updated>[^<]*</updated>", f"<updated>{when}</updated>", feed.read_text()))
