"""Find a Java that Spark 4 can run on (17 or newer): JAVA_HOME, then ``java`` on PATH, then
the JDKs under /usr/lib/jvm."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_MAJOR = 17
FIX = "install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME to one"


@dataclass(frozen=True)
class Java:
    home: Path
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def _probe(java_bin: Path) -> Java | None:
    try:
        out = subprocess.run([str(java_bin), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "([0-9][0-9._]*)', out)
    if not match:
        return None
    version = match.group(1)
    if version.startswith("1."):  # Java 8 and older report 1.x
        version = version[2:]
    return Java(java_bin.resolve().parent.parent, version)


def _candidates() -> list[Path]:
    found = []
    if home := os.environ.get("JAVA_HOME"):
        found.append(Path(home) / "bin" / "java")
    if on_path := shutil.which("java"):
        found.append(Path(on_path))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        found.extend(sorted(jvm.glob("*/bin/java")))
    return found


def find_java() -> Java | str:
    """The first usable Java, or a one-line reason with the fix."""
    seen = []
    for java_bin in _candidates():
        java = _probe(java_bin)
        if java is None:
            continue
        if java.major >= MIN_MAJOR:
            return java
        seen.append(f"{java.home} is Java {java.version}")
    found = f" (found: {'; '.join(seen)})" if seen else ""
    return f"Spark needs Java {MIN_MAJOR}+ and none was found{found}: {FIX}"
