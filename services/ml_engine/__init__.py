"""ML engine (port 8001): expected-value baselines; see docs/ml-baseline-research.md."""
