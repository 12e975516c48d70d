"""A worker plugin for the tests: this machine has no usable Java."""

import breakeven.java

breakeven.java._candidates = lambda: []
