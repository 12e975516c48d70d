"""``breakeven advise``: for one question at one data size on one machine (or cluster), what the
measured records say each configuration takes, how much memory it needs, and which is fastest
(and, given prices, cheapest), every figure marked with how it was obtained and the records it
rests on.

How a time is obtained, per configuration (its records on this question, on a machine of the
requested cores; the newest finished record at each size):

- ``measured``: a record at the requested size;
- ``interpolated``: between the two measured sizes around it, on log-log scale (time grows about
  as a power of rows), its band from the two sizes' fastest and slowest repeats;
- ``extrapolated``: beyond the measured sizes, at most ``MAX_STRETCH`` times, along the power
  law through the two measured sizes nearest (the local slope: times grow faster than a single
  power law as fixed costs fade and memory fills, so a fit to every size under-predicts). Its
  error is known from the data: each measured size predicted the same way from the two before it
  (or after it, extrapolating down), the *forward miss*. The band is that miss per log-step of
  size, times the log-step asked for (upward, its top at least where the slope steepened as much
  again as it did between the last two steps: on the calibration sweeps every upward miss was an
  under-prediction); refused where the miss exceeds ``MAX_MISS`` or fewer than
  three sizes were measured (no miss to judge by), and upward where time grows more slowly
  than rows ** ``MIN_SLOPE`` (fixed costs dominate: where the work takes over is unknown);
- ``model``: a distributed engine on a cluster of a worker count not measured, from the
  scale-out model (``breakeven.scaleout``), its band from the model's leave-one-out error.

Anything else is ``not covered``, with the ``breakeven run`` command that would measure it
(``--measure`` runs those). Memory: the peak of each measured size, a straight line in rows
between and beyond them (the same limits), against the machine's memory: the headroom, and the
memory cliff where a record ran out of its budget or the line crosses the memory.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from breakeven.errors import UsageError
from breakeven.labels import config_label
from breakeven.network import NONE
from breakeven.results import Record, RunMeta, RunStore, newest
from breakeven.scaleout import fit as fit_scaleout
from breakeven.size_model import MAX_STRETCH, Estimate, fmt_sizes, memory_line, size_model
from breakeven.units import fmt_num

MAX_ERROR = 0.5  # refuse a scale-out model whose leave-one-out error is larger
# A run speaks for a machine whose memory is within this factor of what the run's engines had
# (its budget, else the machine's): a 2 GiB budget's memory failures are no cliff on 24 GiB.
MEMORY_CLASS = 2.0


@dataclass(frozen=True)
class Hardware:
    """What the answer is for: one machine (``workers`` 1), or a cluster of workers."""

    cores: int  # per worker
    memory_bytes: int  # per worker
    workers: int = 1

    @property
    def is_cluster(self) -> bool:
        return self.workers > 1

    @property
    def topology(self) -> str:
        return f"{self.workers}x{self.cores}"

    @property
    def total_cores(self) -> int:
        return self.cores * self.workers

    @property
    def total_memory(self) -> int:
        return self.memory_bytes * self.workers

    @property
    def label(self) -> str:
        memory = f"{self.memory_bytes / 2**30:.0f} GiB"
        if self.is_cluster:
            return f"a cluster of {self.workers} workers x {self.cores} cores, {memory} each"
        return f"one machine of {self.cores} cores, {memory}"


@dataclass(frozen=True)
class Prices:
    """User-given prices (none is built in): per core-hour and per GiB-hour held."""

    core_hour: float
    gib_hour: float


@dataclass
class Advice:
    """One configuration's answer at the requested size."""

    config: str
    distributed: bool
    time: Estimate
    end_to_end: Estimate
    memory: Estimate
    machine: Hardware  # what it is for: the memory it may use, and the cores and memory it holds
    cliff: int | None = None  # smallest size at which it ran out of memory, or is predicted to
    records: list[str] = field(default_factory=list)  # run/case ids it rests on
    why: str | None = None  # why it is not covered
    command: str | None = None  # what would measure it
    measured: dict[int, float] = field(default_factory=dict)  # median compute time by size measured

    @property
    def headroom(self) -> float | None:
        return self.machine.total_memory - self.memory.value if self.memory.value is not None else None

    def cost(self, prices: Prices) -> float | None:
        """What one run costs: every core and GiB it holds, for its end-to-end time (none where
        its time is not covered)."""
        if self.end_to_end.value is None or not self.time.known:
            return None
        per_hour = self.machine.total_cores * prices.core_hour + self.machine.total_memory / 2**30 * prices.gib_hour
        return per_hour * self.end_to_end.value / 3600


