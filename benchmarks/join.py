"""Merges: a big table with a small, medium or big one, and the dimension-size sweep."""

from benchmarks.common import FamilyBenchmarks, Grid, definition_version


class Merge(FamilyBenchmarks):
    family = "join"
    grid = Grid(family)
    params = grid.params
    version = definition_version(grid.workloads)
