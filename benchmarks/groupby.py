"""Group-by aggregates: the db-benchmark questions on G1 data."""

from benchmarks.common import FamilyBenchmarks, Grid, definition_version


class GroupBy(FamilyBenchmarks):
    family = "groupby"
    grid = Grid(family)
    params = grid.params
    version = definition_version(grid.workloads)
