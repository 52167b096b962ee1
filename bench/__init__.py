"""The benchmarks (run each as ``python bench/X.py``; see bench/README.md) and their shared harness."""
