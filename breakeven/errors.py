"""Errors the CLI turns into one clear line and exit code 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


class Unsupported(Exception):
    """An engine cannot express a workload; the message gives the reason."""


class EngineUnavailable(Exception):
    """An engine's optional dependency is missing; the message names the extra to install."""
