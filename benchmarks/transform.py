"""Chunked transforms: arithmetic, a string operation, a Python function per chunk, a running total per group."""

from benchmarks.common import define

define("transform", "Transform", globals())
