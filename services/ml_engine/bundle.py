"""The served artefact: expected-value models per activity type, their intervals, site attributes and a
weather table, packed as one MLflow pyfunc (``carbon-baseline``).

Input contract (one row per site, activity type and hour; the same frame on ``/invocations`` of this ML
engine and of ``mlflow models serve``):

=================  ========  ==========================================================================
column             required  meaning
=================  ========  ==========================================================================
site               yes       site id as registered in the data core
timestamp          yes       hour (ISO 8601; UTC unless it carries an offset)
activity_type      no        ``electricity`` (default) or another type the model was trained on
temp_c, rh,        no        weather of that hour (a forecast when predicting ahead); when absent the
irradiance                   packaged weather table is used, and if it does not cover the hour the
                             model predicts without weather
lag_24h ..         no        day-ahead meter history in kWh (see ``HISTORY_COLUMNS``); the ML engine's
same_type_day_mean           typed API builds them from data-core history; when absent the model
                             predicts from calendar, weather and site attributes only
=================  ========  ==========================================================================

Output: ``expected``, ``lower``, ``upper`` (kWh; the interval is split-conformal, 90 % by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from services.ml_engine.features import (
    CDD_BASE_C,
    FEATURES,
    HDD_BASE_C,
    calendar_arrays,
    history_features,
    weather_features,
)
from services.ml_engine.model import ConformalIntervals, ExpectedConsumptionModel

HISTORY_COLUMNS = [c for c in FEATURES if c.startswith(("lag_", "same_", "prev_"))]
WEATHER_COLUMNS = ["temp_c", "rh", "irradiance"]
REQUIRED_COLUMNS = ["site", "timestamp"]
OPTIONAL_COLUMNS = ["activity_type", *WEATHER_COLUMNS, *HISTORY_COLUMNS]
INPUT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
OUTPUT_COLUMNS = ["expected", "lower", "upper"]
DEFAULT_ACTIVITY_TYPE = "electricity"
MAX_SITE_CODES = 254  # HistGradientBoosting categorical features hold at most 255 categories
Table = pd.DataFrame | Mapping[str, Any]


class InputError(ValueError):
    """Bad model input; ``field`` names the column."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class SeriesModel:
    """The model of one activity type: regressor, intervals and per-site attributes."""
    model: ExpectedConsumptionModel
    intervals: ConformalIntervals
    scale: pd.Series              # site -> mean training reading (kWh)
    site_codes: dict[str, int]
    floor_area: dict[str, float]  # site -> m2 (NaN when unknown)

    def lookup(self, site: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-row (found, code, scale, floor area, interval lo, interval hi) by one index lookup."""
        table = self.__dict__.get("_table")
        if table is None:
            index = pd.Index(sorted(self.site_codes))
            q = self.intervals.q.reindex(index) if self.intervals.q is not None else None
            table = self.__dict__["_table"] = (
                index,
                np.array([self.site_codes[s] for s in index], float),
                self.scale.reindex(index).to_numpy(float),
                np.array([self.floor_area.get(s, np.nan) for s in index], float),
                q["lo"].to_numpy(float) if q is not None else np.zeros(len(index)),
                q["hi"].to_numpy(float) if q is not None else np.zeros(len(index)),
            )
        index, *arrays = table
        if len(site) <= SMALL_ROWS:  # a dict lookup beats building an Index for a few rows
            positions = self.__dict__.get("_positions")
            if positions is None:
                positions = self.__dict__["_positions"] = {s: i for i, s in enumerate(index)}
            pos = np.array([positions.get(s, -1) for s in site.tolist()], dtype=np.intp)
        else:
            pos = index.get_indexer(pd.Index(site))
        found = pos >= 0
        pos = np.where(found, pos, 0)
        return (found, *(a[pos] for a in arrays))  # type: ignore[return-value]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_table", None)
        state.pop("_positions", None)
        return state


@dataclass
class BaselineBundle:
    series: dict[str, SeriesModel]
    weather: pd.DataFrame                     # index = UTC hour; weather_features columns
    info: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- input handling
    def sites(self) -> dict[str, list[str]]:
        return {t: sorted(s.site_codes) for t, s in self.series.items()}

    def _frame(self, data: Table) -> dict[str, Any]:
        """Validated columns as numpy arrays (plain arrays, not a DataFrame: a single-row request spends
        most of its time in pandas bookkeeping otherwise). ``data`` is a DataFrame or a mapping of
        equal-length columns (what the engine builds from a small ``dataframe_split`` request)."""
        columns, n = _columns(data)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise InputError(f"missing required column(s): {', '.join(missing)}", field=missing[0])
        unknown = [c for c in columns if c not in INPUT_COLUMNS]
        if unknown:
            raise InputError(f"unknown column(s): {', '.join(map(str, unknown[:10]))}; "
                             f"expected some of {', '.join(INPUT_COLUMNS)}", field=str(unknown[0]))
        cols: dict[str, Any] = {"site": _labels(columns["site"], "site")}
        cols["activity_type"] = (_labels(columns["activity_type"], "activity_type", DEFAULT_ACTIVITY_TYPE)
                                 if "activity_type" in columns else np.full(n, DEFAULT_ACTIVITY_TYPE))
        try:
            parsed = _timestamps(columns["timestamp"])
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputError(f"timestamp must be an ISO 8601 date-time: {exc}", field="timestamp") from exc
        if parsed.isna().any():
            raise InputError("timestamp must not be empty", field="timestamp")
        cols["timestamp"] = parsed.floor("h")
        numeric = WEATHER_COLUMNS + HISTORY_COLUMNS
        for col in numeric:
            if col in columns:
                cols[col] = _floats(columns[col], col)
                if np.isinf(cols[col]).any():
                    raise InputError(f"{col} must be finite", field=col)
        missing_numeric = np.full(n, np.nan)
        for col in numeric:
            if col not in cols:
                cols[col] = missing_numeric
        return cols

    def _matrix(self, cols: dict[str, Any], idx: np.ndarray, sm: SeriesModel, activity_type: str) -> tuple[np.ndarray, ...]:
        """Feature matrix (model column order), site scale and interval offsets for rows ``idx``."""
        site = cols["site"][idx]
        found, codes, scale, area, q_lo, q_hi = sm.lookup(site)
        if not found.all():
            unknown = sorted(set(site[~found]))
            raise InputError(f"unknown site(s) for {activity_type}: {', '.join(unknown[:10])}", field="site")
        ts = cols["timestamp"][idx]
        f: dict[str, np.ndarray] = _calendar(ts)
        w = self._weather_at(ts)
        temp_in = cols["temp_c"][idx]
        given = ~np.isnan(temp_in)
        temp = np.where(given, temp_in, w["temp_c"])
        f["temp_c"] = temp
        f["hdd"] = np.clip(HDD_BASE_C - temp, 0, None)
        f["cdd"] = np.clip(temp - CDD_BASE_C, 0, None)
        tm, hm = w["temp_mean_24h"], w["hdd_mean_24h"]
        f["temp_mean_24h"] = np.where(given & np.isnan(tm), temp, tm)
        f["hdd_mean_24h"] = np.where(given & np.isnan(hm), f["hdd"], hm)
        for col in ("irradiance", "rh"):
            v = cols[col][idx]
            f[col] = np.where(np.isnan(v), w[col], v)
        with np.errstate(divide="ignore", invalid="ignore"):
            f["log_floor_area_m2"] = np.log(area)
            f["log_scale_kwh"] = np.log(scale)
            f["log_intensity_kwh_m2"] = np.log(scale / area)
        for col in HISTORY_COLUMNS:
            f[col] = cols[col][idx] / scale
        f["site_code"] = codes
        X = np.column_stack([f[c] for c in sm.model.features]).astype(np.float32)
        return X, scale, q_lo, q_hi

    def _weather_at(self, ts: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """The packed weather of these hours (NaN where the table has none), by binary search on ns."""
        table = self.__dict__.get("_weather_np")
        if table is None:
            keys = pd.DatetimeIndex(self.weather.index).as_unit("ns").asi8
            order = np.argsort(keys)
            table = self.__dict__["_weather_np"] = (
                keys[order], {c: self.weather[c].to_numpy(float)[order] for c in self.weather.columns})
        keys, columns = table
        wanted = ts.as_unit("ns").asi8
        pos = np.clip(np.searchsorted(keys, wanted), 0, max(len(keys) - 1, 0))
        hit = (keys[pos] == wanted) if len(keys) else np.zeros(len(wanted), bool)
        return {c: np.where(hit, v[pos], np.nan) if len(v) else np.full(len(wanted), np.nan)
                for c, v in columns.items()}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_weather_np", None)
        return state

    # ----------------------------------------------------------------- prediction
    def predict(self, data: Table) -> pd.DataFrame:
        return pd.DataFrame(self.predict_array(data), columns=OUTPUT_COLUMNS)

    def predict_array(self, data: Table) -> np.ndarray:
        """``predict`` as an (n, 3) array: expected, lower, upper."""
        cols = self._frame(data)
        n = len(cols["site"])
        out = np.full((n, 3), np.nan)
        types = cols["activity_type"]
        for activity_type in dict.fromkeys(types.tolist()):
            sm = self.series.get(activity_type)
            if sm is None:
                raise InputError(f"no model for activity_type {activity_type!r}; known: "
                                 f"{', '.join(sorted(self.series))}", field="activity_type")
            idx = np.flatnonzero(types == activity_type)
            X, scale, q_lo, q_hi = self._matrix(cols, idx, sm, activity_type)
            yhat = sm.model.predict_matrix(X, scale)
            width = sm.intervals.width(yhat, scale)  # ConformalIntervals' own rule (1 in absolute mode)
            lo, hi = np.clip(yhat + q_lo * width, 0, None), yhat + q_hi * width
            out[idx, 0], out[idx, 1], out[idx, 2] = yhat, np.minimum(lo, yhat), np.maximum(hi, yhat)
        return out


def _timestamps(ts: pd.Series | np.ndarray) -> pd.DatetimeIndex:
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


def _calendar(ts: pd.DatetimeIndex) -> dict[str, np.ndarray]:
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


def _columns(data: Table) -> tuple[dict[str, Any], int]:
    if isinstance(data, pd.DataFrame):  # the timestamp stays a Series: tz-aware datetimes keep their dtype
        return {c: data[c] if c == "timestamp" else data[c].to_numpy() for c in data.columns}, len(data)
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise InputError("every column needs the same number of values", field="data")
    return dict(data), lengths.pop() if lengths else 0


SMALL_ROWS = 256


def _labels(values: Any, col: str, default: str | None = None) -> np.ndarray:
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



def _floats(values: Any, col: str) -> np.ndarray:
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


# --------------------------------------------------------------------------- building inputs
def weather_table(weather: pd.DataFrame) -> pd.DataFrame:
    """Raw hourly weather [timestamp, air_temperature_degC, relative_humidity_pct, global_irradiance_w_m2]
    -> feature table indexed by UTC hour (the packaged weather of the model)."""
    return weather_features(weather).set_index("timestamp")


def history_inputs(readings: pd.DataFrame) -> pd.DataFrame:
    """Day-ahead history columns in kWh for every (site, hour) of a long frame [site, timestamp, value]
    (one activity type). Rows to be predicted may carry value=NaN."""
    sites = readings["site"].unique()
    hist = history_features(readings, pd.Series(1.0, index=sites))
    return hist[["site", "timestamp", *HISTORY_COLUMNS]]


def model_inputs(readings: pd.DataFrame, activity_type: str, weather: pd.DataFrame | None = None) -> pd.DataFrame:
    """The model input frame for every reading of ``readings`` [site, timestamp, value] of one activity type,
    with history built from the same frame and weather from ``weather`` (raw) when given."""
    hist = history_inputs(readings)
    df = readings[["site", "timestamp", "value"]].merge(hist, on=["site", "timestamp"], how="left")
    df.insert(1, "activity_type", activity_type)
    if weather is not None:
        w = weather.set_index("timestamp")
        df["temp_c"] = w["air_temperature_degC"].reindex(df["timestamp"]).to_numpy()
        df["rh"] = w["relative_humidity_pct"].reindex(df["timestamp"]).to_numpy()
        df["irradiance"] = w["global_irradiance_w_m2"].reindex(df["timestamp"]).to_numpy()
    return df
