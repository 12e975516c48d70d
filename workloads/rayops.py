"""Ray Data idioms the workloads share: grouped aggregates with the profile's shuffle
partitions, sums of empty groups as 0, a vectorised function over whole groups, and the tuned
profile's broadcast of a small table.

``c.session`` is the Ray engine's :class:`~breakeven.engines.ray_engine.RayPlan`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from breakeven.workloads import Ctx

# Ray Data's shuffle strategies (``DataContext.shuffle_strategy``) that the profiles choose from.
HASH_SHUFFLE, SORT_SHUFFLE = "shuffle_v2", "sort_shuffle_pull_based"


def aggregate(c: Ctx, ds: Any, by: list[str], *aggs: Any, zero: tuple[str, ...] = (), per_row: bool = False) -> Any:
    """``groupby(...).aggregate(...)``; the columns in ``zero`` (sums) are 0 for a group whose
    values are all null, as the questions define it (Ray's ``Sum`` gives null there).

    ``per_row``: about one group per row. The tuned profile's sort shuffle, chosen for small data,
    is then slow: q10 at 1e6 rows took 58.5 s with it against 5.5 s with the default profile's
    hash shuffle (standard suite, scripts/profile_ratios.py), so such an aggregate always uses
    the hash shuffle (``RayEngine.build`` restores the session's strategy for the next question).
    """
    if per_row and c.tuned:
        ds.context.shuffle_strategy = HASH_SHUFFLE
    out = ds.groupby(by, num_partitions=c.session.partitions).aggregate(*aggs)
    if not zero:
        return out
    return out.map_batches(_fill_zero, batch_format="pyarrow", fn_kwargs={"columns": zero})


def task_shuffle(c: Ctx, ds: Any) -> None:
    """Under the tuned profile, a join on nodes of fewer than 2 CPUs plans with the task-based
    ``shuffle_v2`` whatever the data's size, and so do the question's other shuffles (a dataset's
    DataContext is shared; the next question starts from the session's, see ``RayEngine.build``).

    Under any other strategy ``Dataset.join`` is planned as the actor-based ``JoinOperator``
    (``plan_join_op`` in ``ray/data/_internal/planner/planner.py``), whose aggregator actors hold
    0.25 CPU each for the whole join, spread over the nodes: on nodes of 1 CPU the join's map
    tasks (1 CPU each) never start (its log: ``Join(num_partitions=4) - Tasks: 2
    [backpressured:tasks(ResourceBudget)]`` until the timeout; the same hang as
    ray-project/ray#57979). ``shuffle_v2`` plans map and reduce tasks and no actor
    (``_plan_join_shuffle_v2``). Where the actor join can run, it stays: on one node of 2 CPUs it
    was faster at 1e4 and 1e6 rows (join_big_inner_agg at 1e6: 1.61 s against 5.62 s, medians of 5).
    """
    if c.tuned and not c.session.actor_join:
        ds.context.shuffle_strategy = HASH_SHUFFLE


def _fill_zero(batch: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    for name in columns:
        i = batch.schema.get_field_index(name)
        batch = batch.set_column(i, name, pc.fill_null(batch[name], 0))
    return batch


def per_key_block(ds: Any, keys: list[str], partitions: int, fn: Callable[[Any], Any]) -> Any:
    """``fn`` (pandas in, pandas out) once per block of ``ds`` hash-partitioned by ``keys``: each
    call sees whole groups, so ``fn`` may be one vectorised pass instead of a call per group.

    Right only if a partition stays one block and a block one batch, and both hold whatever the
    data's size: a keyed ``repartition`` gives "exactly this number of blocks"
    (https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.repartition.html) because
    Ray never splits a block of a keyed shuffle (``disallow_block_splitting=True`` in
    ``ray/data/_internal/planner/plan_all_to_all_op.py``: "all rows with the same key are in
    the same group (block)"), and ``batch_size=None`` hands ``fn`` "entire blocks as batches"
    (``Dataset.map_batches``). ``tests/test_distributed_profiles.py`` holds Ray to it with
    blocks forced 16 KiB small.
    """
    whole = ds.repartition(partitions, keys=keys)
    return whole.map_batches(fn, batch_format="pandas", batch_size=None)


def fetch(ds: Any) -> pa.Table:
    """Run the dataset and bring it whole to the driver as one Arrow table.

    Shuffles may give empty partitions a block without columns, and a block holding only the
    null group a key column of type null: those are left out, and types unified, respectively.
    """
    import ray

    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_columns]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def broadcast_join(
    left: Any, small: pa.Table, key: str, right_key: str, arrow_how: str, right_suffix: str | None = None
) -> Any:
    """Join every block of ``left`` with the whole of ``small`` in Arrow: no shuffle of the big
    side. Ray Data's ``join`` always hash-shuffles both sides; the small table travels to each
    task once through the object store (``fn_kwargs`` arguments are put there,
    https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.map_batches.html)."""
    return left.map_batches(
        _join_block,
        batch_format="pyarrow",
        fn_kwargs={"small": small, "key": key, "right_key": right_key, "how": arrow_how, "suffix": right_suffix},
    )


def _join_block(block: pa.Table, small: pa.Table, key: str, right_key: str, how: str, suffix: str | None) -> pa.Table:
    return block.join(small, key, right_keys=right_key, join_type=how, right_suffix=suffix, use_threads=False)
