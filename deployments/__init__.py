"""deployments: see README.md."""
