"""Benchmarks. Each writes bench/results/<name>.json: {"machine": {...}, "metrics": {...}}."""
