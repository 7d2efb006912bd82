"""Benchmarks: scripts run by hand or with `make bench`, never collected as tests."""
