"""Features of the expected-value baseline for hourly building consumption (issue #3).

Ported from the research spike (docs/ml-baseline-research.md).

"What should this site be consuming at this hour, and how sure?"

Pipeline
--------
1. ``build_features(meter_long, weather, metadata, scale)`` turns a long frame
   ``[site, timestamp, value]`` (UTC, hourly) plus hourly weather and site
   metadata into one feature row per (site, timestamp). Vectorised pandas only.
2. ``ExpectedConsumptionModel`` - one global HistGradientBoostingRegressor over
   all sites; target = value / site_scale (site_scale = mean of the site's
   training readings); the site is a categorical feature.
3. ``ConformalIntervals`` - split-conformal, per-site quantiles of the signed
   residuals on a calibration slice held out of training (default 90 %).

Leakage rule (day-ahead horizon)
--------------------------------
A feature row for timestamp ``t`` may use meter readings with timestamps
strictly before ``floor(t, 'D')`` (00:00 UTC of t's day), never readings of
t's own day. Hourly lags are >= 24 h (t - 24h always lies in the previous UTC
day); daily aggregates are computed per UTC day and shifted by >= 1 day.
``check_no_same_day_leakage`` verifies this by perturbation. Weather and the
calendar are not meter readings: at serving time the temperature of the
target hour comes from a forecast (here observed values are used - an
optimistic stand-in for a forecast).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import holidays
import numpy as np
import pandas as pd

LOCAL_TZ = "Europe/London"
HDD_BASE_C = 15.5   # UK (CIBSE) heating degree base
CDD_BASE_C = 18.0

HOURLY_LAGS = (24, 48, 168, 336)             # hours; all >= 24 -> previous day or earlier
SAME_HOUR_DAYS = tuple(range(24, 169, 24))   # same hour, each of the last 7 days
SAME_HOUR_WEEKS = (168, 336, 504, 672)       # same hour of week, last 4 weeks

CAT_FEATURES = ["site_code"]
FEATURES = [
    # calendar (local time)
    "hour", "dow", "hour_of_week", "day_type", "is_bank_holiday", "xmas_closure",
    # weather (target hour; a forecast at serving time)
    "temp_c", "hdd", "cdd", "temp_mean_24h", "hdd_mean_24h", "irradiance", "rh",
    # site attributes
    "log_floor_area_m2", "log_scale_kwh", "log_intensity_kwh_m2",
    # meter history, normalised by the site scale, day-ahead only
    "lag_24h", "lag_48h", "lag_168h", "lag_336h",
    "same_hour_mean_7d", "same_how_mean_4w",
    "prev_day_mean", "prev_day_max", "prev_day_min", "prev_7d_mean",
    "same_type_day_lag", "same_type_day_mean",
    "site_code",
]


# --------------------------------------------------------------------------- io helpers
def wide_to_long(wide: pd.DataFrame, time_col: str = "datetime_utc") -> pd.DataFrame:
    """Wide CSV frame (time column + one column per site) -> long [site, timestamp, value]."""
    df = wide.rename(columns={time_col: "timestamp"})
    long = df.melt(id_vars="timestamp", var_name="site", value_name="value")
    long["timestamp"] = pd.to_datetime(long["timestamp"], utc=True)
    return long[["site", "timestamp", "value"]]


def clean_meter(long: pd.DataFrame, zero_is_missing: bool) -> pd.DataFrame:
    """Upstream replaced missing readings by 0 and the first hour of each year is a
    half-hour aggregation artefact. Mark both as missing (NaN). For gas, zeros are
    real (heating off), so pass zero_is_missing=False."""
    out = long.copy()
    ts = out["timestamp"]
    first_hour = (ts.dt.month == 1) & (ts.dt.day == 1) & (ts.dt.hour == 0)
    bad = first_hour | out["value"].lt(0)
    if zero_is_missing:
        bad |= out["value"].eq(0)
    out.loc[bad, "value"] = np.nan
    return out


# --------------------------------------------------------------------------- features
@functools.lru_cache(maxsize=64)
def bank_holidays(first_year: int, last_year: int) -> pd.DatetimeIndex:
    """England & Wales bank holidays of these years (cached: serving builds calendars per request)."""
    bank = holidays.UK(subdiv="ENG", years=range(first_year, last_year + 1))
    return pd.DatetimeIndex(pd.to_datetime(sorted(bank.keys())))


def calendar_arrays(ts_utc: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Calendar features in UK local time as arrays. England & Wales bank holidays."""
    local = ts_utc.tz_convert(LOCAL_TZ)
    local_date = local.tz_localize(None).normalize()
    is_bh = local_date.isin(bank_holidays(int(local.year.min()) - 1, int(local.year.max()) + 1)).astype("int8")
    dow = np.asarray(local.day_of_week, dtype="int8")
    hour = np.asarray(local.hour, dtype="int8")
    month, day = np.asarray(local.month), np.asarray(local.day)
    # University Christmas closure (known in advance): 24 Dec .. 1 Jan
    xmas = (((month == 12) & (day >= 24)) | ((month == 1) & (day == 1))).astype("int8")
    day_type = np.select([(is_bh == 1) | (xmas == 1), dow == 5, dow == 6], [3, 1, 2], 0).astype("int8")
    return {"hour": hour, "dow": dow, "hour_of_week": dow.astype("int16") * 24 + hour,
            "day_type": day_type, "is_bank_holiday": is_bh, "xmas_closure": xmas}


