"""From result records to the comparisons ``breakeven show`` prints: per scenario (a workload on
one data set), every engine configuration's median times, the fastest, and for each
distributed configuration whether it beat the best single-machine engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def config_label(case: dict[str, Any]) -> str:
    at = f"@{case['topology']}" if case.get("topology") else ""
    return f"{case['engine']}:{case['mode']}:{case['profile']}{at}"


def scenario_label(record: dict[str, Any]) -> str:
    chunk = record["case"].get("chunk_rows")
    suffix = f" chunk={chunk:,}" if chunk else ""
    return f"{record['case']['workload']} {record['data']}{suffix}"


@dataclass
class Scenario:
    """All records of one workload on one data set."""

    label: str
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # config label -> record

    def ok(self, distributed: bool | None = None) -> dict[str, dict[str, Any]]:
        return {
            label: r
            for label, r in self.cells.items()
            if r["status"] == "ok" and (distributed is None or r["distributed"] == distributed)
        }

    def fastest(self, metric: str = "compute_median", distributed: bool | None = None) -> str | None:
        found = self.ok(distributed)
        if not found:
            return None
        return min(found, key=lambda label: found[label]["times"][metric])

    def verdict(self, config: str, metric: str = "compute_median") -> tuple[str, float | None]:
        """('helps' | 'hurts' | status | 'no baseline', speed-up over the best single-machine engine)."""
        record = self.cells.get(config)
        if record is None:
            return "–", None
        if record["status"] != "ok":
            return record["status"], None
        best = self.fastest(metric, distributed=False)
        if best is None:
            return "no baseline", None
        ratio = self.cells[best]["times"][metric] / record["times"][metric]
        return ("helps" if ratio > 1 else "hurts"), ratio


def scenarios(records: list[dict[str, Any]]) -> list[Scenario]:
    """Group records by scenario, in the order they were measured. A chunked transform is its
    own scenario: there the chunked pandas job is the single-machine baseline for Dask."""
    found: dict[str, Scenario] = {}
    for record in records:
        label = scenario_label(record)
        found.setdefault(label, Scenario(label)).cells[config_label(record["case"])] = record
    return list(found.values())


def configs(records: list[dict[str, Any]]) -> list[str]:
    """Configuration labels, single-machine first, in a stable order."""
    labels = {config_label(r["case"]): r["distributed"] for r in records}
    return sorted(labels, key=lambda label: (labels[label], label))
