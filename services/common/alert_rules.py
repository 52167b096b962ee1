"""Alert rules, evaluated here and nowhere else: which hotspots raise an alert, at what severity, with per-site overrides.

Configured as JSON (``ALERT_RULES``), e.g.::

    {"min_severity": "medium", "min_excess_kg": 20,
     "sites": {"b12": {"min_severity": "high"}, "lab-7": {"mute": true}}}

Pareto and growth hotspots are information for the dashboard and raise no alert unless listed in
``kinds``. Gap kinds (silent or stuck meters) have no excess, so ``min_excess_kg`` does not apply to them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import DEFAULT_ALERT_KINDS, EXCESS_KINDS, LEVEL_SHIFT_KINDS, SEVERITY_RANK, Kind
from services.common.contracts import SeverityName as Severity

RANK = SEVERITY_RANK
LABELS = {"above_expected": "running above expected", "spike": "spike far above expected",
          "level_shift": "consumption level shifted up", "level_shift_up": "consumption level shifted up",
          "level_shift_down": "consumption level dropped", "silent_meter": "meter silent",
          "stuck_meter": "meter stuck on one value", "pareto": "among the top emitters",
          "growth": "emissions grew most"}


class SiteRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_severity: Severity | None = None
    min_excess_kg: float | None = Field(default=None, ge=0)
    mute: bool = False


class AlertRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_severity: Severity = "medium"
    min_excess_kg: float = Field(default=0.0, ge=0)
    kinds: list[Kind] = Field(default_factory=lambda: list(DEFAULT_ALERT_KINDS))
    sites: dict[str, SiteRule] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | None) -> AlertRules:
        return cls.model_validate_json(text) if text else cls()

    def evaluate(self, hotspot: dict[str, Any]) -> dict[str, Any] | None:
        """The alert a hotspot raises under these rules, or None."""
        kind = hotspot["kind"]
        if kind not in self.kinds and not (kind in LEVEL_SHIFT_KINDS and "level_shift" in self.kinds):
            return None
        site = self.sites.get(hotspot["site"])
        if site and site.mute:
            return None
        min_severity = (site.min_severity if site and site.min_severity else None) or self.min_severity
        min_kg = site.min_excess_kg if site and site.min_excess_kg is not None else self.min_excess_kg
        if RANK[hotspot["severity"]] < RANK[min_severity]:
            return None
        rule = f"site:{hotspot['site']}" if site else "default"
        excess = hotspot.get("excess_kg") or 0.0
        if kind in EXCESS_KINDS and (abs(excess) if kind == "level_shift_down" else excess) < min_kg:
            return None
        return {"hotspot_id": hotspot["id"], "rule": rule, "severity": hotspot["severity"], "title": title(hotspot)}


def title(hotspot: dict[str, Any]) -> str:
    what = " ".join(x for x in (hotspot["site"], hotspot.get("activity_type") or "", hotspot.get("meter") or "") if x)
    text = f"{what}: {LABELS.get(hotspot['kind'], hotspot['kind'])}"
    if hotspot["kind"] in EXCESS_KINDS:
        parts = [f"{hotspot.get('excess_kwh') or 0:+,.0f} kWh"]
        if hotspot.get("excess_kg") is not None:
            parts.append(f"{hotspot['excess_kg']:+,.0f} kg CO2e")
        text += f" ({', '.join(parts)})"
    return text[:300]
