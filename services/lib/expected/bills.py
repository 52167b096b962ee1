"""Expected values of monthly bills over the data core's client: read each site's bills and its station's
hourly temperature, judge each bill by the degree-day model fitted on the meter's earlier bills
(:func:`~services.lib.expected.degree_days.rolling_expected`: ASHRAE Guideline 14 / IPMVP Option C), store the
expected values with their interval and the model (``PUT /api/v1/bills/expected``).

The flow ``monthly-bills`` calls :func:`judge_bills` per chunk of sites, the orchestration engine's event path
for the sites of an ingest. Turning the judged bills into hotspots is the hotspot library's
(:func:`services.lib.hotspots.monthly.bill_hotspots`); this module returns them as plain rows.

A site whose bills or weather cannot be read (the data core refusing it), or whose bills cannot be fitted (a
value the model cannot take) is skipped and reported (:class:`~services.common.contracts.SiteSkip`), the others
are judged as without it. A data core that is down or refuses our token raises as always.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from services.common.contracts import SiteSkip, SkipStage, site_fault
from services.common.datacore import DataCoreClient
from services.lib.expected.degree_days import DegreeDayModel, rolling_expected

LEVEL = 0.99  # the interval level chosen on bench/monthly.py's tune split (1.4 % of clean test bills flagged)
MODEL_NAME = "degree-days"
KEYS = ["site", "meter", "activity_type"]
T = TypeVar("T")


def model_metadata(model: DegreeDayModel, weather: str) -> dict[str, Any]:
    """What is stored of a fitted model (JSON): enough to recompute the expected value by hand."""
    return {"kind": model.kind, "coef": [round(float(c), 6) for c in model.coef],
            "heating_base_c": model.heating_base, "cooling_base_c": model.cooling_base, "baseline_bills": model.n,
            "baseline_start": model.baseline_start.isoformat(), "baseline_end": model.baseline_end.isoformat(),
            "cvrmse": round(float(model.cvrmse), 6), "nmbe": round(float(model.nmbe), 6),
            "r2": round(float(model.r2), 6), "meets_ashrae14": bool(model.meets_g14), "weather": weather}


def model_version(model: DegreeDayModel) -> str:
    """A model's version: its kind, baseline bills and the end of its baseline (``3PH-n12-20191201``)."""
    return f"{model.kind}-n{model.n}-{model.baseline_end:%Y%m%d}"


def temperature(weather: pd.DataFrame) -> pd.Series:
    """The hourly air temperature (UTC index) of a weather answer (empty when the site has none)."""
    if weather.empty or "air_temperature_degC" not in weather.columns:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    return pd.Series(weather["air_temperature_degC"].to_numpy(float), index=pd.DatetimeIndex(weather["timestamp"]))


def judge_meter(bills: pd.DataFrame, temp: pd.Series, *, level: float = LEVEL) -> pd.DataFrame:
    """One meter's bills (period_start, period_end, kwh; UTC) with ``expected``, ``lower``, ``upper``,
    ``weather`` (share of hours with a temperature), ``model`` (metadata dict or None), ``model_version`` and
    ``reason``. Each bill is judged by the bills before it (never by itself)."""
    frame = bills.assign(period_start=pd.to_datetime(bills["period_start"], utc=True),
                         period_end=pd.to_datetime(bills["period_end"], utc=True),
                         kwh=pd.to_numeric(bills["kwh"], errors="coerce").astype(float))
    if not np.isfinite(frame["kwh"]).all() or (frame["kwh"] < 0).any():
        raise ValueError("bills with a quantity that is not a finite, non-negative number")
    fit = frame.assign(period_start=frame["period_start"].dt.tz_localize(None),
                       period_end=frame["period_end"].dt.tz_localize(None))
    naive = temp.copy()
    if isinstance(naive.index, pd.DatetimeIndex) and naive.index.tz is not None:
        naive.index = naive.index.tz_convert("UTC").tz_localize(None)
    judged = rolling_expected(fit, naive, level=level)
    weather = "hourly" if naive.notna().any() else "none"
    models = judged["fit"]
    coverage = judged["weather"] if weather == "hourly" else pd.Series(np.nan, index=judged.index)
    out = frame.assign(expected=judged["expected"], lower=judged["lower"], upper=judged["upper"], weather=coverage,
                       reason=judged["reason"])
    versions = [model_version(m) if m is not None else None for m in models]
    out["model_version"] = pd.Series(versions, index=out.index, dtype=object)
    out["model"] = pd.Series([model_metadata(m, weather) | {"version": v} if m is not None else None
                              for m, v in zip(models, versions, strict=True)], index=out.index, dtype=object)
    return out


