"""Hotspot detection: plain, vectorised pandas/numpy over residuals (actual vs expected) and emission totals.

The Prefect scan flow calls :func:`detect` and :func:`pareto`; nothing here knows about Prefect or HTTP."""

from services.hotspots.detect import DetectionConfig, Hotspot, detect, pareto

__all__ = ["DetectionConfig", "Hotspot", "detect", "pareto"]
