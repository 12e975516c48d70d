"""asv's pages served without a network: the CDN tags rewritten to the site's own copies (from the
npm registry, checked against their recorded SHA-256), and an unknown external script refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from breakeven import asv_offline
from breakeven.errors import UsageError

PAGE = (
    "<html><head>\n"
    '<script src="https://code.jquery.com/jquery-3.3.1.min.js" integrity="sha256-x" crossorigin="anonymous" '
    'onerror="f()"></script>\n'
    '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css" '
    'integrity="sha256-y" crossorigin="anonymous">\n'
    '<script src="asv.js"></script></head>\n'
    '<body><a href="https://github.com/airspeed-velocity/asv/">asv</a></body></html>\n'
)


def test_the_vendored_files_are_the_ones_the_npm_registry_gave() -> None:
    sources = json.loads((asv_offline.VENDOR / "SOURCES.json").read_text())
    assert set(asv_offline.CDN.values()) <= set(sources)
    for name, source in sources.items():
        assert hashlib.sha256((asv_offline.VENDOR / name).read_bytes()).hexdigest() == source["sha256"], name


def test_cdn_tags_point_at_the_sites_copies(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(PAGE)
    replaced = asv_offline.localise(tmp_path)
    assert len(replaced) == 2
    page = (tmp_path / "index.html").read_text()
    assert '<script src="vendor/jquery.min.js" onerror="f()"></script>' in page
    assert '<link rel="stylesheet" href="vendor/bootstrap/css/bootstrap.min.css">' in page
    assert "integrity" not in page and 'href="https://github.com/airspeed-velocity/asv/"' in page  # a link stays
    assert (tmp_path / "vendor" / "bootstrap" / "fonts" / "glyphicons-halflings-regular.woff").is_file()


def test_an_external_script_it_has_no_copy_of_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script src="https://cdn.example.org/new.js"></script>')
    with pytest.raises(UsageError, match="loads https://cdn.example.org/new.js, which breakeven.asv_offline has no"):
        asv_offline.localise(tmp_path)
    with pytest.raises(UsageError, match="no asv pages"):
        asv_offline.localise(tmp_path / "empty")