def _contained(call: Callable[[], T], site: str, stage: SkipStage, skipped: list[SiteSkip], **key: str) -> T | None:
    """``call()``, or None with the site (meter) added to ``skipped`` when it fails on the site's data."""
    try:
        return call()
    except Exception as exc:
        if not site_fault(exc):
            raise
        skipped.append(SiteSkip.of(site, stage, exc, **key))
        return None


def _expectation(row: dict[str, Any]) -> dict[str, Any]:
    judged = row["expected"] is not None and np.isfinite(row["expected"])
    value = {k: row[k] for k in ("site", "meter", "activity_type")}
    value |= {"period_start": row["period_start"].isoformat(), "period_end": row["period_end"].isoformat()}
    if not judged:
        return value | {"reason": row["reason"] or "no expected value"}
    weather = row["weather"]
    return value | {"expected": float(row["expected"]), "lower": float(row["lower"]), "upper": float(row["upper"]),
                    "weather": None if weather is None or not np.isfinite(weather) else float(weather),
                    "model": row["model"]}


def judge_bills(dc: DataCoreClient, sites: list[str], *, level: float = LEVEL,
                activity_types: list[str] | None = None) -> dict[str, Any]:
    """Judge and store every bill of ``sites`` (every site with bills when empty): ``rows`` (one dict per bill:
    site, meter, activity_type, period_start, period_end, kwh, kg_co2e, expected, lower, upper, weather, model,
    model_version, reason), ``stored`` (expected values stored), ``bills``, ``meters`` and ``skipped``."""
    skipped: list[SiteSkip] = []
    frame = _read(dc, sites, activity_types or [], skipped)
    rows: list[dict[str, Any]] = []
    stored = meters = 0
    for site, of_site in frame.groupby("site", sort=True):
        site = str(site)
        start = pd.to_datetime(of_site["period_start"], utc=True).min() - pd.Timedelta(days=400)
        end = pd.to_datetime(of_site["period_end"], utc=True).max()
        weather = _contained(partial(dc.weather, site, start, end), site, "read", skipped)
        if weather is None:
            continue
        temp = temperature(weather)
        judged = []
        for (meter, activity), bills in of_site.groupby(["meter", "activity_type"], sort=True):
            meters += 1
            one = _contained(partial(judge_meter, bills, temp, level=level), site, "predict", skipped,
                             meter=str(meter), activity_type=str(activity))
            if one is not None:
                judged.append(one)
        if not judged:
            continue
        both = pd.concat(judged, ignore_index=True).astype(object)
        site_rows: list[dict[str, Any]] = [{str(k): v for k, v in r.items()}
                                           for r in both.where(both.notna(), None).to_dict("records")]
        done = _contained(partial(_store, dc, site_rows, level), site, "store", skipped)
        if done is None:
            continue
        stored += done
        rows.extend(site_rows)
    return {"rows": rows, "stored": stored, "bills": len(frame), "meters": meters,
            "skipped": [s.model_dump() for s in skipped]}


def _read(dc: DataCoreClient, sites: list[str], activity_types: list[str], skipped: list[SiteSkip]) -> pd.DataFrame:
    """The bills of these sites at once; site by site only after the data core refused the request."""
    columns = [*KEYS, "period_start", "period_end", "kwh", "kg_co2e"]
    batch = _contained(partial(dc.bills, sites, activity_types), sites[0], "read", []) if sites else None
    if batch is None and sites:
        batch = []
        for site in sites:
            batch.extend(_contained(partial(dc.bills, [site], activity_types), site, "read", skipped) or [])
    elif batch is None:
        batch = dc.bills([], activity_types)
    frame = pd.DataFrame(batch, columns=columns)
    return frame.assign(meter=frame["meter"].fillna("").astype(str))


def _store(dc: DataCoreClient, rows: list[dict[str, Any]], level: float) -> int:
    """Store one site's judged bills; the model version of the answer names the newest bill's model."""
    versions = [r["model_version"] for r in rows if r["model_version"]]
    body = {"model_name": MODEL_NAME, "model_version": versions[-1] if versions else "none", "level": level,
            "expectations": [_expectation(r) for r in rows]}
    return int(dc.put_bill_expected(body)["stored"])
