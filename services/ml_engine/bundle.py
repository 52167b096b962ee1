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
recent_scale,      no*       the site's level: mean kWh of its daily means over the 28 days before the
history_days                 hour's day, and how many of those days had readings (fleet.recent_scale).
                             *A site the site model was not trained on is served by the fleet model and
                             needs them (>= 7 days); without, its row answers ``basis`` none + a reason
weather_station    no        the site's station (the typed API sends the data core's); else the station
                             the site had at training, else none (predicted without weather)
floor_area_m2      no        gross internal area (m2) of a site the model has no area of
=================  ========  ==========================================================================

Output: ``expected``, ``lower``, ``upper`` (kWh; the interval is split-conformal, 90 % by default), and from
:meth:`BaselineBundle.predict_detail` (the registered pyfunc's answer): ``basis`` (``site``: the site model,
which was trained on this site; ``fleet``: the fleet model, services/ml_engine/fleet.py; ``none``: not
predictable, see ``reason``) and ``weather`` (``hourly`` or ``none``: predicted without weather).

Hybrid (#17): the site model (the site is a categorical feature, at most 254 sites per activity type) serves
the sites it was trained on, exactly as before; the fleet model serves every other site, with no cap.
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
    SiteWeather,
    history_features,
    weather_features,
)
from services.ml_engine.fleet import (
    FLEET_FEATURES,
    HISTORY_FEATURES,
    MIN_HISTORY_DAYS,
    SCALED_CAP,
    FleetModel,
    recent_scale,
)
from services.ml_engine.inputs import (
    SMALL_ROWS,
    InputError,
    Table,
    calendar_cached,
    columns_of,
    floats,
    labels,
    parse_timestamps,
)
from services.ml_engine.model import ConformalIntervals, ExpectedConsumptionModel

HISTORY_COLUMNS = [c for c in FEATURES if c.startswith(("lag_", "same_", "prev_"))]
WEATHER_COLUMNS = ["temp_c", "rh", "irradiance"]
FLEET_COLUMNS = ["recent_scale", "history_days"]
REQUIRED_COLUMNS = ["site", "timestamp"]
OPTIONAL_COLUMNS = ["activity_type", *WEATHER_COLUMNS, *HISTORY_COLUMNS, *FLEET_COLUMNS]
INPUT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS  # what model_inputs builds
ACCEPTED_COLUMNS = [*INPUT_COLUMNS, "weather_station", "floor_area_m2"]
OUTPUT_COLUMNS = ["expected", "lower", "upper"]
DETAIL_COLUMNS = [*OUTPUT_COLUMNS, "basis", "weather", "reason"]
DEFAULT_ACTIVITY_TYPE = "electricity"
MAX_SITE_CODES = 254  # HistGradientBoosting categorical features hold at most 255 categories
NUMERIC_COLUMNS = [*WEATHER_COLUMNS, *HISTORY_COLUMNS, *FLEET_COLUMNS, "floor_area_m2"]
Calibrations = Mapping[tuple[str, str], Any]  # (activity type, site) -> calibration.SiteCalibration


