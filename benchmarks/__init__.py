"""breakeven's asv benchmarks: one class per workload family, over the runner that ``breakeven run`` uses."""
