"""What the published answer said before and says now: the text of the site's front page, claims
and COST at a git commit against the working tree's, line by line, as a unified diff.

    python scripts/site_compare.py 099c191                 # the site before issue 38
    python scripts/site_compare.py 099c191 --site results/published/site --page claims.html
"""

from __future__ import annotations

import argparse
import difflib
import html
import re
import subprocess
from pathlib import Path

PAGES = ("index.html", "claims.html", "cost.html")


def text_lines(page: str) -> list[str]:
    """A page's words, a line per element's text, without its scripts, styles and charts' markup."""
    page = re.sub(r"<(script|style|svg)\b.*?</\1>", "", page, flags=re.S)
    words = html.unescape(re.sub(r"<[^>]+>", "\n", page))
    return [line.strip() for line in words.splitlines() if line.strip()]


def at_commit(commit: str, path: Path) -> str:
    done = subprocess.run(["git", "show", f"{commit}:{path.as_posix()}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="the commit whose committed site is the 'before'")
    parser.add_argument("--site", type=Path, default=Path("results/published/site"))
    parser.add_argument("--page", action="append", help=f"pages to compare (default: {', '.join(PAGES)})")
    args = parser.parse_args()
    for name in args.page or PAGES:
        before = text_lines(at_commit(args.commit, args.site / name))
        now_path = args.site / name
        now = text_lines(now_path.read_text()) if now_path.exists() else []
        print("".join(difflib.unified_diff([f"{line}\n" for line in before], [f"{line}\n" for line in now],
                                           f"{name} at {args.commit}", f"{name} now", n=0)))  # fmt: skip


if __name__ == "__main__":
    main()
