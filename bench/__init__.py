"""Benchmarks against reference implementations; ``make bench`` runs them all."""
