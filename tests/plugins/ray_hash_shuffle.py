"""A worker plugin for the tests: the Ray tuned profile takes its large-data path (the hash
shuffle and keyed repartitions) even on tiny data."""

import breakeven.engines.ray_engine

breakeven.engines.ray_engine.SORT_SHUFFLE_BELOW_BYTES = 0
