"""Parsing of model input columns (text labels, numbers, timestamps) and the calendar cache of small
requests: shared by the bundle's site and fleet paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from services.ml_engine.features import calendar_arrays

Table = pd.DataFrame | Mapping[str, Any]


class InputError(ValueError):
    """Bad model input; ``field`` names the column."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_timestamps(ts: pd.Series | np.ndarray) -> pd.DatetimeIndex:
    """UTC hours from datetimes or ISO 8601 text (naive = UTC; offsets converted)."""
    if pd.api.types.is_datetime64_any_dtype(ts):
        parsed = pd.DatetimeIndex(ts)
    else:
        text = np.asarray(ts, dtype=object)
        kind = pd.api.types.infer_dtype(text, skipna=True)
        if kind not in ("string", "empty", "datetime"):
            raise ValueError(f"expected text like 2020-03-02T09:00:00Z, got {kind} values")
        if len(text) <= 64 and all(isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-"
                                   and v[:4].isdigit() for v in text):
            try:  # small ISO 8601 requests: the plain parser is 7x faster than the strict one
                parsed = pd.DatetimeIndex(text.astype(str))
            except (ValueError, TypeError):  # e.g. several offsets: the strict path decides
                parsed = pd.DatetimeIndex(pd.to_datetime(text.astype(str), utc=True, format="ISO8601"))
        else:
            parsed = pd.DatetimeIndex(pd.to_datetime(text.astype(str), utc=True, format="ISO8601"))
    return parsed.tz_localize("UTC") if parsed.tz is None else parsed.tz_convert("UTC")


def calendar_cached(ts: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Calendar features; single-row requests hit a per-hour cache (the tz conversion dominates them)."""
    if len(ts) > 8:
        return calendar_arrays(ts)
    keys = ts.as_unit("ns").asi8.tolist()  # pandas keeps parsed times in us or ns: key on ns
    # a local view: another thread may clear the shared cache meanwhile
    found: dict[int, tuple] = {k: v for k in keys if (v := _CALENDAR_CACHE.get(k)) is not None}
    missing = [k for k in dict.fromkeys(keys) if k not in found]
    if missing:
        if len(_CALENDAR_CACHE) > 200_000:
            _CALENDAR_CACHE.clear()
        fresh = calendar_arrays(pd.DatetimeIndex(pd.to_datetime(missing, unit="ns", utc=True)))
        for i, k in enumerate(missing):
            found[k] = _CALENDAR_CACHE[k] = tuple(fresh[c][i] for c in CALENDAR_COLUMNS)
    rows = [found[k] for k in keys]
    return {c: np.array([r[i] for r in rows]) for i, c in enumerate(CALENDAR_COLUMNS)}


CALENDAR_COLUMNS = ["hour", "dow", "hour_of_week", "day_type", "is_bank_holiday", "xmas_closure"]
_CALENDAR_CACHE: dict[int, tuple] = {}


def columns_of(data: Table) -> tuple[dict[str, Any], int]:
    if isinstance(data, pd.DataFrame):  # the timestamp stays a Series: tz-aware datetimes keep their dtype
        return {c: data[c] if c == "timestamp" else data[c].to_numpy() for c in data.columns}, len(data)
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise InputError("every column needs the same number of values", field="data")
    return dict(data), lengths.pop() if lengths else 0


SMALL_ROWS = 256


def labels(values: Any, col: str, default: str | None = None) -> np.ndarray:
    """Text labels (site ids, activity types); numbers are taken as text, empties get ``default``."""
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(f"{col} must be text", field=col)
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind not in ("string", "empty", "integer"):
        raise InputError(f"{col} must be text, got {kind} values", field=col)
    empty = pd.isna(arr)
    if empty.any():
        if default is None:
            raise InputError(f"{col} must not be empty", field=col)
        arr = np.where(empty, default, arr)
    return arr.astype(str)



def floats(values: Any, col: str) -> np.ndarray:
    """A column as floats (None -> NaN); text that is not a number and true/false are refused."""
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind in "fiu":
        return arr.astype(float, copy=False)
    if arr.dtype.kind == "b":
        raise InputError(f"{col} must be a number, not true/false", field=col)
    if len(arr) > SMALL_ROWS:
        return _numbers(pd.Series(arr), col)
    out = np.empty(len(arr))
    for i, v in enumerate(arr.tolist()):  # small requests only: cheaper than building a Series
        if v is None or v is pd.NA:
            out[i] = np.nan
        elif isinstance(v, bool):
            raise InputError(f"{col} must be a number, not true/false", field=col)
        else:
            try:
                out[i] = float(v)
            except (TypeError, ValueError) as exc:
                raise InputError(f"{col} must be a number: {v!r}", field=col) from exc
    return out


def _numbers(values: pd.Series, col: str) -> np.ndarray:
    """A column as floats; text that is not a number and true/false are refused, naming the column."""
    if pd.api.types.is_bool_dtype(values) or (values.dtype == object and values.map(
            lambda v: isinstance(v, bool)).any()):
        raise InputError(f"{col} must be a number, not true/false", field=col)
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        try:
            values = pd.to_numeric(values, errors="raise")
        except (ValueError, TypeError) as exc:
            raise InputError(f"{col} must be a number: {exc}", field=col) from exc
    try:
        return np.asarray(values, dtype=float)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{col} must be a number: {exc}", field=col) from exc
