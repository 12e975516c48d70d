"""A session's process tree is killed as a whole, including a process that left both the tree
and the session while it was being stopped (as Ray's raylet does), found through ``extra``."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from breakeven.processes import ProcessTree

# The worker: starts a grandchild in a session of its own whose parent exits at once, so that the
# grandchild is reparented to init, then prints the grandchild's pid and waits.
ESCAPE = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import subprocess; p = subprocess.Popen(['sleep', '300'], start_new_session=True, stdout=subprocess.DEVNULL);"
    " print(p.pid)"],
    stdout=subprocess.PIPE, text=True)
print(child.communicate()[0].strip(), flush=True)
time.sleep(300)
"""


def test_a_process_that_left_tree_and_session_is_killed_through_extra() -> None:
    worker = subprocess.Popen([sys.executable, "-c", ESCAPE], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        escaped = int(worker.stdout.readline())
        proc = psutil.Process(escaped)
        assert proc.ppid() != worker.pid and proc.pid not in {c.pid for c in psutil.Process(worker.pid).children(True)}
        ProcessTree(worker.pid).kill(lambda: [escaped])  # as a control group would list it
        deadline = time.monotonic() + 5
        while proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    finally:
        worker.kill()
        worker.wait()
