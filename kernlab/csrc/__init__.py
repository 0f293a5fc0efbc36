"""C sources of the peers (kernlab.cpeers builds and runs them; the benchmarks too)."""
