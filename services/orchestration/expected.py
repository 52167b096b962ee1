"""Actual against expected for the dashboard's charts: the data core's hourly residual rows summed per
hour, day, week (Monday) or month, activity type and unit (vectorised pandas)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

Interval = Literal["hour", "day", "week", "month"]
RESIDUAL_COLUMNS = ["site", "meter", "activity_type", "period_start", "actual", "unit", "expected", "lower", "upper",
                    "model_name", "model_version"]
_TEXT = {c: "string" for c in ("site", "meter", "activity_type", "period_start", "unit", "model_name", "model_version")}
OUT_COLUMNS = ["period_start", "activity_type", "unit", "actual", "expected", "lower", "upper", "hours", "hours_above",
               "hours_below"]


def utc_text(value: datetime) -> str:
    """A datetime as UTC ISO text (naive ones are UTC already)."""
    return (value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)).isoformat()


def _periods(hour: pd.Series, interval: Interval) -> pd.Series:
    if interval == "hour":
        return hour.dt.floor("h")
    if interval == "day":
        return hour.dt.floor("D")
    if interval == "week":  # Monday of the week, as the data core's time series
        return hour.dt.floor("D") - pd.to_timedelta(hour.dt.day_of_week, unit="D")
    return hour.dt.to_period("M").dt.start_time


def aggregate_residuals(csv: bytes, interval: Interval) -> dict[str, Any]:
    """Hourly residual rows (the data core's ``/residuals?format=csv``) summed per interval, activity type and
    unit: actual, expected, lower and upper, hours, and hours above the upper or below the lower bound."""
    frame = pd.read_csv(io.BytesIO(csv), engine="pyarrow", dtype=_TEXT) if csv.strip() else \
        pd.DataFrame(columns=RESIDUAL_COLUMNS)
    missing = sorted(set(RESIDUAL_COLUMNS) - set(frame.columns))
    if missing:
        raise ValueError(f"residuals without column(s) {', '.join(missing)}")
    out: dict[str, Any] = {"interval": interval, "rows": [],
                           "sites": sorted(frame["site"].dropna().astype(str).unique().tolist()),
                           "model_versions": sorted(frame["model_version"].dropna().astype(str).unique().tolist())}
    if frame.empty:
        return out
    period = _periods(pd.to_datetime(frame["period_start"], utc=True).dt.tz_localize(None), interval)
    values = {c: pd.to_numeric(frame[c], errors="coerce").astype("float64")
              for c in ("actual", "expected", "lower", "upper")}
    work = pd.DataFrame({"period_start": period, "activity_type": frame["activity_type"].astype(str),
                         "unit": frame["unit"].astype(str), **values,
                         "hours": np.ones(len(frame), dtype="int64"),
                         "hours_above": (values["actual"] > values["upper"]).astype("int64"),
                         "hours_below": (values["actual"] < values["lower"]).astype("int64")})
    grouped = work.groupby(["period_start", "activity_type", "unit"], sort=True)
    sums = grouped[["actual", "expected", "lower", "upper"]].sum(min_count=1)  # all-missing bounds stay null
    counts = grouped[["hours", "hours_above", "hours_below"]].sum()
    result = sums.join(counts).reset_index()
    result["period_start"] = result["period_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = result[OUT_COLUMNS].astype(object)
    out["rows"] = result.where(result.notna(), None).to_dict("records")
    return out
