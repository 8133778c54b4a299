"""Benchmarks: each module measures speed or quality against named peers in one run (`python -m benchmarks.<name>`)."""