@dataclass(frozen=True)
class Sample:
    """One finished or failed record, with its run's settings."""

    record: Record
    meta: RunMeta

    @property
    def rows(self) -> int:
        return self.record.case.rows


def newest_by_size(samples: list[Sample]) -> dict[int, Sample]:
    """The newest record at each size (a rerun replaces what it measured again)."""
    out: dict[int, Sample] = {}
    for s in sorted(samples, key=lambda s: s.record.finished_at):
        out[s.rows] = s
    return out


def advise_config(
    config: str,
    samples: list[Sample],
    rows: int,
    machine: Hardware,
    command: str,
) -> Advice:
    """One configuration's answer from its records on the question."""
    by_size = newest_by_size(samples)
    ok = {n: s for n, s in by_size.items() if s.record.ok and s.record.times.compute_median}
    first = next(iter(by_size.values()))
    times, ends, peaks = [], [], []
    for n, s in ok.items():
        t = s.record.times
        repeats = t.repeats or (t.compute_median,)
        times.append((n, t.compute_median, min(repeats), max(repeats)))
        if t.end_to_end:
            fixed = t.end_to_end - t.compute_median
            ends.append((n, t.end_to_end, fixed + min(repeats), fixed + max(repeats)))
        if s.record.peak_memory_bytes:
            peaks.append((n, float(s.record.peak_memory_bytes)))
    time, why = size_model(times, rows)
    end_to_end, _ = size_model(ends, rows)
    memory = memory_line(peaks, rows)
    failed = sorted(n for n, s in by_size.items() if s.record.status == "memory")
    cliff = failed[0] if failed else None
    if memory.value is not None and memory.value > machine.total_memory and (cliff is None or rows < cliff):
        cliff = rows
    if cliff is not None and rows >= cliff and time.how != "measured":
        time, why = Estimate(None), f"ran out of memory at {fmt_num(failed[0])} rows" if failed else "over memory"
    runs: dict[str, list[int]] = defaultdict(list)
    for n, s in sorted(by_size.items()):
        runs[s.record.run_id].append(n)
    used = [f"{run} ({fmt_sizes(sizes)})" for run, sizes in runs.items()]
    return Advice(
        config=config,
        distributed=first.record.distributed,
        time=time,
        end_to_end=end_to_end,
        memory=memory,
        machine=machine,
        cliff=cliff,
        records=used,
        why=why,
        command=None if time.known else command,
        measured={n: median for n, median, _, _ in times},
    )


def from_model(config: str, records: list[Record], rows: int, machine: Hardware, command: str) -> Advice | None:
    """A cluster configuration at an unmeasured worker count, from the scale-out model."""
    fits, _ = fit_scaleout(records)
    engine, mode, profile = config.split("@")[0].split(":")
    for model in fits:
        if model.config != config_label(engine, mode, profile) or model.cores != machine.cores:
            continue
        if rows > max(model.measured_rows) * MAX_STRETCH or machine.workers > max(model.measured_workers) * 4:
            return None
        error = max(abs(e) for e in model.loo_errors)
        if error > MAX_ERROR:
            return None
        value = model.predict(rows, machine.workers)
        return Advice(
            config=f"{config.split('@')[0]}@{machine.topology}",
            distributed=True,
            time=Estimate(value, value * (1 - error), value * (1 + error), "model"),
            end_to_end=Estimate(None),
            memory=Estimate(None),
            machine=machine,
            records=[f"scale-out model of {model.label} on {len(model.points)} points"],
            command=command,
        )
    return None


