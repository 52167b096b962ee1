"""Hotspot detection: plain, vectorised pandas/numpy over residuals (actual vs expected) and emission totals
(:mod:`.detect`, :mod:`.pareto`), and one scan over the data core's client (:mod:`.scan`).

The Prefect scan flow and the orchestration engine's event path call :func:`~.scan.scan_sites`; nothing here
knows about Prefect."""

from services.lib.hotspots.config import DetectionConfig, Hotspot
from services.lib.hotspots.detect import detect
from services.lib.hotspots.pareto import pareto

__all__ = ["DetectionConfig", "Hotspot", "detect", "pareto"]
