"""Fetch the scripts and styles that asv's pages load from CDNs, from the npm registry, into
``breakeven/asv_vendor/`` (committed), so that the published site works with no network.

    .venv/bin/python scripts/vendor_asv_assets.py

Each file's package, version, path in the package and SHA-256 go to ``SOURCES.json`` beside
them, with each package's licence under ``licenses/``. ``breakeven.asv_offline`` maps asv's CDN
addresses to these files. The versions are asv 0.6.6's (its ``www/index.html``), except
stupidtable: cdnjs has 1.0.1, the npm registry only ``stupid-table-plugin`` 1.1.3, the same
plugin (``$.fn.stupidtable``) with bug fixes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "breakeven" / "asv_vendor"
REGISTRY = "https://registry.npmjs.org"

# package, version, {path in the package: path under asv_vendor/}, the file that states its licence
FILES = [
    ("jquery", "3.3.1", {"dist/jquery.min.js": "jquery.min.js"}, "LICENSE.txt"),
    (
        "flot",
        "0.8.3",
        {f"jquery.flot{p}.js": f"jquery.flot{p}.js" for p in ("", ".time", ".selection", ".categories")},
        "LICENSE.txt",
    ),
    # no licence file: its header says "Released under the MIT license", as its package.json
    ("flot-orderbars", "1.0.0", {"js/jquery.flot.orderBars.js": "jquery.flot.orderBars.js"}, "package.json"),
    ("stupid-table-plugin", "1.1.3", {"stupidtable.min.js": "stupidtable.min.js"}, "LICENSE"),
    ("blueimp-md5", "2.19.0", {"js/md5.min.js": "md5.min.js"}, "LICENSE.txt"),
    (
        "bootstrap",
        "3.1.1",
        {
            "dist/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
            "dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
            **{
                f"dist/fonts/glyphicons-halflings-regular.{ext}": f"bootstrap/fonts/glyphicons-halflings-regular.{ext}"
                for ext in ("eot", "svg", "ttf", "woff")
            },
        },
        "LICENSE",
    ),
]


def main() -> None:
    sources = {}
    for package, version, files, licence in FILES:
        url = f"{REGISTRY}/{package}/-/{package}-{version}.tgz"
        with urllib.request.urlopen(url, timeout=60) as response:
            packed = io.BytesIO(response.read())
        with tarfile.open(fileobj=packed, mode="r:gz") as archive:
            members = {m.name.removeprefix("package/"): m for m in archive.getmembers() if m.isfile()}
            found = {name: archive.extractfile(m).read() for name, m in members.items()}  # type: ignore[union-attr]
        for inner, target in {**files, licence: f"licenses/{package}.txt"}.items():
            if inner not in found:
                raise SystemExit(f"{package}@{version} has no {inner} (it has {sorted(found)[:20]}...)")
            data = found[inner]
            path = OUT / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            sources[target] = {
                "package": package,
                "version": version,
                "path": inner,
                "sha256": hashlib.sha256(data).hexdigest(),
                "tarball": url,
            }
            print(f"{target}: {package}@{version} {inner} ({len(data):,} bytes)")
    (OUT / "SOURCES.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
