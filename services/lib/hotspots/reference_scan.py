"""The reference expectation in a scan, over the data core's client (issue #18).

* :func:`fit_references`: fit (or re-fit) the reference baseline of every series of some sites on a reference
  period (readings + the site's hourly weather) and store it (``PUT /api/v1/reference-baselines``): the
  ``fit-reference`` flow; run again only for an explicit re-baseline or after a ``new_normal`` verdict.
* :func:`with_reference`: the reference, its spread and the temperature of every scanned hour of the series
  that have a stored baseline, scaled by the estate's common movement of the day (:func:`peer_factor`).
* :func:`combine`: the day-ahead findings and the reference findings of a scan, one episode per fault.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.common.datacore import DataCoreClient, UpstreamProblem
from services.lib.hotspots.config import Hotspot
from services.lib.hotspots.reference_model import ReferenceModel, fit, predict

KEYS = ["site", "meter", "activity_type"]
LEFT_TO_REFERENCE = frozenset({"above_expected", "level_shift", "spike"})
"""Day-ahead kinds that the reference takes over for series that have one: the sustained kinds (a lasting
fault leaks into the day-ahead forecast's lags) and, since round 3 of issue #18, spikes: the reference's
spike rule judges an hour against a robust local level with per-meter calibrated thresholds; the
day-ahead spikes were most of the false alarms on TUNE (37 of 88, recall 0.10)."""


def _temperature(dc: DataCoreClient, site: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    w = dc.weather(site, start, end)
    if w.empty or "air_temperature_degC" not in w:
        return pd.Series(dtype=float)
    return pd.Series(w["air_temperature_degC"].to_numpy(float), index=pd.to_datetime(w["timestamp"], utc=True))


def fit_references(dc: DataCoreClient, readings: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                   reason: str = "initial") -> list[dict[str, Any]]:
    """Fit every series of ``readings`` (site, meter, activity_type, timestamp, actual) on [start, end) and
    store the baselines; returns what was stored (series with too little data are left out)."""
    out = []
    for (site, meter, act), grp in readings.groupby(KEYS, sort=True):
        temp = _temperature(dc, str(site), start, end)
        ts = pd.DatetimeIndex(grp["timestamp"])
        m = fit(ts, grp["actual"].to_numpy(float), temp.reindex(ts).to_numpy(float) if len(temp) else
                np.full(len(ts), np.nan))
        if m is None:
            continue
        out.append({"site": str(site), "meter": str(meter), "activity_type": str(act),
                    "period_start": start.isoformat(), "period_end": end.isoformat(), "reason": reason,
                    "model": m.to_dict()})
    if out:
        dc.put("/api/v1/reference-baselines", json={"baselines": out})
    return out


def peer_factor(frame: pd.DataFrame) -> np.ndarray:
    """Per row: the median over the scanned series of the same activity type of that day's actual /
    reference (1 with fewer than 5 series): holidays and term times move the whole estate, a fault one meter."""
    if frame.empty:
        return np.ones(0)
    day = frame["timestamp"].dt.floor("D")
    ok = frame["actual"].notna()
    g = frame.assign(day=day, a=frame["actual"].where(ok, 0.0), r=frame["reference"].where(ok, 0.0))
    per = g.groupby([*KEYS, "day"], sort=False)[["a", "r"]].sum()
    ratio = (per["a"] / per["r"].where(per["r"] > 0)).clip(0, 3).rename("ratio").reset_index()
    med = ratio.groupby(["activity_type", "day"])["ratio"].agg(["median", "count"])
    med["f"] = np.where(med["count"] >= 5, med["median"].fillna(1.0), 1.0)
    f = g[["activity_type", "day"]].merge(med["f"].reset_index(), on=["activity_type", "day"], how="left")["f"]
    return f.fillna(1.0).to_numpy(float)


def with_reference(dc: DataCoreClient, residuals: pd.DataFrame, start: pd.Timestamp,
                   end: pd.Timestamp) -> pd.DataFrame:
    """Rows of ``residuals`` whose series has a stored baseline, with reference, spread and temperature."""
    sites = sorted(set(residuals["site"]))
    if not sites:
        return residuals.iloc[0:0]
    try:
        stored = dc.get("/api/v1/reference-baselines", params=[("site", s) for s in sites])["baselines"]
    except UpstreamProblem as exc:  # a data core before migration 0008: no reference baselines
        if exc.response.status_code != 404:
            raise
        return residuals.iloc[0:0]
    if not stored:
        return residuals.iloc[0:0]
    models = {(b["site"], b["meter"], b["activity_type"]): ReferenceModel.from_dict(b["model"]) for b in stored}
    parts = []
    temps: dict[str, pd.Series] = {}
    for key, grp in residuals.groupby(KEYS, sort=True):
        site_, meter_, act_ = (str(k) for k in key)
        model = models.get((site_, meter_, act_))
        if model is None:
            continue
        site = str(key[0])
        if site not in temps:
            temps[site] = _temperature(dc, site, start, end)
        ts = pd.DatetimeIndex(grp["timestamp"])
        t = temps[site].reindex(ts).to_numpy(float) if len(temps[site]) else np.full(len(ts), np.nan)
        ref, spread = predict(model, ts, t)
        parts.append(grp.assign(reference=ref, spread=spread, temperature=t, ref_repeat_hours=model.repeat_hours,
                                ref_zero_hours=model.zero_hours,
                                **{f"ref_z_{k}": v for k, v in model.segment_z.items()}))
    if not parts:
        return residuals.iloc[0:0]
    frame = pd.concat(parts, ignore_index=True)
    f = peer_factor(frame)
    return frame.assign(reference=frame["reference"] * f, spread=frame["spread"] * f)


def combine(day_ahead: list[Hotspot], reference: list[Hotspot], referenced: set[tuple[str, str, str]]) -> list[Hotspot]:
    """Day-ahead findings (``evidence.expectation = day_ahead``) and reference findings. For a series with a
    reference, sustained day-ahead kinds and spikes are left to the reference, and a day-ahead finding that overlaps a
    reference episode is part of it (listed in its ``evidence.also``): one fault, one episode."""
    out = list(reference)
    by_series: dict[tuple[str, str, str], list[Hotspot]] = {}
    for h in reference:
        by_series.setdefault((h.site, h.meter, h.activity_type), []).append(h)
    for h in day_ahead:
        key = (h.site, h.meter, h.activity_type)
        h.evidence.setdefault("expectation", "day_ahead")
        if key in referenced and h.kind in LEFT_TO_REFERENCE:
            continue
        host = next((r for r in by_series.get(key, []) if r.period_start <= h.period_end
                     and h.period_start <= r.period_end), None)
        if host is not None:
            host.evidence.setdefault("also", []).append({"fault": h.kind, "expectation": "day_ahead",
                                                         "start": h.period_start.isoformat(),
                                                         "end": h.period_end.isoformat()})
            continue
        out.append(h)
    return out
