"""flows: see README.md."""
