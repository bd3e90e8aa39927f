"""Helpers shared by tests (and the benchmarks) that drive a real relayd process."""
