"""Site history from the data core, in kWh: what the training flow trains on and what the typed predict
API turns into day-ahead lag features."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

import httpx
import pandas as pd

from services.data_core.units import conversion_factor

log = logging.getLogger(__name__)
HISTORY_DAYS = 29  # the longest lag is 672 h (4 weeks) plus one day of daily aggregates


def to_kwh(frame: pd.DataFrame) -> pd.DataFrame:
    """Readings [site, activity_type, timestamp, quantity, unit] -> quantity in kWh (pint); rows in a
    non-energy unit are dropped (and counted in the log)."""
    factors: dict[str, float] = {}
    for unit in frame["unit"].dropna().unique():
        try:
            factors[unit] = conversion_factor(str(unit), "kWh")
        except Exception:  # noqa: BLE001 - pint raises several error types for a non-energy unit
            factors[unit] = float("nan")
    out = frame.assign(quantity=frame["quantity"].astype(float) * frame["unit"].map(factors).astype(float))
    dropped = int(out["quantity"].isna().sum())
    if dropped:
        log.warning("%d readings in non-energy units left out", dropped)
    return out.dropna(subset=["quantity"])[["site", "activity_type", "timestamp", "quantity"]]


QueryParams = list[tuple[str, str | int | float | bool | None]]


def readings_params(sites: Iterable[str], activity_types: Iterable[str], start: pd.Timestamp | None,
                    end: pd.Timestamp | None) -> QueryParams:
    params: QueryParams = [("format", "csv")]
    params.extend(("site", s) for s in sites)
    params.extend(("activity_type", t) for t in activity_types)
    if start is not None:
        params.append(("start", start.isoformat()))
    if end is not None:
        params.append(("end", end.isoformat()))
    return params


def read_csv(content: bytes) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(content), dtype={"site": str, "activity_type": str, "unit": str,
                                                    "timestamp": str, "quantity": float})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return to_kwh(frame)


async def fetch_history(client: httpx.AsyncClient, site: str, activity_type: str, first: pd.Timestamp,
                        last: pd.Timestamp) -> pd.DataFrame:
    """Hourly kWh of one site and activity type from HISTORY_DAYS before ``first``'s day up to ``last``."""
    start = first.floor("D") - pd.Timedelta(days=HISTORY_DAYS)
    response = await client.get("/api/v1/readings", params=readings_params([site], [activity_type], start,
                                                                            last + pd.Timedelta("1h")))
    response.raise_for_status()
    return read_csv(response.content)