def same_memory(meta: RunMeta, machine: Hardware) -> bool:
    """Whether a run's engines had about the machine's memory (``MEMORY_CLASS``)."""
    had = meta.settings.memory_budget or meta.memory_bytes
    return bool(had) and machine.memory_bytes / MEMORY_CLASS <= had <= machine.memory_bytes * MEMORY_CLASS


def run_command(workload: str, config: str, rows: int, machine: Hardware, extra: list[str]) -> str:
    """The ``breakeven run`` that would measure ``config`` at ``rows``."""
    engine = config.split("@")[0]
    args = ["breakeven", "run", "-w", workload, "-e", engine, "--rows", fmt_num(rows), *extra]
    if ":cluster:" in config:
        args += ["--cluster", engine.split(":")[0], "--topology", machine.topology]
    return shlex.join(args)


def advise(
    samples: list[Sample],
    workload: str,
    rows: int,
    machine: Hardware,
    extra: list[str] | None = None,
) -> list[Advice]:
    """Every configuration's answer for ``workload`` at ``rows`` on ``machine``, fastest first.

    ``samples``: the question's records (one sink and source); those of a machine with other
    cores per engine or memory of another class (``MEMORY_CLASS``), or of another cluster
    topology, or on a rate-limited network (``--network-rate``), are left out; those of other
    topologies are the scale-out model's points."""
    by_config: dict[str, list[Sample]] = defaultdict(list)
    model_records: list[Record] = []
    for s in samples:
        case = s.record.case
        if case.mode == "cluster":
            if (s.record.cluster or {}).get("network_rate", NONE) != NONE:
                continue  # a rate-limited network is another cluster (docs/clusters.md: the network experiment)
            model_records.append(s.record)
            if machine.is_cluster and case.topology == machine.topology:
                by_config[case.config_label].append(s)
        elif not machine.is_cluster and s.record.run_cores == machine.cores and same_memory(s.meta, machine):
            by_config[case.config_label].append(s)
    out = [
        advise_config(config, found, rows, machine, run_command(workload, config, rows, machine, extra or []))
        for config, found in by_config.items()
    ]
    model_records = newest(model_records)  # two runs of the same points: the newer counts
    if machine.is_cluster:
        measured = {a.config.split("@")[0] for a in out}
        for config in sorted({r.case.config_label.split("@")[0] for r in model_records} - measured):
            command = run_command(workload, f"{config}@{machine.topology}", rows, machine, extra or [])
            found = from_model(config, model_records, rows, machine, command)
            if found is not None:
                out.append(found)
    return sorted(out, key=lambda a: (a.time.value is None, a.time.value or 0.0, a.config))


def load_samples(folders: list[Path], workload: str) -> list[Sample]:
    """Every record of ``workload`` in the runs under ``folders`` (each a results folder)."""
    out = []
    for folder in folders:
        for store in RunStore.all(folder):
            meta = None
            for record in store.records():
                if record.case.workload != workload:
                    continue
                meta = meta or store.meta()
                out.append(Sample(record, meta))
    return out


def pick_question(samples: list[Sample], sink: str | None, source: str, user_data: str | None) -> list[Sample]:
    """The samples of one question: the sink, source and data asked for; where several variants
    remain (nulls, key cardinality, a dimension's size), the one measured most."""
    chosen = [
        s
        for s in samples
        if s.record.case.source == source
        and s.record.case.user_data == user_data
        and (sink is None or s.record.case.sink in (sink, None))
    ]
    counts: dict[str, int] = defaultdict(int)
    for s in chosen:
        counts[s.record.case.question_label] += 1
    if not counts:
        return []
    label = max(counts, key=lambda q: (counts[q], q))
    return [s for s in chosen if s.record.case.question_label == label]


