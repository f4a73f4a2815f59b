"""``python -m bench``: run the benchmarks, print a table, write JSON to ``bench/results/``."""

from bench.runner import main

main()
