"""The claims practitioners make about distributed dataframes, tested against the records.

Each claim is read as a measurable statement (``Claim.reading``, shown on the site with its
thresholds), its evidence is every comparison of the records it concerns (question, size,
configuration, baseline, ratio), each made by the verdicts' rules (``analysis.compare``): a
comparison holds or fails only beyond the repeats' spread; one within it is ``even``; one whose
baseline did not finish under smaller limits is ``apart`` (not comparable); neither counts. The
verdict is ``supports`` (the statement holds in at least ``HOLDS`` of the comparisons that
count), ``refutes`` (in at most ``FAILS``), or ``depends``, with what it depends on: the groups
(engine mode, question) where it holds and where it does not.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from breakeven import analysis, scenarios
from breakeven.labels import short_config
from breakeven.results import Record

HOLDS, FAILS = 0.75, 0.25  # the share of comparisons in which the statement holds
DISASTER = 10.0  # "a disaster": ten times the best single machine's time
SPARK_MARGIN = 1.1  # "the fastest": within 10% of the fastest distributed configuration

# What one comparison says of the statement: it holds, it fails, or it does not count.
HELD, FAILED, EVEN, APART = "holds", "fails", "even", "not comparable"


@dataclass(frozen=True)
class Evidence:
    question: str
    family: str
    rows: int
    config: str  # what the claim is about (a distributed configuration)
    baseline: str  # whom it is compared with (its fastest configuration at this size)
    ratio: float | None  # config's median compute time over the baseline's (0: only config finished)
    outcome: str  # HELD, FAILED, EVEN or APART
    why: str = ""  # for APART: the limits that differed

    @property
    def holds(self) -> bool:
        return self.outcome == HELD

    @property
    def counts(self) -> bool:
        return self.outcome in (HELD, FAILED)


@dataclass
class Claim:
    claim: str  # as practitioners say it
    reading: str  # the measurable statement tested, with its thresholds
    evidence: list[Evidence] = field(default_factory=list)
    verdict: str = "no data"  # supports, refutes, depends, undecided (none counts), no data
    summary: str = ""

    @property
    def counted(self) -> list[Evidence]:
        """The comparisons that count: beyond the repeats' spread, under comparable limits."""
        return [e for e in self.evidence if e.counts]

    @property
    def share(self) -> float | None:
        counted = self.counted
        return sum(e.holds for e in counted) / len(counted) if counted else None


def _points(cells: dict[str, Record], keep: Callable[[str, Record], bool]) -> dict[str, analysis.Point]:
    return {c: analysis.Point.of(r) for c, r in cells.items() if keep(c, r)}


def _fastest(points: dict[str, analysis.Point]) -> str | None:
    ok = {c: p.median for c, p in points.items() if p.status == "ok" and p.median}
    return min(ok, key=lambda c: ok[c] or math.inf) if ok else None


def _evidence(
    question: str,
    family: str,
    config: str,
    found: analysis.Comparison,
    threshold: float,
    holds_when: str,
) -> Evidence:
    """One comparison as evidence: it holds where its state against ``threshold`` is
    ``holds_when`` (helps: below it; hurts: at or above it) beyond the repeats' spread."""
    said = found.state(threshold)
    outcome = APART if said is None else EVEN if said == analysis.EVEN else HELD if said == holds_when else FAILED
    return Evidence(question, family, found.rows, config, found.baseline or "", found.ratio, outcome, found.apart or "")


def _comparisons(
    records: list[Record],
    questions: Callable[[Record], bool],
    configs: Callable[[str, Record], bool],
    baseline: Callable[[str, Record], bool],
    threshold: float,
    holds_when: str,
    best_only: bool = False,
) -> list[Evidence]:
    """Each configuration ``configs`` keeps (or only the fastest of them, ``best_only``) against
    the fastest ``baseline`` keeps, at each question and size (``analysis.compare``: a baseline
    that did not finish is beaten only under the same limits); the statement holds where the
    ratio is on the ``holds_when`` side of ``threshold`` beyond the repeats' spread."""
    out = []
    for scen in scenarios.by_size(records):
        cells = {c: r for c, r in scen.cells.items() if questions(r)}
        if not cells or scen.shown_elsewhere:
            continue
        family = next(iter(cells.values())).family
        base = list(_points(cells, baseline).values())
        contenders = _points(cells, configs)
        if best_only:
            best = _fastest(contenders)
            contenders = {best: contenders[best]} if best else {}
        for config, point in contenders.items():
            if (found := analysis.compare(point, base)) is not None:
                out.append(_evidence(scen.question, family, config, found, threshold, holds_when))
    return out