def calendar_features(ts_utc: pd.Series) -> pd.DataFrame:
    """Calendar features in UK local time. England & Wales bank holidays."""
    return pd.DataFrame(calendar_arrays(pd.DatetimeIndex(ts_utc)), index=ts_utc.index)


def weather_features(weather: pd.DataFrame) -> pd.DataFrame:
    """weather: UTC hourly, columns timestamp, air_temperature_degC, relative_humidity_pct,
    global_irradiance_w_m2. Returns one row per timestamp. Trailing windows use weather only."""
    w = weather.sort_values("timestamp").set_index("timestamp")
    t = w["air_temperature_degC"].astype(float)
    hdd = (HDD_BASE_C - t).clip(lower=0)
    out = pd.DataFrame({
        "temp_c": t,
        "hdd": hdd,
        "cdd": (t - CDD_BASE_C).clip(lower=0),
        "temp_mean_24h": t.rolling(24, min_periods=1).mean(),
        "hdd_mean_24h": hdd.rolling(24, min_periods=1).mean(),
        "irradiance": w["global_irradiance_w_m2"].astype(float),
        "rh": w["relative_humidity_pct"].astype(float),
    })
    return out.reset_index()


def merge_weather(df: pd.DataFrame, weather: pd.DataFrame | SiteWeather) -> pd.DataFrame:
    """``df`` [site, timestamp, ...] with the weather features of each row's own station (NaN where the site
    has no station or its station no observation of that hour); one raw frame = every site's weather."""
    if isinstance(weather, pd.DataFrame):
        return df.merge(weather_features(weather), on="timestamp", how="left")
    feats = weather.features()
    station = df["site"].map(weather.station_of).astype(object)
    out = df.assign(_station=station).merge(feats.rename(columns={"station": "_station"}),
                                            on=["_station", "timestamp"], how="left")
    return out.drop(columns="_station")


