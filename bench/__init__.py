"""Millstream's benchmark suite: every figure against a baseline measured in the same run.

``python -m bench [--quick]`` (``make bench`` / ``make bench-quick``) starts the real local
stack, runs each scenario of :mod:`bench.scenarios`, writes a JSON result file and
regenerates ``docs/benchmarks.md``.
"""
