"""The fleet expected-value model of issue #17: one model per activity type over every site, with no site
identity, so that it predicts a site it has never seen and holds any number of sites.

Each row is scaled by the site's OWN recent level, ``recent_scale``: the mean of its daily mean readings over
the 28 days before the row's day (at least ``MIN_HISTORY_DAYS`` days with readings), floored at
``SCALE_FLOOR_FRAC`` of the largest of those daily means (gas: a near-zero summer mean must not blow the
scaled lags and targets up), and at ``SCALE_FLOOR_KWH``. Features: calendar, the site's own station weather,
floor area, the scale itself, how many days of history the site has, and the day-ahead history features of
features.history_features divided by the scale (capped at ``SCALED_CAP``). Target: value / scale.

Cold start is learned from training copies: every training site also "joins" every ``JOIN_EVERY_DAYS`` days
as a new site (its readings before the join removed) for 28 days, so the model sees rows with 7..27 days of
history. The served model is trained on the rows before the calibration slice; its residuals on that slice,
divided by the row scale, give fleet-wide split-conformal quantiles (services/ml_engine/calibration.py
replaces them by the site's own from its recent residuals, and corrects its level, without retraining).

``BLEND``: for the activity types and history lengths where the fleet model did not beat the week-ago naive
baseline on the TUNE folds of bench/coldstart_split.json, the served value is a blend with (or just) the
naive value (bench/coldstart.py --fold; the figures are in docs/ml-fleet-model.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from services.ml_engine.features import (
    WEATHER_FEATURES,
    SiteWeather,
    calendar_features,
    history_features,
    merge_weather,
)
from services.ml_engine.model import TreeEnsemble

SCALE_DAYS = 28
MIN_HISTORY_DAYS = 7
SCALE_FLOOR_FRAC = {"natural_gas": 0.25}  # of the largest daily mean of the 28 days; others: no floor
SCALE_FLOOR_KWH = 1e-3
SCALED_CAP = 20.0  # scaled lags and targets are capped here (a burst after a near-zero month)
JOIN_EVERY_DAYS = 56
HISTORY_FEATURES = ["lag_24h", "lag_48h", "lag_168h", "lag_336h", "same_hour_mean_7d", "same_how_mean_4w",
                    "prev_day_mean", "prev_day_max", "prev_day_min", "prev_7d_mean", "same_type_day_lag",
                    "same_type_day_mean"]
CALENDAR = ["hour", "dow", "hour_of_week", "day_type", "is_bank_holiday", "xmas_closure"]
FLEET_FEATURES = [*CALENDAR, *WEATHER_FEATURES, "log_floor_area_m2", "log_scale_kwh", "log_intensity_kwh_m2",
                  "history_days", *HISTORY_FEATURES]
# activity type -> ((min history days, weight of the fleet model; 1 - weight on week-ago naive), ...), the last
# that applies wins: chosen on the 3 tune folds of bench/coldstart_split.json only (mean MAE ratio to naive,
# of w in 0, .25, .5, .75, 1; docs/ml-fleet-model.md). Electricity 7-13 days: 0.5 (0.867 vs fleet 0.949),
# 14+ days: 0.75 (0.805 vs 0.841); gas: 0.75 (0.731-0.783 vs 0.758-0.811). The test split is reported only.
BLEND: dict[str, tuple[tuple[int, float], ...]] = {"electricity": ((0, 0.5), (14, 0.75)),
                                                    "natural_gas": ((0, 0.75),)}


def recent_scale(long: pd.DataFrame, activity_type: str = "") -> pd.DataFrame:
    """[site, timestamp, recent_scale, history_days] for every hour of each site's grid (the hours of
    ``long``, to the end of its last day): the site's level from the ``SCALE_DAYS`` days before the row's
    day (NaN with fewer than ``MIN_HISTORY_DAYS`` days of readings), and how many of those days had one."""
    ts = pd.DatetimeIndex(long["timestamp"])
    wide = long.pivot_table(index="timestamp", columns="site", values="value", aggfunc="mean", dropna=False)
    days = pd.date_range(ts.min().floor("D"), ts.max().floor("D"), freq="D", tz="UTC")
    daily = wide.groupby(pd.DatetimeIndex(wide.index).floor("D")).mean().reindex(days)
    have = daily.notna().rolling(SCALE_DAYS, min_periods=1).sum().shift(1)
    mean = daily.fillna(0).rolling(SCALE_DAYS, min_periods=1).sum().shift(1) / have.replace(0, np.nan)
    top = daily.rolling(SCALE_DAYS, min_periods=1).max().shift(1)
    scale = (mean.where(mean >= (floor := SCALE_FLOOR_FRAC.get(activity_type, 0.0) * top), floor)
             .clip(lower=SCALE_FLOOR_KWH))
    scale = scale.where(have >= MIN_HISTORY_DAYS)
    hours = pd.date_range(days[0], days[-1] + pd.Timedelta("23h"), freq="h", tz="UTC")
    at = hours.floor("D")
    out = pd.DataFrame({"recent_scale": scale.reindex(at).set_axis(hours).stack(future_stack=True),
                        "history_days": have.fillna(0).reindex(at).set_axis(hours).stack(future_stack=True)})
    out.index.names = ["timestamp", "site"]
    return out.reset_index()


def history_kwh(long: pd.DataFrame, activity_type: str = "") -> pd.DataFrame:
    """The fleet's history inputs in kWh for every (site, hour) of ``long``'s grid: the 12 day-ahead
    features of features.history_features, ``recent_scale`` and ``history_days`` (what the engine's typed
    API computes from the data core's readings, and what a caller of /invocations may send)."""
    hist = history_features(long, pd.Series(1.0, index=long["site"].unique()))
    return hist.merge(recent_scale(long, activity_type), on=["site", "timestamp"], how="left")


def fleet_rows(long: pd.DataFrame, activity_type: str, weather: pd.DataFrame | SiteWeather,
               floor_area: dict[str, float]) -> pd.DataFrame:
    """Feature rows (FLEET_FEATURES, ``scale``, ``target``) of every hour of ``long`` [site, timestamp, value]
    whose site has a recent scale."""
    df = long[["site", "timestamp", "value"]].merge(history_kwh(long, activity_type), on=["site", "timestamp"],
                                                    how="left")
    df = df[df["recent_scale"].notna()].reset_index(drop=True)
    df = merge_weather(df, weather)
    df = pd.concat([df, calendar_features(df["timestamp"])], axis=1)
    area = df["site"].str.split("~").str[0].map(floor_area).astype(float)  # training copies: "b5~2"
    return scaled(df, area)


def scaled(df: pd.DataFrame, area: pd.Series | np.ndarray) -> pd.DataFrame:
    """Site attributes and history divided by the row's recent scale (in place) and the target."""
    sc = df["recent_scale"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["log_floor_area_m2"] = np.log(area)
        df["log_scale_kwh"] = np.log(sc)
        df["log_intensity_kwh_m2"] = np.log(sc / area)
    for col in HISTORY_FEATURES:
        df[col] = np.minimum(df[col].to_numpy(float) / sc, SCALED_CAP)
    df["scale"] = sc
    df["target"] = np.minimum(df["value"].to_numpy(float) / sc, SCALED_CAP)
    return df


def joining_copies(long: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                   every_days: int = JOIN_EVERY_DAYS) -> pd.DataFrame:
    """Cold-start training examples: each site joins at ``start`` + k * ``every_days`` (before ``end``) as a
    new site ``{site}~{k}`` with only the 28 days of readings from its join on."""
    parts = []
    for k, join in enumerate(pd.date_range(start, end - pd.Timedelta(days=SCALE_DAYS), freq=f"{every_days}D")):
        rows = long[(long["timestamp"] >= join) & (long["timestamp"] < join + pd.Timedelta(days=SCALE_DAYS))]
        parts.append(rows.assign(site=rows["site"].astype(str) + f"~{k}"))
    return pd.concat(parts, ignore_index=True) if parts else long.iloc[:0]


@dataclass
class FleetModel:
    """The fleet model of one activity type, its fleet-wide interval quantiles (residual / scale) and the
    blend with week-ago naive chosen on tune."""
    activity_type: str
    params: dict = field(default_factory=lambda: dict(
        learning_rate=0.05, max_iter=600, max_leaf_nodes=63, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=False, random_state=0))
    model: HistGradientBoostingRegressor | None = None
    alpha: float = 0.10
    quantiles: tuple[float, float] = (0.0, 0.0)
    sites: int = 0  # how many sites it was trained on

    def fit(self, df: pd.DataFrame, cal_start: pd.Timestamp, alpha: float = 0.10) -> FleetModel:
        """Trained on the rows before ``cal_start``; the rows from it on calibrate the fleet quantiles."""
        train = df[(df["timestamp"] < cal_start) & df["target"].notna()]
        if train.empty:  # a short history: train on everything, quantiles from the training residuals
            train = df[df["target"].notna()]
        X = train[FLEET_FEATURES].to_numpy(np.float32)
        X[:, np.isnan(X).all(axis=0)] = 0.0  # e.g. no floor area known: a constant, never split on
        self.model = HistGradientBoostingRegressor(**self.params).fit(X, train["target"].to_numpy())
        cal = df[(df["timestamp"] >= cal_start) & df["target"].notna()]
        cal = cal if len(cal) else train
        r = (cal["value"].to_numpy(float) - self.predict_scaled(cal[FLEET_FEATURES].to_numpy(np.float32))
             * cal["scale"].to_numpy(float)) / cal["scale"].to_numpy(float)
        self.alpha = alpha
        self.quantiles = conformal_bounds(r[~np.isnan(r)], alpha)
        self.sites = int(df["site"].str.split("~").str[0].nunique())
        return self

    def predict_scaled(self, X: np.ndarray) -> np.ndarray:
        assert self.model is not None, "fleet model is not fitted"
        if len(X) <= 8:  # sklearn walks its trees one Python call at a time: the vectorised walk for a few rows
            fast = self.__dict__.get("_fast")
            if fast is None:
                fast = self.__dict__["_fast"] = TreeEnsemble(self.model)
            return np.clip(fast.predict(X), 0, None)
        return np.clip(self.model.predict(X), 0, None)

    def predict(self, X: np.ndarray, scale: np.ndarray, naive: np.ndarray, days: np.ndarray,
                factor: np.ndarray | float = 1.0, blend: bool = True) -> np.ndarray:
        """Expected kWh: the fleet model on the scale times the site's level ``factor``
        (calibration.py), blended with week-ago naive where BLEND says so (``blend``)."""
        fleet = self.predict_scaled(X) * scale * factor
        if not blend:
            return fleet
        weight = blend_weight(self.activity_type, days)
        return np.where(np.isnan(naive) | (weight >= 1), fleet, weight * fleet + (1 - weight) * np.nan_to_num(naive))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_fast", None)
        return state


def blend_weight(activity_type: str, days: np.ndarray,
                 blend: dict[str, tuple[tuple[int, float], ...]] | None = None) -> np.ndarray:
    """Per row, the weight of the fleet model (1 - weight on week-ago naive) for its days of history."""
    weight = np.ones(len(days))
    for min_days, w in (BLEND if blend is None else blend).get(activity_type, ()):
        weight = np.where(np.asarray(days) >= min_days, w, weight)
    return weight


def conformal_bounds(residuals: np.ndarray, alpha: float) -> tuple[float, float]:
    """Finite-sample split-conformal order statistics of each tail of signed residuals."""
    if not len(residuals):
        return 0.0, 0.0
    v, n = np.sort(residuals), len(residuals)
    k_lo = max(int(np.floor((n + 1) * alpha / 2)), 1)
    k_hi = min(int(np.ceil((n + 1) * (1 - alpha / 2))), n)
    return float(v[k_lo - 1]), float(v[k_hi - 1])


def train_fleet(long: pd.DataFrame, activity_type: str, weather: pd.DataFrame | SiteWeather,
                floor_area: dict[str, float], train_start: pd.Timestamp, holdout_start: pd.Timestamp,
                cal_start: pd.Timestamp, params: dict | None = None, alpha: float = 0.10,
                join_every_days: int = JOIN_EVERY_DAYS) -> FleetModel:
    """The fleet model of one activity type on every site of ``long`` (readings before ``holdout_start``),
    with cold-start copies joining every ``join_every_days`` days (0: none)."""
    upto = long[long["timestamp"] < holdout_start]
    frames = [fleet_rows(upto, activity_type, weather, floor_area)]
    if join_every_days:
        copies = joining_copies(upto[upto["timestamp"] >= train_start], train_start, holdout_start, join_every_days)
        if len(copies):
            sites = {s: s.split("~")[0] for s in copies["site"].unique()}
            w = weather if isinstance(weather, pd.DataFrame) else SiteWeather(
                weather.stations, {c: st for c, s in sites.items()
                                   if (st := weather.station_of(s)) is not None}, None)
            frames.append(fleet_rows(copies, activity_type, w, floor_area))
    df = pd.concat(frames, ignore_index=True)
    df = df[df["timestamp"] >= train_start]
    base = FleetModel(activity_type)
    return FleetModel(activity_type, params={**base.params, **(params or {})}).fit(df, cal_start, alpha)