@dataclass
class SiteWeather:
    """Hourly weather per station and the station of each site (issue #17: each site's own series).

    ``stations``: station id -> raw hourly frame [timestamp, air_temperature_degC, relative_humidity_pct,
    global_irradiance_w_m2]; ``site_station``: site -> station id; ``default_station``: the station of a site
    not in ``site_station`` (None: such a site has no weather)."""
    stations: dict[str, pd.DataFrame]
    site_station: dict[str, str] = field(default_factory=dict)
    default_station: str | None = None

    @classmethod
    def single(cls, weather: pd.DataFrame, station: str = "default") -> SiteWeather:
        """One series for every site (the demo: every UK site names the Bedford station)."""
        return cls({station: weather}, {}, station)

    def station_of(self, site: str) -> str | None:
        station = self.site_station.get(site, self.default_station)
        return station if station in self.stations else None

    def features(self) -> pd.DataFrame:
        """weather_features of every station, stacked: [station, timestamp, temp_c, ...]."""
        frames = [weather_features(w).assign(station=s) for s, w in sorted(self.stations.items()) if len(w)]
        if not frames:
            return pd.DataFrame(columns=["station", "timestamp", *WEATHER_FEATURES])
        return pd.concat(frames, ignore_index=True)

    def fingerprint_frames(self) -> list[pd.DataFrame]:
        return [w.assign(station=s) for s, w in sorted(self.stations.items())]


WEATHER_FEATURES = ["temp_c", "hdd", "cdd", "temp_mean_24h", "hdd_mean_24h", "irradiance", "rh"]


def site_scale(meter_long: pd.DataFrame) -> pd.Series:
    """Per-site normalisation scale = mean of the (non-missing) training readings."""
    s = meter_long.groupby("site")["value"].mean()
    return s.where(s > 0, 1.0)


