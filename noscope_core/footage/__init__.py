"""Cameras made for tests and benchmarks: the synthetic camera and the composited long camera."""
