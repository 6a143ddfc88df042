"""Synthetic clips with exact ground truth and tiny random models, for the tests, the benchmarks and --demo."""