def history_features(meter_long: pd.DataFrame, scale: pd.Series) -> pd.DataFrame:
    """Day-ahead meter-history features for every (site, hour) on a complete hourly grid.

    Every feature of a row at time t uses only readings with timestamp < floor(t, 'D')."""
    wide = meter_long.pivot_table(index="timestamp", columns="site", values="value", aggfunc="mean",
                                  dropna=False)
    # the grid spans every row, also hours to predict (value NaN) after the last reading: pivot_table drops
    # those, and a day-ahead request for tomorrow then had no lags (#17)
    ts = pd.DatetimeIndex(meter_long["timestamp"])
    grid = pd.date_range(ts.min().floor("D"), (ts.max() + pd.Timedelta("1h")).ceil("D") - pd.Timedelta("1h"),
                         freq="h", tz="UTC")
    wide = wide.reindex(grid)
    wide = wide / scale.reindex(wide.columns).to_numpy()            # normalised, NaN = missing
    feats: dict[str, pd.DataFrame] = {}
    for lag in HOURLY_LAGS:
        feats[f"lag_{lag}h"] = wide.shift(lag)
    feats["same_hour_mean_7d"] = sum(wide.shift(lag).fillna(0) for lag in SAME_HOUR_DAYS) / \
        sum(wide.shift(lag).notna().astype(float) for lag in SAME_HOUR_DAYS).replace(0, np.nan)
    feats["same_how_mean_4w"] = sum(wide.shift(lag).fillna(0) for lag in SAME_HOUR_WEEKS) / \
        sum(wide.shift(lag).notna().astype(float) for lag in SAME_HOUR_WEEKS).replace(0, np.nan)
    # daily aggregates per UTC day, shifted so day D sees D-1 (or D-7..D-1)
    day = wide.index.floor("D")
    g = wide.groupby(day)
    dmean, dmax, dmin = g.mean(), g.max(), g.min()
    daily = {
        "prev_day_mean": dmean.shift(1, freq="D"),
        "prev_day_max": dmax.shift(1, freq="D"),
        "prev_day_min": dmin.shift(1, freq="D"),
        "prev_7d_mean": dmean.rolling(7, min_periods=3).mean().shift(1, freq="D"),
    }
    for name, d in daily.items():
        feats[name] = d.reindex(day).set_axis(wide.index)
    # most recent previous day of the same class (working day vs weekend/holiday), same hour:
    # Monday looks at Friday, Saturday at Sunday/last holiday, the day after a holiday at the last workday.
    days = dmean.index
    cal = calendar_features(pd.Series(days + pd.Timedelta("12h")))
    work = (cal["day_type"] == 0).to_numpy()
    pos = pd.Series(np.arange(len(days), dtype=float))
    last_work = pos.where(work).shift(1).ffill().to_numpy()
    last_off = pos.where(~work).shift(1).ffill().to_numpy()
    src_day = np.where(work, last_work, last_off)                    # strictly earlier day
    day_idx = ((wide.index - wide.index[0]) // pd.Timedelta("1D")).to_numpy()
    hour_idx = wide.index.hour.to_numpy()
    src_row = src_day[day_idx] * 24 + hour_idx
    ok = ~np.isnan(src_row)
    vals = np.full(wide.shape, np.nan)
    vals[ok] = wide.to_numpy()[src_row[ok].astype(int)]
    feats["same_type_day_lag"] = pd.DataFrame(vals, index=wide.index, columns=wide.columns)
    dm = np.full(wide.shape, np.nan)
    src_d = src_day[day_idx]
    okd = ~np.isnan(src_d)
    dm[okd] = dmean.to_numpy()[src_d[okd].astype(int)]
    feats["same_type_day_mean"] = pd.DataFrame(dm, index=wide.index, columns=wide.columns)
    stacked = {k: v.stack(future_stack=True) for k, v in feats.items()}
    out = pd.DataFrame(stacked)
    out.index.names = ["timestamp", "site"]
    return out.reset_index()


def build_features(meter_long: pd.DataFrame, weather: pd.DataFrame | SiteWeather, metadata: pd.DataFrame,
                   scale: pd.Series, site_codes: dict[str, int]) -> pd.DataFrame:
    """One row per (site, timestamp) of ``meter_long`` with FEATURES + 'target' (value/scale).

    meter_long: [site, timestamp(UTC), value]; must include enough history before the rows to
        be predicted (>= 28 days) - history rows simply yield their own feature rows.
        For pure forecasting, append rows with value=NaN for the hours to predict.
    weather: [timestamp, air_temperature_degC, relative_humidity_pct, global_irradiance_w_m2]
    metadata: [site, gross_internal_area_m2]
    scale: per-site scale (from ``site_scale`` on training data); site_codes: site -> int.
    """
    base = meter_long[["site", "timestamp", "value"]].copy()
    hist = history_features(base, scale)
    df = base.merge(hist, on=["site", "timestamp"], how="left")
    df = merge_weather(df, weather)
    df = pd.concat([df, calendar_features(df["timestamp"])], axis=1)
    meta = metadata.set_index("site")
    area = df["site"].map(meta["gross_internal_area_m2"]).astype(float)
    sc = df["site"].map(scale).astype(float)
    df["log_floor_area_m2"] = np.log(area)
    df["log_scale_kwh"] = np.log(sc)
    df["log_intensity_kwh_m2"] = np.log(sc / area)
    df["site_code"] = df["site"].map(site_codes).astype("int16")
    df["scale"] = sc
    df["target"] = df["value"] / sc
    return df


def check_no_same_day_leakage(meter_long, weather, metadata, scale, site_codes,
                              day: str = "2019-06-12") -> None:
    """Perturb every reading of one UTC day; features of that day must not change."""
    d0 = pd.Timestamp(day, tz="UTC")
    a = build_features(meter_long, weather, metadata, scale, site_codes)
    pert = meter_long.copy()
    on_day = pert["timestamp"].between(d0, d0 + pd.Timedelta("23h"))
    pert.loc[on_day, "value"] = pert.loc[on_day, "value"] * 7.0 + 1000.0
    b = build_features(pert, weather, metadata, scale, site_codes)
    rows = a["timestamp"].between(d0, d0 + pd.Timedelta("23h"))
    hist_cols = [c for c in FEATURES if c.startswith(("lag_", "same_", "prev_"))]
    assert len(hist_cols) == 12
    pd.testing.assert_frame_equal(a.loc[rows, hist_cols], b.loc[rows, hist_cols])
    nxt = a["timestamp"].between(d0 + pd.Timedelta("1D"), d0 + pd.Timedelta("1D23h"))
    assert not a.loc[nxt, hist_cols].equals(b.loc[nxt, hist_cols]), "perturbation not visible next day"
