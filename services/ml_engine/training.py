"""Training and holdout evaluation of the expected-value baseline (no Prefect or MLflow here: the
``train-baseline`` flow calls these and records the results in MLflow)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.ml_engine.bundle import (
    INPUT_COLUMNS,
    MAX_SITE_CODES,
    BaselineBundle,
    SeriesModel,
    model_inputs,
    weather_tables,
)
from services.ml_engine.features import SiteWeather, build_features, clean_meter, site_scale
from services.ml_engine.fleet import FleetModel, train_fleet
from services.ml_engine.model import ExpectedConsumptionModel, ashrae_metrics, fit_with_intervals

log = logging.getLogger(__name__)
MODEL_FORMAT = "carbon-baseline/2"  # 2: hybrid site + fleet model, weather per site (#17); bump when the features or the bundle change meaning
Weather = pd.DataFrame | SiteWeather
MIN_TRAIN_HOURS = 24 * 28


@dataclass(frozen=True)
class Window:
    train_start: pd.Timestamp
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp
    calibration_weeks: int = 8

    @property
    def cal_start(self) -> pd.Timestamp:
        return self.holdout_start - pd.Timedelta(weeks=self.calibration_weeks)

    def as_params(self) -> dict[str, str]:
        return {"train_start": self.train_start.isoformat(), "holdout_start": self.holdout_start.isoformat(),
                "holdout_end": self.holdout_end.isoformat(), "calibration_weeks": str(self.calibration_weeks)}


def default_window(readings: pd.DataFrame, holdout_days: int = 28, train_days: int = 365) -> Window:
    """Holdout = the last ``holdout_days`` whole days of data; training = the ``train_days`` before it."""
    end = pd.Timestamp(readings["timestamp"].max()).floor("D") + pd.Timedelta("1D")
    holdout_start = end - pd.Timedelta(days=holdout_days)
    return Window(holdout_start - pd.Timedelta(days=train_days), holdout_start, end)


def prepare(readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Readings [site, activity_type, timestamp, quantity] (kWh, hourly) -> cleaned long frame
    [site, timestamp, value] per activity type. Zero electricity readings of a whole building are
    treated as missing (the meter archive writes 0 for gaps); gas zeros are real (heating off)."""
    out: dict[str, pd.DataFrame] = {}
    frame = readings.copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    for activity_type, rows in frame.groupby("activity_type"):
        hourly = rows.rename(columns={"quantity": "value"})[["site", "timestamp", "value"]]
        long = hourly.groupby(["site", "timestamp"])["value"].sum(min_count=1).reset_index()
        out[str(activity_type)] = clean_meter(long, zero_is_missing=activity_type == "electricity")
    return out


def unusable(series: dict[str, pd.DataFrame], window: Window) -> list[tuple[str, str, str]]:
    """(activity_type, site, reason) of each site that training must leave out: a reading of infinity (the
    fit does not refuse it: the site's scale becomes infinity and every target of the site 0 or NaN, a model
    of nothing), or fewer than ``MIN_TRAIN_HOURS`` training hours (:func:`train_bundle` leaves those out
    too). Vectorised; the flow reports them."""
    out: list[tuple[str, str, str]] = []
    for activity_type, long in sorted(series.items()):
        values = long["value"].to_numpy(dtype=float)
        infinite = long[np.isinf(values)].groupby("site").size()
        out.extend((activity_type, str(site), f"{n} readings are not finite") for site, n in infinite.items())
        ts = long["timestamp"]
        train = long[(ts >= window.train_start) & (ts < window.holdout_start) & ~np.isnan(values)]
        hours = train.groupby("site").size().reindex(long["site"].unique(), fill_value=0).drop(infinite.index)
        out.extend((activity_type, str(site), f"{n} training hours, fewer than {MIN_TRAIN_HOURS}")
                   for site, n in hours[hours < MIN_TRAIN_HOURS].items())
    return out


