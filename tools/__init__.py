"""Repository build tools, run from the repository root (``python -m tools.<name>``).

Nothing here is service code: the services never import ``tools``, they read what the tools write
(for example ``data/factors/*.csv``, written by :mod:`tools.factor_build`).
"""
