"""Merges: a big table with a small, medium or big one, and the dimension-size sweep."""

from benchmarks.common import define

define("join", "Merge", globals())