@dataclass
class Detail:
    """A prediction per row: (n, 3) expected/lower/upper, which model served it, whether it had weather and,
    for a row that could not be predicted, why."""
    values: np.ndarray
    basis: np.ndarray    # "site" | "fleet" | "none"
    weather: np.ndarray  # bool
    reason: np.ndarray   # "" or why the row has no prediction

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.values, columns=OUTPUT_COLUMNS)
        out["basis"] = self.basis
        out["weather"] = np.where(self.weather, "hourly", "none")
        out["reason"] = self.reason
        return out


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
    series: dict[str, SeriesModel]            # the site models (sites they were trained on)
    weather: dict[str, pd.DataFrame]          # station -> weather_features table indexed by UTC hour
    info: dict[str, Any] = field(default_factory=dict)
    fleet: dict[str, FleetModel] = field(default_factory=dict)  # activity type -> fleet model (any site)
    site_station: dict[str, str] = field(default_factory=dict)  # site -> station at training
    default_station: str | None = None        # the station of a site not in site_station (None: no weather)
    floor_area: dict[str, float] = field(default_factory=dict)  # every site's area known at training

    def __setstate__(self, state: dict) -> None:
        """Bundles of format 1 (one weather table, no fleet model) load as the same hybrid without a fleet."""
        if isinstance(state.get("weather"), pd.DataFrame):
            state = {**state, "weather": {"default": state["weather"]}, "default_station": "default"}
        for name, default in (("fleet", {}), ("site_station", {}), ("default_station", None), ("floor_area", {})):
            state.setdefault(name, default)
        self.__dict__.update(state)

    # ----------------------------------------------------------------- input handling
    def sites(self) -> dict[str, list[str]]:
        """The sites each activity type's site model was trained on (any other is served by the fleet model)."""
        return {t: sorted(s.site_codes) for t, s in self.series.items()}

    def activity_types(self) -> list[str]:
        return sorted(set(self.series) | set(self.fleet))

    def _frame(self, data: Table) -> dict[str, Any]:
        """Validated columns as numpy arrays (plain arrays, not a DataFrame: a single-row request spends
        most of its time in pandas bookkeeping otherwise). ``data`` is a DataFrame or a mapping of
        equal-length columns (what the engine builds from a small ``dataframe_split`` request)."""
        columns, n = columns_of(data)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise InputError(f"missing required column(s): {', '.join(missing)}", field=missing[0])
        unknown = [c for c in columns if c not in ACCEPTED_COLUMNS]
        if unknown:
            raise InputError(f"unknown column(s): {', '.join(map(str, unknown[:10]))}; "
                             f"expected some of {', '.join(ACCEPTED_COLUMNS)}", field=str(unknown[0]))
        cols: dict[str, Any] = {"site": labels(columns["site"], "site")}
        cols["activity_type"] = (labels(columns["activity_type"], "activity_type", DEFAULT_ACTIVITY_TYPE)
                                 if "activity_type" in columns else np.full(n, DEFAULT_ACTIVITY_TYPE))
        cols["weather_station"] = (labels(columns["weather_station"], "weather_station", "")
                                   if "weather_station" in columns else np.full(n, ""))
        try:
            parsed = parse_timestamps(columns["timestamp"])
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputError(f"timestamp must be an ISO 8601 date-time: {exc}", field="timestamp") from exc
        if parsed.isna().any():
            raise InputError("timestamp must not be empty", field="timestamp")
        cols["timestamp"] = parsed.floor("h")
        missing_numeric = np.full(n, np.nan)
        for col in NUMERIC_COLUMNS:
            if col in columns:
                cols[col] = floats(columns[col], col)
                if np.isinf(cols[col]).any():
                    raise InputError(f"{col} must be finite", field=col)
            else:
                cols[col] = missing_numeric
        return cols

    def _weather_rows(self, cols: dict[str, Any], idx: np.ndarray) -> dict[str, np.ndarray]:
        """The weather features of rows ``idx``: the caller's values where given, else the packed series of
        the row's station (the one it names, else the site's at training, else the default); NaN without."""
        site, ts = cols["site"][idx], cols["timestamp"][idx]
        named = cols["weather_station"][idx]
        station = np.array([n or self.site_station.get(s, self.default_station or "") for s, n in
                            zip(site.tolist(), named.tolist(), strict=True)], dtype=object)
        w = {c: np.full(len(idx), np.nan) for c in ("temp_c", "temp_mean_24h", "hdd_mean_24h", "irradiance", "rh")}
        for st in dict.fromkeys(station.tolist()):
            if st in self.weather:
                at = np.flatnonzero(station == st)
                for c, v in self._weather_at(st, ts[at]).items():
                    if c in w:
                        w[c][at] = v
        temp_in = cols["temp_c"][idx]
        given = ~np.isnan(temp_in)
        f: dict[str, np.ndarray] = {}
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
        return f

    def _matrix(self, cols: dict[str, Any], idx: np.ndarray, sm: SeriesModel) -> tuple[np.ndarray, ...]:
        """Site-model feature matrix (model column order), site scale and interval offsets for rows ``idx``
        (all of a site the model knows)."""
        site = cols["site"][idx]
        _, codes, scale, area, q_lo, q_hi = sm.lookup(site)
        f: dict[str, np.ndarray] = calendar_cached(cols["timestamp"][idx])
        f |= self._weather_rows(cols, idx)
        with np.errstate(divide="ignore", invalid="ignore"):
            f["log_floor_area_m2"] = np.log(area)
            f["log_scale_kwh"] = np.log(scale)
            f["log_intensity_kwh_m2"] = np.log(scale / area)
        for col in HISTORY_COLUMNS:
            f[col] = cols[col][idx] / scale
        f["site_code"] = codes
        X = np.column_stack([f[c] for c in sm.model.features]).astype(np.float32)
        return X, scale, q_lo, q_hi, f["temp_c"]

    def _fleet_matrix(self, cols: dict[str, Any], idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """Fleet feature matrix (fleet.FLEET_FEATURES order), the rows' recent scale and the temperature."""
        site, scale = cols["site"][idx], cols["recent_scale"][idx]
        f: dict[str, np.ndarray] = calendar_cached(cols["timestamp"][idx])
        f |= self._weather_rows(cols, idx)
        area = cols["floor_area_m2"][idx]
        known = np.array([self.floor_area.get(s, np.nan) for s in site.tolist()], dtype=float)
        area = np.where(np.isnan(area), known, area)
        with np.errstate(divide="ignore", invalid="ignore"):
            f["log_floor_area_m2"] = np.log(area)
            f["log_scale_kwh"] = np.log(scale)
            f["log_intensity_kwh_m2"] = np.log(scale / area)
            for col in HISTORY_FEATURES:
                f[col] = np.minimum(cols[col][idx] / scale, SCALED_CAP)
        f["history_days"] = cols["history_days"][idx]
        X = np.column_stack([f[c] for c in FLEET_FEATURES]).astype(np.float32)
        return X, scale, f["temp_c"]

    def _weather_at(self, station: str, ts: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """The packed weather of one station at these hours (NaN where it has none), by binary search on ns."""
        cache = self.__dict__.setdefault("_weather_np", {})
        table = cache.get(station)
        if table is None:
            frame = self.weather[station]
            keys = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
            order = np.argsort(keys)
            table = cache[station] = (keys[order], {c: frame[c].to_numpy(float)[order] for c in frame.columns})
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
        """``predict`` as an (n, 3) array: expected, lower, upper (NaN where a row cannot be predicted)."""
        return self.predict_rows(data).values

    def predict_detail(self, data: Table, calibrations: Calibrations | None = None) -> pd.DataFrame:
        """expected, lower, upper, basis, weather and reason per row (the registered pyfunc's answer)."""
        return self.predict_rows(data, calibrations).frame()

    def predict_rows(self, data: Table, calibrations: Calibrations | None = None, blend: bool = True) -> Detail:
        """Every row routed: the site model for a site it was trained on, else the fleet model (which needs
        the row's ``recent_scale``); a row neither can serve gets NaN and a reason, never an error for the
        batch. ``calibrations``: per (activity type, site), the fleet's level correction and interval
        quantiles from the site's recent residuals (services/ml_engine/calibration.py); ``blend=False``: the
        fleet model alone, without fleet.BLEND's share of week-ago naive (what the calibration judges)."""
        cols = self._frame(data)
        n = len(cols["site"])
        out = np.full((n, 3), np.nan)
        basis, reason = np.full(n, "none", dtype=object), np.full(n, "", dtype=object)
        temp = np.full(n, np.nan)
        types = cols["activity_type"]
        for activity_type in dict.fromkeys(types.tolist()):
            sm, fm = self.series.get(activity_type), self.fleet.get(activity_type)
            if sm is None and fm is None:
                raise InputError(f"no model for activity_type {activity_type!r}; known: "
                                 f"{', '.join(self.activity_types())}", field="activity_type")
            idx = np.flatnonzero(types == activity_type)
            known = sm.lookup(cols["site"][idx])[0] if sm is not None else np.zeros(len(idx), bool)
            if known.any():
                assert sm is not None
                at = idx[known]
                X, scale, q_lo, q_hi, temp[at] = self._matrix(cols, at, sm)
                yhat = sm.model.predict_matrix(X, scale)
                width = sm.intervals.width(yhat, scale)  # ConformalIntervals' own rule (1 in absolute mode)
                lo, hi = np.clip(yhat + q_lo * width, 0, None), yhat + q_hi * width
                out[at, 0], out[at, 1], out[at, 2] = yhat, np.minimum(lo, yhat), np.maximum(hi, yhat)
                basis[at] = "site"
            rest = idx[~known]
            if not len(rest):
                continue
            if fm is None:
                reason[rest] = (f"the model has no fleet model for {activity_type}: only the sites it was trained "
                                "on can be predicted")
                continue
            ready = cols["recent_scale"][rest] > 0
            days = cols["history_days"][rest]
            reason[rest[~ready]] = [
                f"needs {MIN_HISTORY_DAYS} days with readings in the 28 days before the hour's day, has "
                f"{0 if np.isnan(d) else int(d)}" for d in days[~ready]]
            at = rest[ready]
            if len(at):
                X, scale, temp[at] = self._fleet_matrix(cols, at)
                factor = np.ones(len(at))
                q_lo, q_hi = np.full(len(at), fm.quantiles[0]), np.full(len(at), fm.quantiles[1])
                for i, s in enumerate(cols["site"][at].tolist()) if calibrations else ():
                    cal = calibrations.get((activity_type, s)) if calibrations else None
                    if cal is not None:
                        factor[i], q_lo[i], q_hi[i] = cal.factor, cal.lo, cal.hi
                yhat = fm.predict(X, scale, cols["lag_168h"][at], cols["history_days"][at], factor, blend)
                lo, hi = np.clip(yhat + q_lo * scale, 0, None), yhat + q_hi * scale
                out[at, 0], out[at, 1], out[at, 2] = yhat, np.minimum(lo, yhat), np.maximum(hi, yhat)
                basis[at] = "fleet"
        return Detail(out, basis, ~np.isnan(temp), reason)


# --------------------------------------------------------------------------- building inputs
def weather_table(weather: pd.DataFrame) -> pd.DataFrame:
    """Raw hourly weather [timestamp, air_temperature_degC, relative_humidity_pct, global_irradiance_w_m2]
    -> feature table indexed by UTC hour (the packaged weather of one station)."""
    return weather_features(weather).set_index("timestamp")


def weather_tables(weather: pd.DataFrame | SiteWeather) -> tuple[dict[str, pd.DataFrame], dict[str, str], str | None]:
    """(station tables, site -> station, default station) to pack: one raw frame is the station ``default``
    of every site."""
    if isinstance(weather, pd.DataFrame):
        weather = SiteWeather.single(weather)
    tables = {s: weather_table(w) for s, w in weather.stations.items() if len(w)}
    return tables, dict(weather.site_station), weather.default_station


def history_inputs(readings: pd.DataFrame, activity_type: str = "") -> pd.DataFrame:
    """Day-ahead history columns in kWh, and the fleet's ``recent_scale`` and ``history_days``, for every
    (site, hour) of a long frame [site, timestamp, value] (one activity type). Rows to be predicted may carry
    value=NaN."""
    sites = readings["site"].unique()
    hist = history_features(readings, pd.Series(1.0, index=sites))
    hist = hist.merge(recent_scale(readings, activity_type), on=["site", "timestamp"], how="left")
    return hist[["site", "timestamp", *HISTORY_COLUMNS, *FLEET_COLUMNS]]


def model_inputs(readings: pd.DataFrame, activity_type: str,
                 weather: pd.DataFrame | SiteWeather | None = None) -> pd.DataFrame:
    """The model input frame for every reading of ``readings`` [site, timestamp, value] of one activity type,
    with history built from the same frame and weather (raw, or each site's station's) when given."""
    hist = history_inputs(readings, activity_type)
    df = readings[["site", "timestamp", "value"]].merge(hist, on=["site", "timestamp"], how="left")
    df.insert(1, "activity_type", activity_type)
    if weather is not None:
        sw = SiteWeather.single(weather) if isinstance(weather, pd.DataFrame) else weather
        raw = {"temp_c": "air_temperature_degC", "rh": "relative_humidity_pct", "irradiance": "global_irradiance_w_m2"}
        station = df["site"].map(sw.station_of).astype(object)
        for col in raw:
            df[col] = np.nan
        for st, w in sw.stations.items():
            rows = (station == st).to_numpy()
            if rows.any():
                at = w.drop_duplicates("timestamp").set_index("timestamp")
                for col, src in raw.items():
                    df.loc[rows, col] = at[src].reindex(df.loc[rows, "timestamp"]).to_numpy()
    return df
