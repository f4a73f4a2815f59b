"""Benchmarks of what a node exists to do, each against a baseline measured in the same run.

Run them with ``python -m bench`` (``make bench``); see ``docs/performance.md``.
They print figures and never fail: they are not tests.
"""