def fingerprint(series: dict[str, pd.DataFrame], weather: Weather, floor_area: dict[str, float],
                window: Window, params: dict) -> str:
    """Same data, window and parameters -> same fingerprint (re-runs reuse the registered version)."""
    h = hashlib.sha256(MODEL_FORMAT.encode())
    for activity_type in sorted(series):
        h.update(activity_type.encode())
        h.update(pd.util.hash_pandas_object(series[activity_type], index=False).to_numpy().tobytes())
    frames = [weather] if isinstance(weather, pd.DataFrame) else weather.fingerprint_frames()
    for frame in frames:
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    stations = {} if isinstance(weather, pd.DataFrame) else {"stations": weather.site_station,
                                                            "default_station": weather.default_station}
    h.update(json.dumps({"area": floor_area, "window": window.as_params(), "params": params, **stations},
                        sort_keys=True, default=str).encode())
    return h.hexdigest()


def train_bundle(series: dict[str, pd.DataFrame], weather: Weather, floor_area: dict[str, float],
                 window: Window, params: dict | None = None, alpha: float = 0.10, fleet: bool = True,
                 fleet_params: dict | None = None, fleet_max_sites: int | None = None) -> BaselineBundle:
    """The hybrid of #17, per activity type (electricity and gas behave differently):

    * the site model (site as a category, as before #17) on the sites with 28 days of training readings, at
      most ``MAX_SITE_CODES`` of them: the largest by mean reading when there are more;
    * the fleet model (services/ml_engine/fleet.py; ``fleet=False``: none) on every site with 28 days, to
      serve the sites the site model does not know: new sites without a retrain, and any beyond the cap.

    ``weather``: one raw frame for every site, or each site's own station (:class:`SiteWeather`).
    ``params`` override the site model's default hyper-parameters one by one, ``fleet_params`` the fleet's
    (``max_iter`` of ``params`` applies to both unless ``fleet_params`` sets it). ``fleet_max_sites``: train
    the fleet model on a seeded random sample of that many sites per activity type (its cost is linear in
    sites; it has no site identity, so it still serves every site): the knob for large estates."""
    models: dict[str, SeriesModel] = {}
    fleets: dict[str, FleetModel] = {}
    cpu = {"site": 0.0, "fleet": 0.0}  # CPU seconds of each model's features and fits (bench/accuracy.py)
    for activity_type, long in sorted(series.items()):
        started = time.process_time()
        upto = long[long["timestamp"] < window.holdout_start]
        train_rows = upto[upto["timestamp"] >= window.train_start]
        counts = train_rows.dropna(subset=["value"]).groupby("site").size()
        all_sites = sorted(counts[counts >= MIN_TRAIN_HOURS].index)
        sites = all_sites
        if not sites:
            log.warning("%s: no site has %d training hours; skipped", activity_type, MIN_TRAIN_HOURS)
            continue
        if len(sites) > MAX_SITE_CODES:
            log.info("%s: %d sites; the site model holds the %d largest, the fleet model serves the rest",
                     activity_type, len(sites), MAX_SITE_CODES)
            means = train_rows.groupby("site")["value"].mean().reindex(sites)
            sites = sorted(means.nlargest(MAX_SITE_CODES).index)
        upto_sites = upto[upto["site"].isin(sites)]
        scale = site_scale(train_rows[train_rows["site"].isin(sites)])
        codes = {s: i for i, s in enumerate(sites)}
        meta = pd.DataFrame({"site": sites, "gross_internal_area_m2": [floor_area.get(s, np.nan) for s in sites]})
        df = build_features(upto_sites, weather, meta, scale, codes)
        df = df[df["timestamp"] >= window.train_start]
        model, intervals = fit_with_intervals(df, cal_start=window.cal_start, alpha=alpha,
                                              params={**ExpectedConsumptionModel().params, **(params or {})})
        models[activity_type] = SeriesModel(model, intervals, scale, codes,
                                            {s: float(floor_area.get(s, np.nan)) for s in sites})
        cpu["site"] += time.process_time() - started
        started = time.process_time()
        if fleet:
            fp = {"max_iter": params["max_iter"]} if params and "max_iter" in params else {}
            fleet_sites = all_sites
            if fleet_max_sites and len(all_sites) > fleet_max_sites:
                rng = np.random.default_rng(17)
                fleet_sites = sorted(rng.choice(np.array(all_sites, dtype=object), fleet_max_sites, replace=False))
            fleets[activity_type] = train_fleet(
                upto[upto["site"].isin(fleet_sites)], activity_type, weather, floor_area, window.train_start,
                window.holdout_start, window.cal_start, params={**fp, **(fleet_params or {})}, alpha=alpha)
        cpu["fleet"] += time.process_time() - started
    if not models:
        raise ValueError("no activity type has enough hourly history to train on")
    tables, site_station, default_station = weather_tables(weather)
    return BaselineBundle(series=models, weather=tables, fleet=fleets, site_station=site_station,
                          default_station=default_station,
                          floor_area={s: float(a) for s, a in floor_area.items() if a == a and a},
                          info={"format": MODEL_FORMAT, **window.as_params(), "alpha": alpha,
                                "fit_cpu_seconds": cpu})


