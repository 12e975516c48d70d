"""The claims practitioners make about distributed dataframes, tested against the records.

Each claim is read as a measurable statement (``Claim.reading``, shown on the site with its
thresholds), its evidence is every comparison of the records it concerns (question, size,
configuration, baseline, ratio), and its verdict is ``supports`` (the statement holds in at
least ``HOLDS`` of the comparisons), ``refutes`` (in at most ``FAILS``), or ``depends``, with
what it depends on: the groups (engine mode, question) where it holds and where it does not.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from breakeven import analysis
from breakeven.data import fmt_num
from breakeven.labels import short_config
from breakeven.results import Record

HOLDS, FAILS = 0.75, 0.25  # the share of comparisons in which the statement holds
DISASTER = 10.0  # "a disaster": ten times the best single machine's time


@dataclass(frozen=True)
class Evidence:
    question: str
    family: str
    rows: int
    config: str  # what the claim is about (a distributed configuration)
    baseline: str  # whom it is compared with
    ratio: float  # config's median compute time over the baseline's
    holds: bool  # whether this comparison bears the statement out


@dataclass
class Claim:
    claim: str  # as practitioners say it
    reading: str  # the measurable statement tested, with its thresholds
    evidence: list[Evidence] = field(default_factory=list)
    verdict: str = "no data"  # supports, refutes, depends, no data
    summary: str = ""

    @property
    def share(self) -> float | None:
        return sum(e.holds for e in self.evidence) / len(self.evidence) if self.evidence else None


def _best(cells: dict[str, Record], keep: Callable[[str, Record], bool]) -> tuple[str, float] | None:
    found = {c: r.times.compute_median for c, r in cells.items() if keep(c, r) and r.ok and r.times.compute_median}
    if not found:
        return None
    best = min(found, key=lambda c: found[c] or math.inf)
    return best, found[best] or math.inf


def _comparisons(
    records: list[Record],
    questions: Callable[[Record], bool],
    configs: Callable[[str, Record], bool],
    baseline: Callable[[str, Record], bool],
    best_only: bool = False,
) -> list[tuple[str, str, int, str, str, float]]:
    """(question, family, rows, config, baseline, ratio) for each configuration ``configs``
    keeps (or only the fastest of them, ``best_only``) against the fastest ``baseline`` keeps."""
    out = []
    for scen in analysis.scenarios(records):
        cells = {c: r for c, r in scen.cells.items() if questions(r)}
        if not cells or scen.shown_elsewhere:
            continue
        family = next(iter(cells.values())).family
        base = _best(cells, baseline)
        if base is None:
            continue
        chosen = [_best(cells, configs)] if best_only else [_best({c: r}, configs) for c, r in cells.items()]
        for found in chosen:
            if found is not None:
                out.append((scen.question, family, scen.rows, found[0], base[0], found[1] / base[1]))
    return out


def _decide(claim: Claim, groups: Callable[[Evidence], str]) -> Claim:
    """The verdict from the share of evidence that holds; where it depends, on which groups."""
    share = claim.share
    if share is None:
        claim.summary = "No records bear on it yet."
        return claim
    n = len(claim.evidence)
    held = sum(e.holds for e in claim.evidence)
    claim.verdict = "supports" if share >= HOLDS else "refutes" if share <= FAILS else "depends"
    claim.summary = f"It holds in {held} of {n} comparisons ({share:.0%})."
    if claim.verdict == "depends":
        by: dict[str, list[Evidence]] = defaultdict(list)
        for e in claim.evidence:
            by[groups(e)].append(e)
        yes = [g for g, es in sorted(by.items()) if sum(e.holds for e in es) / len(es) >= HOLDS]
        no = [g for g, es in sorted(by.items()) if sum(e.holds for e in es) / len(es) <= FAILS]
        if yes:
            claim.summary += f" It holds for {', '.join(yes)}"
            claim.summary += f"; not for {', '.join(no)}." if no else "."
        elif no:
            claim.summary += f" It does not hold for {', '.join(no)}."
    return claim


def _is_pandas(config: str, record: Record) -> bool:
    return not record.distributed and config.startswith("pandas:")


def _is_single(config: str, record: Record) -> bool:
    return not record.distributed


def _is_distributed(config: str, record: Record) -> bool:
    return record.distributed


def _mode(config: str) -> str:
    return ":".join(config.split("@")[0].split(":")[:2])


def chunked_pandas_on_dask(records: list[Record]) -> Claim:
    claim = Claim(
        "A chunked pandas job moved to Dask runs slower than plain pandas.",
        "Every Dask configuration against the faster pandas profile, on each chunked transform (a chunk "
        f"size given) at each size: it holds where Dask is slower. Supports at {HOLDS:.0%} of the "
        f"comparisons or more, refutes at {FAILS:.0%} or fewer.",
    )
    found = _comparisons(
        records,
        lambda r: r.family == "transform" and r.case.chunk_rows is not None,
        lambda c, r: r.case.engine == "dask",
        _is_pandas,
    )
    claim.evidence = [Evidence(q, f, n, c, b, ratio, ratio > 1) for q, f, n, c, b, ratio in found]
    return _decide(claim, lambda e: _mode(e.config))


def groupby_on_a_cluster(records: list[Record]) -> Claim:
    claim = Claim(
        "Group-by aggregates work fine on a cluster.",
        "On each group-by question at each size, the fastest distributed configuration against the faster "
        "pandas profile (the job a cluster would take over): it holds where distribution is at least as "
        "fast. Its ratio to the best single-machine engine is in the evidence too.",
    )
    found = _comparisons(records, lambda r: r.family == "groupby", _is_distributed, _is_pandas, best_only=True)
    claim.evidence = [Evidence(q, f, n, c, b, ratio, ratio <= 1) for q, f, n, c, b, ratio in found]
    return _decide(claim, lambda e: e.question.split()[0])


def _small_merge(r: Record) -> bool:
    """A merge of the big table with a small one: J1's ``small`` side, or D1's dimension of at
    most 10,000 rows."""
    name = r.case.workload
    return r.family == "join" and ("_small_" in name or ("_dim_" in name and (r.case.dim_rows or 0) <= 10**4))


def small_merge_on_a_cluster(records: list[Record]) -> Claim:
    claim = Claim(
        "Merging a big table with a small one across a cluster is a performance disaster.",
        f"Every distributed configuration against the best single-machine engine on each merge with a small "
        f"table (at most 10,000 rows) at each size: it holds where it takes {DISASTER:.0f} times as long or "
        "more. The summary compares it with the same configurations on group-by aggregates.",
    )
    found = _comparisons(records, _small_merge, _is_distributed, _is_single)
    claim.evidence = [Evidence(q, f, n, c, b, ratio, ratio >= DISASTER) for q, f, n, c, b, ratio in found]
    _decide(claim, lambda e: short_config(_mode(e.config)))
    merges = [e.ratio for e in claim.evidence if 0 < e.ratio < math.inf]
    groupby = [r for *_, r in _comparisons(records, lambda r: r.family == "groupby", _is_distributed, _is_single)]
    groupby = [r for r in groupby if 0 < r < math.inf]
    if merges and groupby:
        m, g = statistics.median(merges), statistics.median(groupby)
        claim.summary += (
            f" Median ratio to the best single machine: {m:.3g}x on these merges, {g:.3g}x on group-by "
            f"aggregates ({'worse' if m > g else 'no worse'} than group-bys)."
        )
    return claim


def spark_by_default(records: list[Record]) -> Claim:
    claim = Claim(
        "If you default to Spark, as everyone does, you get the fastest distributed engine.",
        '"Everyone defaults to Spark" is about popularity, which no timing can test; what it can test is the '
        "question behind it: if you default to Spark, how often is it the fastest distributed engine here? On "
        "each question at each size, Spark's fastest configuration against the fastest distributed configuration "
        "of any engine: it holds where Spark is the fastest (or within 10% of it).",
    )
    for scen in analysis.scenarios(records):
        if scen.shown_elsewhere:
            continue
        spark = _best(scen.cells, lambda c, r: r.case.engine == "spark")
        best = _best(scen.cells, _is_distributed)
        if spark is None or best is None:
            continue
        family = next(iter(scen.cells.values())).family
        ratio = spark[1] / best[1]
        claim.evidence.append(Evidence(scen.question, family, scen.rows, spark[0], best[0], ratio, ratio <= 1.1))
    return _decide(claim, lambda e: e.family)


CLAIMS = (chunked_pandas_on_dask, groupby_on_a_cluster, small_merge_on_a_cluster, spark_by_default)


def evaluate(records: list[Record]) -> list[Claim]:
    """Every claim against the records (those a verdict may compare: one number of cores)."""
    return [test(records) for test in CLAIMS]


def describe(e: Evidence) -> str:
    """``dask:threads on transform_udf chunk=1e5 at 1e6 rows: 2.6x slower than pandas``."""
    faster = "faster" if e.ratio < 1 else "slower"
    factor = analysis.fmt_ratio(e.ratio) if 0 < e.ratio < math.inf else "only one finished"
    return (
        f"{short_config(e.config)} on {e.question} at {fmt_num(e.rows)} rows: {factor} {faster} than "
        f"{short_config(e.baseline)}"
    )
