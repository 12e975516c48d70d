"""The meters: the control-group files they write and read (on a fake tree, for both cgroup
versions), and the real thing where this machine allows it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from breakeven import accounting
from breakeven.accounting import CgroupMeter, ControlGroup, Hierarchy, OverBudget


def fake_tree(tmp_path: Path, version: int) -> Hierarchy:
    memory = tmp_path / "memory" / "runner"
    memory.mkdir(parents=True)
    cpu = None
    if version == 1:
        cpu = tmp_path / "cpuacct" / "runner"
        cpu.mkdir(parents=True)
    else:
        (memory / "cgroup.subtree_control").write_text("")
    return Hierarchy(version, memory, cpu)


class FakeKernel:
    """Writes the files the kernel would make in a new group."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
        original = ControlGroup._mkdir
        self.version = version

        def mkdir(group: ControlGroup, path: Path) -> Path:
            made = original(group, path)
            if version == 1 and "cpuacct" in str(path):
                (made / "cpuacct.usage").write_text("2500000000\n")
            elif version == 1:
                (made / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
                (made / "memory.max_usage_in_bytes").write_text("1000\n")
            else:
                (made / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
                (made / "memory.peak").write_text("1000\n")
                (made / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
                (made / "cgroup.subtree_control").write_text("")
            return made

        monkeypatch.setattr(ControlGroup, "_mkdir", mkdir)


@pytest.mark.parametrize("version", [1, 2])
def test_a_group_is_made_limited_read_and_removed(tmp_path, monkeypatch, version: int) -> None:
    FakeKernel(monkeypatch, version)
    h = fake_tree(tmp_path, version)
    group = ControlGroup(h, memory_limit=2**31)
    limit = "memory.max" if version == 2 else "memory.limit_in_bytes"
    assert (group.memory / limit).read_text() == f"{2**31}\n"
    if version == 2:  # the memory controller is delegated to the group's children
        assert (h.memory / "cgroup.subtree_control").read_text() == "+memory\n"
    prefix = group.join("session-1")
    leaf = group.memory / "session-1"
    assert prefix[:2] == ["/bin/sh", "-c"] and str(leaf / "cgroup.procs") in prefix and prefix[-1] == "--"
    # the prefix really puts the command's own pid in the leaf, then runs it
    done = subprocess.run([*prefix, "sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    assert (leaf / "cgroup.procs").read_text().split() == done.stdout.split()
    assert group.pids("session-1") == [int(done.stdout)]
    meter = CgroupMeter(group, 2**31)
    meter.poll()  # no kill yet
    assert meter.peak() == 1000 and meter.cpu_seconds() == 0.0
    oom = leaf / ("memory.oom_control" if version == 1 else "memory.events")
    events = group.memory / "memory.events"
    (events if version == 2 else oom).write_text("oom_kill 1\n")  # v2 counts in every ancestor, v1 in the leaf
    with pytest.raises(OverBudget, match="the kernel killed a process"):
        meter.poll()
    meter.poll()  # counted once
    for path in group.dirs:  # the kernel's files vanish with the group; plain files must go first here
        for f in path.glob("*"):
            if f.is_file():
                f.unlink()
    group.remove()
    assert not [p for p in h.memory.iterdir() if p.is_dir()]


def test_stale_groups_of_dead_runners_are_removed_only_when_empty(tmp_path) -> None:
    h = fake_tree(tmp_path, 1)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (h.memory / f"breakeven-{dead.pid}-1" / "leaf").mkdir(parents=True)
    busy = h.memory / f"breakeven-{dead.pid}-2" / "leaf"
    busy.mkdir(parents=True)
    (busy / "cgroup.procs").write_text("1\n")  # a directory that is not empty: rmdir fails, as for a live group
    mine = h.memory / f"breakeven-{__import__('os').getpid()}-1"
    mine.mkdir()
    accounting.remove_stale(h)
    assert sorted(p.name for p in h.memory.iterdir()) == sorted([busy.parent.name, mine.name])


def test_the_machines_own_hierarchy_is_found_or_the_reason_given() -> None:
    found = Hierarchy.find()
    if isinstance(found, str):
        assert found  # a reason, and the runner samples instead
        return
    assert found.memory.is_dir() and found.version in (1, 2)