def _decide(claim: Claim, groups: Callable[[Evidence], str]) -> Claim:
    """The verdict from the share of counted evidence that holds; where it depends, on which groups."""
    share = claim.share
    aside = _aside(claim.evidence)
    if share is None:
        if claim.evidence:
            claim.verdict, claim.summary = "undecided", f"No comparison counts{aside}."
        else:
            claim.summary = "No records bear on it yet."
        return claim
    counted = claim.counted
    held = sum(e.holds for e in counted)
    claim.verdict = "supports" if share >= HOLDS else "refutes" if share <= FAILS else "depends"
    claim.summary = f"It holds in {held} of {len(counted)} comparisons ({share:.0%}){aside}."
    if claim.verdict == "depends":
        by: dict[str, list[Evidence]] = defaultdict(list)
        for e in counted:
            by[groups(e)].append(e)
        yes = [g for g, es in sorted(by.items()) if sum(e.holds for e in es) / len(es) >= HOLDS]
        no = [g for g, es in sorted(by.items()) if sum(e.holds for e in es) / len(es) <= FAILS]
        if yes:
            claim.summary += f" It holds for {', '.join(yes)}"
            claim.summary += f"; not for {', '.join(no)}." if no else "."
        elif no:
            claim.summary += f" It does not hold for {', '.join(no)}."
    return claim


def _aside(evidence: list[Evidence]) -> str:
    """``; 3 more within the repeats' spread and 1 not comparable (not counted)``, or nothing."""
    even, apart = (sum(e.outcome == o for e in evidence) for o in (EVEN, APART))
    said = [f"{even} within the repeats' spread"] * bool(even) + [f"{apart} not comparable"] * bool(apart)
    return f"; {' and '.join(said)} not counted" if said else ""


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
        "size given) at each size: it holds where Dask is slower beyond the repeats' spread. Supports at "
        f"{HOLDS:.0%} of the comparisons that count or more, refutes at {FAILS:.0%} or fewer.",
    )
    claim.evidence = _comparisons(
        records,
        lambda r: r.family == "transform" and r.case.chunk_rows is not None,
        lambda c, r: r.case.engine == "dask",
        _is_pandas,
        1.0,
        analysis.HURTS,
    )
    return _decide(claim, lambda e: _mode(e.config))


def groupby_on_a_cluster(records: list[Record]) -> Claim:
    claim = Claim(
        "Group-by aggregates work fine on a cluster.",
        "On each group-by question at each size, the fastest distributed configuration against the faster "
        "pandas profile (the job a cluster would take over): it holds where distribution is faster beyond "
        "the repeats' spread, or pandas did not finish under the same limits.",
    )
    claim.evidence = _comparisons(
        records, lambda r: r.family == "groupby", _is_distributed, _is_pandas, 1.0, analysis.HELPS, best_only=True
    )
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
        "more, beyond the repeats' spread. The summary compares it with the same configurations on group-by "
        "aggregates.",
    )
    claim.evidence = _comparisons(records, _small_merge, _is_distributed, _is_single, DISASTER, analysis.HURTS)
    _decide(claim, lambda e: short_config(_mode(e.config)))
    merges = [e.ratio for e in claim.evidence if e.ratio and e.ratio < math.inf]
    groupby = _comparisons(records, lambda r: r.family == "groupby", _is_distributed, _is_single, 1.0, analysis.HURTS)
    ratios = [e.ratio for e in groupby if e.ratio and e.ratio < math.inf]
    if merges and ratios:
        m, g = statistics.median(merges), statistics.median(ratios)
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
        f"of any other engine: it holds where Spark is faster or less than {SPARK_MARGIN - 1:.0%} slower, beyond "
        "the repeats' spread.",
    )
    claim.evidence = _comparisons(
        records,
        lambda r: True,
        lambda c, r: r.case.engine == "spark",
        lambda c, r: r.distributed and r.case.engine != "spark",
        SPARK_MARGIN,
        analysis.HELPS,
        best_only=True,
    )
    return _decide(claim, lambda e: e.family)


CLAIMS = (chunked_pandas_on_dask, groupby_on_a_cluster, small_merge_on_a_cluster, spark_by_default)


def evaluate(records: list[Record]) -> list[Claim]:
    """Every claim against the records (those a verdict may compare: one number of cores)."""
    return [test(records) for test in CLAIMS]
