"""Measuring: cost from the templates, and benchmarks of the data path and of synth."""
