"""The runs of a results folder as a Markdown table, from their ``run.json`` and records alone:
how each was made (the commands that wrote into it), when, on what, its cases by status, and
the time it took over all its sittings. The docs' list of published runs is this table
(``python -m breakeven.runs_table results/published > docs/published-runs.md``), and a test
holds it to the records, so that no figure in it is typed by hand."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from breakeven.results import RunStore, read_json


def fmt_duration(seconds: float | None) -> str:
    """``44 min 22 s``, ``13 h 5 min``; ``–`` where the run did not say."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _minute(iso: str | None) -> str | None:
    """``2026-12-07 18:04`` of an ISO 8601 time (UTC)."""
    return iso[:16].replace("T", " ") if iso else None


def _statuses(store: RunStore) -> str:
    """``158 ok``, ``161 ok, 15 memory``: the records' statuses, most common first."""
    found = Counter(read_json(path).get("status", "?") for path in sorted(store.cases_dir.glob("*.json")))
    return ", ".join(f"{n} {status}" for status, n in found.most_common()) or "none yet"


def table(results: Path) -> str:
    """The runs under ``results``, oldest first."""
    lines = [
        "| run | made with | started, finished | cases | time (runner CPU) |",
        "|---|---|---|---|---|",
    ]
    for store in RunStore.all(results):
        meta = store.meta()
        commands = "<br>".join(f"`{c}`" for c in meta.commands) or "not recorded (made before run.json kept it)"
        started, finished = (_minute(meta.created) or "?", _minute(meta.finished) or "not finished")
        cases = _statuses(store) + ("" if meta.finished else f" of {len(meta.planned)} planned so far")
        took = f"{fmt_duration(meta.wall_seconds)} ({fmt_duration(meta.runner_cpu_seconds)})"
        lines.append(f"| `{store.run_id}` | {commands} | {started}, {finished} | {cases} | {took} |")
    return "\n".join(lines) + "\n"


PREAMBLE = """# The published runs

Made by `python -m breakeven.runs_table results/published > docs/published-runs.md` from each
run's `run.json` and records (a test checks it is current). Time is over every sitting of a run
(`--resume` adds its own; runs made before 2026-12-07 kept only their last sitting's).

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="?", default=Path("results/published"))
    args = parser.parse_args()
    print(PREAMBLE + table(args.results), end="")


if __name__ == "__main__":
    main()
