"""Monthly hotspots: bills above their degree-day expectation (``services.lib.expected.degree_days``).

A bill is a hotspot when its energy is above the upper bound of the model's prediction interval. Its
excess is the energy above the expected value (not above the bound: the bound only decides whether it is
a finding). Severity follows the excess as a share of the expected value, as for hourly hotspots.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from services.common.contracts import SEVERITY_RANK, HotspotIn, naive_utc


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


class StoredModel:
    """A bill model as the data core stores it (``model`` of ``GET /api/v1/bills``), seen as a :class:`BillModel`."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.kind = str(meta.get("kind", "?"))
        self.heating_base = meta.get("heating_base_c")
        self.cooling_base = meta.get("cooling_base_c")
        self.n = int(meta.get("baseline_bills", 0))
        self.cvrmse = float(meta.get("cvrmse", float("nan")))
        self.nmbe = float(meta.get("nmbe", float("nan")))
        self._g14 = bool(meta.get("meets_ashrae14", False))
        self.version = meta.get("version")

    @property
    def meets_g14(self) -> bool:
        return self._g14


def bill_hotspots(rows: list[dict[str, Any]], *, level: float) -> list[HotspotIn]:
    """The hotspots of judged bills (one dict per bill: site, meter, activity_type, period_start, period_end,
    kwh, kg_co2e, expected, lower, upper, weather and the stored ``model``): an ``above_expected`` hotspot per
    bill above its interval, its excess in kg CO2e at the bill's own emission intensity. Flagged bills of one
    meter that follow each other (one ends where the next starts) are one episode (:func:`merge_runs`), as the
    data core would continue it: judged again, they give the same hotspot, so a re-run changes nothing."""
    return merge_runs(_per_bill(rows, level=level))


def merge_runs(found: list[HotspotIn]) -> list[HotspotIn]:
    """Consecutive bill hotspots of one meter as one: the period of the run, the excesses and energies summed,
    the worst severity of its bills (an episode keeps the worst it reached), the last bill's model and the bills of the run in ``evidence["bills"]``."""
    order = sorted(found, key=lambda h: (h.site, h.meter, h.activity_type, h.period_start))
    runs: list[list[HotspotIn]] = []
    for h in order:
        last = runs[-1][-1] if runs else None
        if last is not None and (last.site, last.meter, last.activity_type) == (h.site, h.meter, h.activity_type) \
                and last.period_end == h.period_start:
            runs[-1].append(h)
        else:
            runs.append([h])
    out = []
    for run in runs:
        if len(run) == 1:
            out.append(run[0])
            continue
        first, end = run[0], run[-1]
        kg = [h.excess_kg for h in run]
        evidence = dict(end.evidence) | {
            "actual_kwh": round(sum(h.evidence["actual_kwh"] for h in run), 3),
            "expected_kwh": round(sum(h.evidence["expected_kwh"] for h in run), 3),
            "upper_kwh": round(sum(h.evidence["upper_kwh"] for h in run), 3),
            "bills": [{k: h.evidence[k] for k in ("actual_kwh", "expected_kwh", "upper_kwh")}
                      | {"period_start": h.period_start.isoformat(), "period_end": h.period_end.isoformat()}
                      for h in run]}
        expected = evidence["expected_kwh"]
        excess = round(sum(h.excess_kwh for h in run), 3)
        evidence["excess_share"] = round(excess / expected, 4) if expected > 0 else None
        out.append(end.model_copy(update={
            "period_start": first.period_start, "excess_kwh": excess, "evidence": evidence,
            "excess_kg": None if any(k is None for k in kg) else round(sum(k for k in kg if k is not None), 3),
            "severity": max((h.severity for h in run), key=lambda v: SEVERITY_RANK[v])}))
    return out


def _per_bill(rows: list[dict[str, Any]], *, level: float) -> list[HotspotIn]:
    judged = [r for r in rows if r.get("expected") is not None and r.get("upper") is not None and r.get("model")]
    if not judged:
        return []
    frame = pd.DataFrame(judged)
    frame = frame[bill_flags(frame, frame)]
    out: list[HotspotIn] = []
    for _, row in frame.iterrows():  # the flagged bills only: a handful per meter
        model = StoredModel(row["model"])
        one = row.to_frame().T.reset_index(drop=True)
        one["weather"] = one["weather"].astype(float).fillna(1.0 if model.kind == "2P" else 0.0)
        found = monthly_hotspots(str(row["site"]), str(row["meter"]), str(row["activity_type"]), one, one, model,
                                 model_version=model.version, level=level)
        kg = row.get("kg_co2e")
        for h in found:
            if kg is not None and np.isfinite(float(kg)) and float(row["kwh"]) > 0:
                h = h.model_copy(update={"excess_kg": round(h.excess_kwh * float(kg) / float(row["kwh"]), 3)})
            if model.kind == "2P" and row["model"].get("weather") == "none":
                h.evidence["weather"] = "none"
            out.append(h)
    return out
