"""Group-by aggregates: the db-benchmark questions on G1 data."""

from benchmarks.common import define

define("groupby", "GroupBy", globals())
