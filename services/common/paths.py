"""Where the project's files lie: the checkout, or the image's copy of them.

An editable install (``make up``, the tests) finds ``data/`` and ``docs/kb`` next to the packages. The
container images install the project non-editable, so the packages sit in site-packages: they set
``CARBON_NEXUS_ROOT=/app``, where the image holds ``data/``, ``docs/kb`` and ``var/``.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """``CARBON_NEXUS_ROOT`` when set, else the checkout this package lies in."""
    env = os.environ.get("CARBON_NEXUS_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]
