"""Benchmarks: the cascade against the baselines a user would pick instead, and against the decode limit.

Run ``python -m benchmarks.run`` (or ``make bench``); results land in ``benchmarks/results/`` (its README.md says
which file backs which claim).
"""

from benchmarks.harness import quiet_openmp

quiet_openmp()
