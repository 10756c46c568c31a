"""Benchmarks of the cockpit against the lab (issue 10). Run: python bench/run.py [--quick]."""
