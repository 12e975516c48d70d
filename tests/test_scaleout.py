"""The scale-out model: fitted from cluster-mode records at several worker counts, its error on
the measured points, its terms kept non-negative, and runs that cannot carry it named."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_analysis import record

from breakeven import scaleout
from breakeven.results import Record


def _cluster(rows: int, workers: int, seconds: float, profile: str = "tuned") -> Record:
    return record("dask", "cluster", rows, [seconds], topology=f"{workers}x1", profile=profile)


def test_the_model_recovers_known_terms_and_its_optimum() -> None:
    def truth(n: int, w: int) -> float:
        return 0.5 + 2e-7 * n / w + 0.1 * w

    records = [_cluster(n, w, truth(n, w)) for n in (10**6, 10**7) for w in (1, 2, 4)]
    records.append(record("pandas", "single", 10**6, [0.1]))  # not a cluster run: ignored
    fits, skipped = scaleout.fit(records)
    assert not skipped and len(fits) == 1
    found = fits[0]
    assert found.config == "dask:cluster:tuned" and found.cores == 1 and found.question == "groupby_q1"
    assert (found.fixed, found.per_row, found.per_worker) == pytest.approx((0.5, 2e-7, 0.1), rel=1e-6)
    assert max(map(abs, found.errors)) < 1e-9 and max(map(abs, found.loo_errors)) < 1e-6
    assert found.predict(10**7, 16) == pytest.approx(truth(10**7, 16))
    assert found.best_workers(10**7) == pytest.approx(math.sqrt(2e-7 * 10**7 / 0.1))
    assert scaleout.summary(found.errors) == "median 0%, max 0%"


def test_noisy_points_have_an_error_and_no_term_goes_negative() -> None:
    # Time that falls with more workers faster than 1/w would need a negative fixed cost.
    records = [_cluster(10**6, 1, 4.0), _cluster(10**6, 2, 1.0), _cluster(10**7, 1, 40.0), _cluster(10**7, 2, 9.0)]
    (found,), _ = scaleout.fit(records)
    assert min(found.fixed, found.per_row, found.per_worker) >= 0
    assert max(map(abs, found.errors)) > 0.05  # the model cannot follow it, and says by how much
    assert len(found.loo_errors) == 4


def test_nnls_matches_the_unconstrained_fit_when_that_is_feasible() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 1, size=(8, 3))
    x = np.array([1.0, 2.0, 3.0])
    assert scaleout.nnls(a, a @ x) == pytest.approx(x)


def test_runs_that_cannot_carry_the_model_are_named() -> None:
    one_width = [_cluster(n, 2, 1.0) for n in (10**6, 10**7)]
    too_few = [_cluster(10**6, 1, 1.0, "default"), _cluster(10**6, 2, 0.8, "default")]
    failed = record("dask", "cluster", 10**7, None, status="timeout", topology="1x1", profile="default")
    fits, skipped = scaleout.fit(one_width + too_few + [failed])
    assert not fits
    reasons = {s.label: s.reason for s in skipped}
    assert reasons["dask:cluster:tuned (workers of 1 core)"] == "measured at one worker count only"
    assert reasons["dask:cluster:default (workers of 1 core)"] == "2 finished points, the model needs 4"
