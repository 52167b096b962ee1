"""Site history from the data core, in kWh as the data core serves it (``GET /api/v1/readings``, converted
there): what the training flow trains on and what the typed predict API turns into day-ahead lag features."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from services.common.datacore import AsyncDataCoreClient, DataCoreClient, window_params

HISTORY_DAYS = 43  # the longest lag is 672 h (4 weeks) plus one day of daily aggregates; the fleet model
# calibrates a new site on its last 14 days (calibration.CAL_DAYS), each with its own 28-day scale
READINGS = "/api/v1/readings"
COLUMNS = ["site", "activity_type", "timestamp", "quantity"]
DTYPES: dict[str, Any] = {"site": str, "activity_type": str, "unit": str, "timestamp": str, "quantity": float}


def readings_params(sites: Iterable[str], activity_types: Iterable[str], start: pd.Timestamp | None,
                    end: pd.Timestamp | None) -> list[tuple[str, Any]]:
    return window_params(sites, activity_types, start, end)


def readings_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The readings CSV as a frame [site, activity_type, timestamp (UTC), quantity (kWh)]."""
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True))[COLUMNS]


def read_readings(dc: DataCoreClient, activity_types: Iterable[str], start: pd.Timestamp | None,
                  end: pd.Timestamp | None, sites: Iterable[str] = ()) -> pd.DataFrame:
    """Hourly kWh of these sites (all when empty) and activity types in [start, end) (the training flow)."""
    return readings_frame(dc.csv(READINGS, readings_params(sites, activity_types, start, end), dtype=DTYPES))


async def fetch_history(dc: AsyncDataCoreClient, site: str, activity_type: str, first: pd.Timestamp,
                        last: pd.Timestamp) -> pd.DataFrame:
    """Hourly kWh of one site and activity type from HISTORY_DAYS before ``first``'s day up to ``last``."""
    start = first.floor("D") - pd.Timedelta(days=HISTORY_DAYS)
    params = readings_params([site], [activity_type], start, last + pd.Timedelta("1h"))
    return readings_frame(await dc.csv(READINGS, params, dtype=DTYPES))