def table_options(samples: list[Sample], set_id: str) -> list[str]:
    """``--table ROLE=PATH`` of a user's set, from its newest record (where its files were)."""
    described = [s.record for s in samples if s.record.case.user_data == set_id and s.record.data_source]
    if not described:
        raise UsageError(f"--data {set_id}: no record says where its files are; pass its --table options instead")
    newest_one = max(described, key=lambda r: r.finished_at)
    tables = (newest_one.data_source or {})["tables"]
    return [a for role, t in sorted(tables.items()) for a in ("--table", f"{role}={t['path']}")]


def parse_prices(text: str) -> Prices:
    """``core-hour=0.05,gib-hour=0.005``: both, positive or zero."""
    given: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            given[name.strip()] = float(value) if sep else -1.0
        except ValueError:
            given[name.strip()] = -1.0
    if set(given) != {"core-hour", "gib-hour"} or min(given.values()) < 0:
        raise UsageError(f"--price {text!r}: write core-hour=PRICE,gib-hour=PRICE, e.g. core-hour=0.05,gib-hour=0.005")
    return Prices(given["core-hour"], given["gib-hour"])


def suggest(workload: str, rows: int, machine: Hardware, extra: list[str]) -> str:
    """The run that would measure the question at ``rows`` on every installed engine here."""
    return shlex.join(["breakeven", "run", "-w", workload, "--rows", fmt_num(rows), *extra])


def summary(found: list[Advice], prices: Prices | None = None) -> list[str]:
    """The answer in sentences: the fastest, the cheapest where it differs, the best single
    machine against the best distributed configuration, what is not covered and what would
    measure it, and the records every figure rests on."""
    known = [a for a in found if a.time.known]
    lines = []
    if known:
        best = known[0]
        faster = [a.config for a in found if not a.time.known and _always_faster(a, best)]
        if faster:  # not covered here, but faster than the fastest covered at every size both ran
            lines.append(
                f"fastest of those covered: {best.config}, {_seconds(best.time)} ({best.time.how}); faster than it "
                f"at every size both were measured, but not covered: {', '.join(faster)}"
            )
        else:
            lines.append(f"fastest: {best.config}, {_seconds(best.time)} ({best.time.how})")
        single = next((a for a in known if not a.distributed), None)
        dist = next((a for a in known if a.distributed), None)
        if single and dist:
            ratio = dist.time.value / single.time.value  # type: ignore[operator]
            word = "helps" if ratio < 1 else "hurts"
            factor = 1 / ratio if ratio < 1 else ratio
            lines.append(f"distribution {word} {factor:.2g}x here: {dist.config} against {single.config}")
        if prices:
            costed = [a for a in known if a.cost(prices) is not None]
            if costed:
                cheapest = min(costed, key=lambda a: a.cost(prices) or 0.0)
                cost = cheapest.cost(prices) or 0.0
                same = (
                    " (also the fastest covered)" if cheapest is best else f" (the fastest, {best.config}, costs more)"
                )
                lines.append(f"cheapest: {cheapest.config}, {cost:.3g} per run{same}")
    for a in found:
        if not a.time.known:
            lines.append(f"not covered: {a.config}: {a.why}; measure it with: {a.command}")
    for a in found:
        lines.append(f"{a.config} rests on: {', '.join(a.records)}")
    return lines


def _always_faster(a: Advice, b: Advice) -> bool:
    both = set(a.measured) & set(b.measured)
    return bool(both) and all(a.measured[n] < b.measured[n] for n in both)


def _seconds(f: Estimate) -> str:
    band = f" [{f.low:.3g}, {f.high:.3g}]" if f.how != "measured" and f.low is not None else ""
    return f"{f.value:.3g} s{band}"