def holdout_inputs(series: dict[str, pd.DataFrame], weather: Weather, window: Window) -> pd.DataFrame:
    """Model inputs (with the actual ``value``) of every holdout reading, for any model to be judged on."""
    frames = []
    for activity_type, long in sorted(series.items()):
        upto = long[long["timestamp"] < window.holdout_end]
        df = model_inputs(upto, activity_type, weather)
        frames.append(df[(df["timestamp"] >= window.holdout_start) & df["value"].notna()])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*INPUT_COLUMNS, "value"])


def predictable(bundle: BaselineBundle, inputs: pd.DataFrame) -> pd.Series:
    """Rows whose activity type and site the bundle knows."""
    known = pd.Series(False, index=inputs.index)
    for activity_type, sm in bundle.series.items():
        known |= inputs["activity_type"].eq(activity_type) & inputs["site"].isin(list(sm.site_codes))
    return known


def evaluate(bundle: BaselineBundle, inputs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """ASHRAE-14 metrics per site and activity type, the week-ago naive baseline and interval coverage."""
    rows = inputs[predictable(bundle, inputs)].copy()
    if rows.empty:
        raise ValueError("no holdout reading of a site this model knows")
    pred = bundle.predict(rows[[c for c in INPUT_COLUMNS if c in rows.columns]])
    rows["yhat"], rows["lo"], rows["hi"] = pred["expected"].to_numpy(), pred["lower"].to_numpy(), pred["upper"].to_numpy()
    rows["inside"] = (rows["value"] >= rows["lo"]) & (rows["value"] <= rows["hi"])
    table = []
    for (activity_type, site), g in rows.groupby(["activity_type", "site"], sort=True):
        ours, naive = ashrae_metrics(g["value"], g["yhat"]), ashrae_metrics(g["value"], g["lag_168h"])
        table.append({"activity_type": activity_type, "site": site, "hours": ours["n"], "mean_kwh": ours["mean_kwh"],
                      "cv_rmse_pct": 100 * ours["cv_rmse"], "nmbe_pct": 100 * ours["nmbe"], "mae": ours["mae"],
                      "naive_mae": naive["mae"], "naive_cv_rmse_pct": 100 * naive["cv_rmse"],
                      "naive_nmbe_pct": 100 * naive["nmbe"], "coverage_pct": 100 * float(g["inside"].mean())})
    per_site = pd.DataFrame(table)
    per_site["ashrae_ok"] = (per_site["cv_rmse_pct"] <= 30) & (per_site["nmbe_pct"].abs() <= 10)
    per_site["naive_ashrae_ok"] = (per_site["naive_cv_rmse_pct"] <= 30) & (per_site["naive_nmbe_pct"].abs() <= 10)
    summary: dict[str, float] = {}
    for label, part, sites in [("all", rows, per_site)] + [
            (t, rows[rows["activity_type"] == t], per_site[per_site["activity_type"] == t])
            for t in sorted(rows["activity_type"].unique())]:
        ours, naive = ashrae_metrics(part["value"], part["yhat"]), ashrae_metrics(part["value"], part["lag_168h"])
        prefix = "" if label == "all" else f"{label}_"
        summary |= {
            f"{prefix}holdout_mae": ours["mae"], f"{prefix}holdout_cv_rmse_pct": 100 * ours["cv_rmse"],
            f"{prefix}holdout_nmbe_pct": 100 * ours["nmbe"], f"{prefix}naive_mae": naive["mae"],
            f"{prefix}naive_cv_rmse_pct": 100 * naive["cv_rmse"], f"{prefix}naive_nmbe_pct": 100 * naive["nmbe"],
            f"{prefix}mae_cut_vs_naive_pct": 100 * (1 - ours["mae"] / naive["mae"]) if naive["mae"] else float("nan"),
            f"{prefix}ashrae_within_pct": 100 * float(sites["ashrae_ok"].mean()),
            f"{prefix}naive_ashrae_within_pct": 100 * float(sites["naive_ashrae_ok"].mean()),
            f"{prefix}interval_coverage_pct": 100 * float(part["inside"].mean()),
            f"{prefix}holdout_rows": float(len(part)), f"{prefix}sites": float(len(sites)),
        }
    return per_site, summary


@dataclass(frozen=True)
class GateResult:
    beats: bool
    new_mae: float
    champion_mae: float
    rows: int
    per_type: dict[str, tuple[float, float]]  # activity type -> (new MAE, champion MAE)
    reason: str


def beats(new: BaselineBundle, champion: BaselineBundle, inputs: pd.DataFrame,
          per_type_tolerance: float = 0.02) -> GateResult:
    """The promotion gate: both models judged on the same holdout rows (those both can predict). The new
    model must have a strictly lower pooled MAE, and no activity type may get worse by more than
    ``per_type_tolerance`` (electricity's larger kWh would otherwise hide a worse gas model)."""
    rows = inputs[predictable(new, inputs) & predictable(champion, inputs)]
    if rows.empty:  # nothing in common: the champion cannot be judged here
        return GateResult(True, float("nan"), float("nan"), 0, {}, "no holdout rows in common with the champion")
    new_pred = new.predict(rows[[c for c in INPUT_COLUMNS if c in rows.columns]])["expected"].to_numpy()
    champ_pred = champion.predict(rows[[c for c in INPUT_COLUMNS if c in rows.columns]])["expected"].to_numpy()
    actual = rows["value"].to_numpy()
    new_err, champ_err = np.abs(actual - new_pred), np.abs(actual - champ_pred)
    per_type = {str(t): (float(np.nanmean(new_err[m])), float(np.nanmean(champ_err[m])))
                for t in sorted(rows["activity_type"].unique()) for m in [rows["activity_type"].to_numpy() == t]}
    new_mae, champ_mae = float(np.nanmean(new_err)), float(np.nanmean(champ_err))
    worse = [t for t, (a, b) in per_type.items() if a > b * (1 + per_type_tolerance)]
    if not new_mae < champ_mae:
        return GateResult(False, new_mae, champ_mae, len(rows), per_type, "pooled MAE not lower")
    if worse:
        return GateResult(False, new_mae, champ_mae, len(rows), per_type,
                          f"worse on {', '.join(worse)} by more than {per_type_tolerance:.0%}")
    return GateResult(True, new_mae, champ_mae, len(rows), per_type, "lower pooled MAE, no activity type worse")
