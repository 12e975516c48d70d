"""Chunked transforms: arithmetic, a string operation, a Python function per chunk, a running total per group."""

from benchmarks.common import FamilyBenchmarks, Grid, definition_version


class Transform(FamilyBenchmarks):
    family = "transform"
    grid = Grid(family)
    params = grid.params
    version = definition_version(grid.workloads)
