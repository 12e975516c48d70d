"""The front door and the manual: README.md short, the docs site builds with every link and
anchor resolved, and what both say of the published results is what the published site says."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
SITE = ROOT / "results" / "published" / "site"
README_LINES = 200


def _published_lines(text: str) -> list[str]:
    """The bullets under "What the published results say"."""
    section = text.split("## What the published results say", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("- ")]


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_LINES
    # the two set-up commands, the first one running breakeven, and links into the manual
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert "breakeven run" in commands[0] and "python -m pytest" in commands[1]
    for page in re.findall(r"\]\((docs/[\w-]+\.md)[#)]", readme):
        assert (ROOT / page).exists(), page


def test_the_published_lines_are_the_sites() -> None:
    """README and the docs' home say the same five lines, and every figure in them is on the
    published site (its front page, claims or COST), which the records made."""
    said = _published_lines((ROOT / "README.md").read_text())
    assert said and said == _published_lines((ROOT / "docs" / "index.md").read_text())
    site = " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", (SITE / page).read_text()))
        for page in ("index.html", "claims.html", "cost.html")
    )
    site = re.sub(r"\s+", " ", site)
    for line in said:
        for figure in re.findall(r"\d+ of \d+|\d+(?:\.\d+)?x|\d+ s\b", line):
            assert figure in site, f"{figure!r} (README) is not on the published site"


def test_the_docs_build_with_every_link_resolved(tmp_path: Path) -> None:
    """``mkdocs build --strict`` (mkdocs.yml: a link or anchor that resolves nowhere is an error)."""
    mkdocs = Path(sys.executable).parent / "mkdocs"  # the dev extra's
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's notice of its successor
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    assert {"index.html", "getting-started/index.html", "development/index.html"} <= pages


def test_the_published_runs_page_is_made_from_the_records() -> None:
    """docs/published-runs.md is ``python -m breakeven.runs_table``'s output on the committed runs."""
    from breakeven import runs_table

    made = runs_table.PREAMBLE + runs_table.table(ROOT / "results" / "published")
    assert (ROOT / "docs" / "published-runs.md").read_text() == made, (
        "docs/published-runs.md is stale: python -m breakeven.runs_table results/published > docs/published-runs.md"
    )


def test_a_run_table_names_every_status_and_the_time_over_all_sittings(tmp_path: Path) -> None:
    import json

    from breakeven import runs_table
    from breakeven.results import RunMeta, RunStore

    store = RunStore.create(tmp_path, "r", RunMeta(created="2026-12-07T18:04:40+00:00", planned=("a", "b", "c")))
    for name, status in (("a", "ok"), ("b", "memory")):
        (store.cases_dir / f"{name}.json").write_text(json.dumps({"status": status}))
    store.update_meta(commands=("breakeven run --run-id r", "breakeven run --run-id r --resume"))
    said = runs_table.table(tmp_path).splitlines()[-1]
    assert said == (
        "| `r` | `breakeven run --run-id r`<br>`breakeven run --run-id r --resume` | 2026-12-07 18:04, not finished "
        "| 1 ok, 1 memory of 3 planned so far | – (–) |"
    )
    store.update_meta(finished="2026-12-07T19:10:00+00:00", wall_seconds=3725.4, runner_cpu_seconds=12.2)
    assert (
        runs_table.table(tmp_path).splitlines()[-1].endswith("2026-12-07 19:10 | 1 ok, 1 memory | 1 h 2 min (12 s) |")
    )


def test_the_docs_tables_are_made_from_the_records() -> None:
    """Every docs/generated/ table is what ``python -m breakeven.docs_tables`` makes of the
    committed records, and some page includes it."""
    from breakeven import docs_tables

    pages = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for name, make in docs_tables.TABLES.items():
        committed = ROOT / "docs" / "generated" / name
        assert committed.read_text() == make(ROOT / "results" / "published"), (
            f"docs/generated/{name} is stale: python -m breakeven.docs_tables"
        )
        assert f'--8<-- "{name}"' in pages, f"no page includes {name}"
