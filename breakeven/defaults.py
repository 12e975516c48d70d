"""Each default of a run, stated once: the runner, the CLI and its help, asv's benchmarks and the
report take them from here (``tests/test_architecture.py`` finds them written anywhere else)."""

from __future__ import annotations

import os
from pathlib import Path

REPEATS = 3  # timed repeats after the cold run
TIMEOUT = 600.0  # seconds a case may take: its cold run, repeats and checks
BUDGET_SHARE = 0.8  # of the machine's memory, a session's budget where none is given
CORES = os.cpu_count() or 1  # cores each engine may use: the machine's
DATA_DIR = Path("data")  # where generated data sets are cached (BREAKEVEN_DATA)
RESULTS_DIR = Path("results")  # where runs go (runs/) and the site is built (site/) (BREAKEVEN_RESULTS)


def default_budget(memory_bytes: int | None = None) -> int:
    """A session's memory budget where none is given: ``BUDGET_SHARE`` of the machine's memory."""
    import psutil

    return int((memory_bytes or psutil.virtual_memory().total) * BUDGET_SHARE)
