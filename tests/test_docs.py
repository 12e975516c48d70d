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
        assert committed.read_text() == make(ROOT / "results"), (
            f"docs/generated/{name} is stale: python -m breakeven.docs_tables"
        )
        assert f'--8<-- "{name}"' in pages, f"no page includes {name}"


# A figure a page quotes: a time (``0.69 s``, ``18 ms``, ``2 h``), a ratio (``1.9x``) or a share
# (``38%``), outside code.
FIGURE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s?(?:ms|s|seconds?|min|minutes?|h|hours?)\b|x\b|%)")
QUOTES = re.compile(r"<!-- quotes: (.+?) -->")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _source_text(name: str) -> str:
    """A quoted source: a generated table (``docs/generated/NAME``) or a committed file named
    from the repository's root (a record, an experiment's output, a published page, the code
    that holds a setting)."""
    path = ROOT / "docs" / "generated" / name if "/" not in name else ROOT / name
    assert path.exists(), f"quoted source {name} does not exist"
    text = path.read_text()
    return html.unescape(re.sub(r"<[^>]+>", " ", text)) if path.suffix == ".html" else text


def _held(number: str, unit: str, text: str) -> bool:
    """``number`` is in ``text`` as a number of its own; a share or milliseconds also as the
    fraction a setting in code spells (80% as 0.8, 50 ms as 0.05)."""
    spellings = [number]
    if unit.strip() in ("%", "ms"):
        spellings.append(repr(round(float(number) / (100 if unit == "%" else 1000), 6)))
    return any(re.search(rf"(?<![\d.]){re.escape(n)}{'0*' if '.' in n else ''}(?!\d)", text) for n in spellings)


def unsourced_figures(page: str) -> list[str]:
    """The figures of a page that nothing it names holds. A page's prose may quote a figure only
    from a source named by a ``<!-- quotes: SOURCE ... -->`` comment above it (it covers the
    text down to the next heading or comment), or a setting that the page's own commands
    (its code blocks) spell out, like the ``--timeout 300`` of a command quoted as 300 s."""
    commands = " ".join(FENCE.findall(page))
    prose = FENCE.sub("", page)
    missing = []
    for region in re.split(r"(?m)^(?=#|<!-- quotes:)", prose):
        marker = QUOTES.match(region)
        sources = commands + " ".join(_source_text(n) for n in (marker.group(1).split() if marker else ()))
        text = re.sub(r"`[^`]*`", "", region)  # inline code: flags, identifiers, notation examples
        for found in FIGURE.finditer(text):
            if not _held(found.group(1), found.group(2), sources):
                line = text[: found.start()].count("\n")
                missing.append(f"{found.group(0)!r} in {region.splitlines()[0][:60]!r} (+{line} lines)")
    return missing


def test_the_docs_quote_only_figures_their_sources_hold() -> None:
    """Every timing, ratio and share in the README and the docs comes from a generated table, a
    record, a committed experiment's output or the code of a setting, named above it: never
    typed by hand."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    generated = {ROOT / "docs" / "published-runs.md"}  # made whole from the records: its own test
    missing = {p.name: m for p in pages if p not in generated and (m := unsourced_figures(p.read_text()))}
    assert not missing, missing


def test_a_figure_typed_by_hand_is_found(tmp_path: Path) -> None:
    page = "# T\n\n```bash\nbreakeven run --timeout 300\n```\n\nwithin 300 s, 80% of it, 0.69 s (was 1.98 s)\n"
    assert [m.split("'")[1] for m in unsourced_figures(page)] == ["80%", "0.69 s", "1.98 s"]
    quoted = page.replace("within", "<!-- quotes: breakeven/defaults.py -->\nwithin")
    assert "BUDGET_SHARE = 0.8" in (ROOT / "breakeven" / "defaults.py").read_text()
    assert [m.split("'")[1] for m in unsourced_figures(quoted)] == ["0.69 s", "1.98 s"]


def test_an_experiments_output_says_what_made_it() -> None:
    from breakeven.machine import provenance

    lines = provenance(["scripts/merge_dtypes.py", "--rows", "1e7"]).splitlines()
    assert lines[0] == "# python scripts/merge_dtypes.py --rows 1e7"
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.fullmatch(rf"# {when}, commit [0-9a-f]{{7,}}(\+changes)?, \d+ cores \(.+\), \d+ GiB", lines[1])
    assert lines[2].startswith("# python 3.") and "pyarrow " in lines[2]


def test_tuned_is_put_against_its_default_of_the_same_run(tmp_path: Path) -> None:
    """The profiles table pairs each tuned case with the default of the same case and run, and
    says where the repeats' spread holds the difference."""
    from test_analysis import record

    from breakeven import docs_tables
    from breakeven.results import RunMeta, RunStore

    store = RunStore.create(tmp_path / "published", "standard", RunMeta(created="2026-12-07T00:00:00+00:00"))
    for question, profile, repeats in (
        ("groupby_q1", "default", [2.0, 2.1, 2.2]),
        ("groupby_q1", "tuned", [1.0, 1.1, 1.2]),
        ("groupby_q3", "default", [1.0, 1.5, 2.0]),
        ("groupby_q3", "tuned", [0.9, 1.4, 1.9]),
    ):
        store.write(record("dask", "threads", 10**7, repeats, profile=profile, workload=question))
    rows = docs_tables.profiles(tmp_path).splitlines()
    assert "| groupby_q1 | 1e7 | 0.52 |" in rows and "| groupby_q3 | 1e7 | 0.93 even |" in rows
    assert rows[-1] == "| geometric mean (cases) | | 0.70 (2) |"
