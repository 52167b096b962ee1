"""Monthly hotspots: bills above their degree-day expectation (``services.lib.expected.degree_days``).

A bill is a hotspot when its energy is above the upper bound of the model's prediction interval. Its
excess is the energy above the expected value (not above the bound: the bound only decides whether it is
a finding). Severity follows the excess as a share of the expected value, as for hourly hotspots.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from services.common.contracts import HotspotIn, naive_utc


class BillModel(Protocol):
    """What the evidence names of the bill model (``services.lib.expected.degree_days.DegreeDayModel``;
    a library does not import another library)."""

    kind: str
    heating_base: float | None
    cooling_base: float | None
    n: int
    cvrmse: float
    nmbe: float

    @property
    def meets_g14(self) -> bool: ...

SEVERITY_SHARES = ((0.50, "critical"), (0.25, "high"), (0.10, "medium"))


def severity(share: float) -> str:
    for floor, name in SEVERITY_SHARES:
        if share >= floor:
            return name
    return "low"


def bill_flags(bills: pd.DataFrame, expected: pd.DataFrame) -> np.ndarray:
    """True for each bill above the upper bound of its interval."""
    return bills["kwh"].to_numpy(float) > expected["upper"].to_numpy(float)


def monthly_hotspots(site: str, meter: str, activity_type: str, bills: pd.DataFrame, expected: pd.DataFrame,
                     model: BillModel, *, model_version: str | None = None,
                     level: float = 0.90) -> list[HotspotIn]:
    """One ``above_expected`` hotspot per bill above its interval (``bills``: period_start, period_end, kwh;
    ``expected``: expected, lower, upper, weather, on the same index)."""
    flagged = np.flatnonzero(bill_flags(bills, expected))
    out = []
    for i in flagged:  # the flagged bills of one meter: a handful at most
        bill, exp = bills.iloc[i], expected.iloc[i]
        excess = float(bill["kwh"] - exp["expected"])
        share = excess / float(exp["expected"]) if exp["expected"] > 0 else float("inf")
        out.append(HotspotIn(
            kind="above_expected", site=site, meter=meter, activity_type=activity_type,
            period_start=naive_utc(pd.Timestamp(bill["period_start"]).to_pydatetime()),
            period_end=naive_utc(pd.Timestamp(bill["period_end"]).to_pydatetime()),
            severity=severity(share) if np.isfinite(share) else "critical",  # type: ignore[arg-type]
            excess_kwh=round(excess, 3), model_version=model_version,
            evidence={
                "granularity": "bill", "actual_kwh": round(float(bill["kwh"]), 3),
                "expected_kwh": round(float(exp["expected"]), 3), "upper_kwh": round(float(exp["upper"]), 3),
                "interval_level": level, "excess_share": round(share, 4) if np.isfinite(share) else None,
                "model": model.kind, "heating_base_c": model.heating_base, "cooling_base_c": model.cooling_base,
                "baseline_bills": model.n, "cvrmse": round(model.cvrmse, 4), "nmbe": round(model.nmbe, 4),
                "meets_ashrae14": model.meets_g14, "weather_coverage": round(float(exp["weather"]), 3),
            }))
    return out
