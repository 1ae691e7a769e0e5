"""Benchmarks of partner-sync against raw floors: `make bench` (see `benchmarks/README.md`)."""
