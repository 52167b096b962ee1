"""Prefect flow ``train-baseline``: read site history from the data core, train the expected-value
baseline, judge it on a time-based holdout against the week-ago naive baseline and against the current
champion, and record everything in MLflow (``carbon-baseline``; alias ``champion`` only when the new
model beats the champion on the same holdout, otherwise ``challenger``).

Idempotent: a run over the same readings, weather, window and parameters finds the version it
registered before (model-version tag ``fingerprint``) and changes nothing.

A site whose readings would break feature building or the fit (a reading of infinity, which would train
the site on a scale of infinity; data a fit of the site alone fails on) or that has too little history is left out of training and of the holdout, for that
activity type: the run returns it in ``skipped`` (site, activity type, stage ``train``, reason), logs a
warning for it and lists it in the table artifact ``train-baseline-skipped``; the other sites are trained
exactly as without it.

    python -m flows.train_baseline --train-start 2019-01-01 --holdout-start 2020-01-01 --holdout-end 2020-03-15
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import SERVICE_RETRIES, FlowSettings, report_skips
from services.common.contracts import SiteSkip, site_fault
from services.common.datacore import WEATHER_COLUMNS, DataCoreClient
from services.ml_engine import registry
from services.ml_engine.bundle import INPUT_COLUMNS, BaselineBundle
from services.ml_engine.features import SiteWeather
from services.ml_engine.history import read_readings
from services.ml_engine.settings import MLEngineSettings
from services.ml_engine.training import (
    Window,
    beats,
    default_window,
    evaluate,
    fingerprint,
    holdout_inputs,
    prepare,
    train_bundle,
    unusable,
)

HISTORY_MARGIN = pd.Timedelta(days=35)  # history before the training window feeds the 28-day lags
FETCH_RETRIES = SERVICE_RETRIES


def data_core_client(base_url: str) -> DataCoreClient:
    """The data core's client at ``base_url`` with the API_TOKEN of the settings (tests swap in a client
    bound to an in-process app)."""
    return DataCoreClient(base_url, FlowSettings().api_token.get_secret_value(), timeout=300.0)  # type: ignore[call-arg]


def _utc(value: datetime | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@task(name="fetch-sites", cache_policy=NO_CACHE, **FETCH_RETRIES)
def fetch_sites() -> dict[str, float]:
    """Site floor areas (m2) from the data core (``DATA_CORE_URL``)."""
    with data_core_client(FlowSettings().data_core_url) as dc:  # type: ignore[call-arg]
        sites = dc.sites()
    return {s["id"]: float(s["floor_area_m2"]) for s in sites if s.get("floor_area_m2")}


@task(name="fetch-site-weather", cache_policy=NO_CACHE, **FETCH_RETRIES)
def fetch_site_weather(start: pd.Timestamp | None, end: pd.Timestamp | None) -> SiteWeather:
    """Each site's own weather (#17): the hourly observations of every station a site names, from the data
    core (``GET /weather/stations/{id}/observations``). A site without a station is trained and predicted
    without weather (the engine says so per prediction)."""
    stations: dict[str, pd.DataFrame] = {}
    with data_core_client(FlowSettings().data_core_url) as dc:  # type: ignore[call-arg]
        site_station = {s["id"]: str(s["weather_station"]) for s in dc.sites() if s.get("weather_station")}
        for station in sorted(set(site_station.values())):
            frame = dc.station_weather(station, start, end)
            stations[station] = frame[["timestamp", *WEATHER_COLUMNS]].reset_index(drop=True)
    if not site_station:
        get_run_logger().warning("no site names a weather station in the data core: training without weather")
    return SiteWeather(stations, site_station, None)


@task(name="fetch-readings", cache_policy=NO_CACHE, **FETCH_RETRIES)
def fetch_readings(activity_types: list[str], start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """Hourly readings in kWh [site, activity_type, timestamp, quantity] (CSV: a year of 40 buildings is
    ~700k rows). The data core converts other energy units to kWh and leaves non-energy units out."""
    with data_core_client(FlowSettings().data_core_url) as dc:  # type: ignore[call-arg]
        return read_readings(dc, activity_types, start, end)


@task(name="load-weather", cache_policy=NO_CACHE)
def load_weather(path: str | None = None) -> pd.DataFrame:
    """Hourly weather (UTC) of one CSV (``WEATHER_CSV``): what the tests and benches train every site on; the
    flow takes each site's station series from the data core (:func:`fetch_site_weather`)."""
    source = path or MLEngineSettings().weather_csv  # type: ignore[call-arg]
    weather = pd.read_csv(source).rename(columns={"datetime_utc": "timestamp"})
    weather["timestamp"] = pd.to_datetime(weather["timestamp"], utc=True)
    return weather[["timestamp", "air_temperature_degC", "relative_humidity_pct", "global_irradiance_w_m2"]]


@task(name="train-and-register", cache_policy=NO_CACHE)
def train_and_register(readings: pd.DataFrame, weather: pd.DataFrame | SiteWeather, floor_area: dict[str, float],
                       window: Window, params: dict[str, Any]) -> dict[str, Any]:
    """The registry is ``MLFLOW_TRACKING_URI`` (a setting, never a run parameter)."""
    logger = get_run_logger()
    settings = MLEngineSettings()  # type: ignore[call-arg]
    client = registry.configure(settings.mlflow_tracking_uri)
    name = settings.model_name
    series = prepare(readings)
    fp = fingerprint(series, weather, floor_area, window, params)  # of what the data core gave, poison included
    skipped = [SiteSkip.of(site, "train", reason, activity_type=t) for t, site, reason in unusable(series, window)]
    series = without(series, skipped)
    existing = registry.find_by_fingerprint(client, name, fp)
    if existing is not None:
        champion = registry.alias_version(client, name, registry.CHAMPION)
        alias = registry.CHAMPION if champion and champion.version == existing.version else registry.CHALLENGER
        logger.info("same data, window and parameters as %s v%s: nothing to do", name, existing.version)
        return {"version": str(existing.version), "alias": alias, "reused": True, "fingerprint": fp,
                "skipped": [s.model_dump() for s in skipped]}
    bundle, series = train_contained(series, weather, floor_area, window, params, skipped)
    inputs = holdout_inputs(series, weather, window)
    per_site, metrics = evaluate(bundle, inputs)
    champion = registry.alias_version(client, name, registry.CHAMPION)
    champion, promote, gate = registry.vet_champion(client, name, champion)  # unsigned/tampered: no usable champion
    if champion is not None:
        champ_bundle = registry.load_bundle(name, str(champion.version))
        verdict = beats(bundle, champ_bundle, inputs)
        promote = verdict.beats
        metrics |= {"gate_new_mae": verdict.new_mae, "gate_champion_mae": verdict.champion_mae,
                    "gate_rows": float(verdict.rows)}
        for activity_type, (new_mae, champ_mae) in verdict.per_type.items():
            metrics |= {f"gate_{activity_type}_new_mae": new_mae, f"gate_{activity_type}_champion_mae": champ_mae}
        gate = {"gate": f"{'beats' if promote else 'does not beat'} champion v{champion.version} "
                        f"(MAE {verdict.new_mae:.4g} vs {verdict.champion_mae:.4g} on {verdict.rows} holdout rows; "
                        f"{verdict.reason})",
                "compared_with": str(champion.version)}
    example = inputs[[c for c in INPUT_COLUMNS if c in inputs.columns]].head(3).copy()
    example["timestamp"] = example["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    example = example.astype({c: "float64" for c in example.columns if c not in ("site", "timestamp", "activity_type")})
    tags = {"fingerprint": fp, **window.as_params(), "activity_types": ",".join(sorted(bundle.series)), **gate}
    result = registry.log_and_register(
        bundle, name=name, params={**params, **window.as_params(), "sites": len(per_site),
                                   "activity_types": ",".join(sorted(bundle.series)), "readings": len(readings)},
        metrics=metrics, per_site=per_site, tags=tags, input_example=example, promote=promote)
    logger.info("%s v%s -> %s; %s; holdout MAE %.4g (naive %.4g), %.1f %% of sites within ASHRAE-14",
                name, result.version, result.alias, gate["gate"], metrics["holdout_mae"], metrics["naive_mae"],
                metrics["ashrae_within_pct"])
    return {"version": result.version, "alias": result.alias, "reused": False, "run_id": result.run_id,
            "fingerprint": fp, "metrics": metrics, **gate, "skipped": [s.model_dump() for s in skipped]}


def without(series: dict[str, pd.DataFrame], skipped: list[SiteSkip]) -> dict[str, pd.DataFrame]:
    """``series`` without the skipped sites of each activity type."""
    out = {}
    for activity_type, long in series.items():
        drop = {s.site for s in skipped if s.activity_type in ("", activity_type)}
        out[activity_type] = long[~long["site"].isin(drop)] if drop else long
    return out


def train_contained(series: dict[str, pd.DataFrame], weather: pd.DataFrame | SiteWeather, floor_area: dict[str, float],
                    window: Window, params: dict[str, Any],
                    skipped: list[SiteSkip]) -> tuple[BaselineBundle, dict[str, pd.DataFrame]]:
    """:func:`train_bundle` over every site; when one site's data makes it fail, a short fit of each site
    alone finds the sites to blame (added to ``skipped``), and the others are trained as without them.
    Returns the bundle and the series it was trained on."""
    try:
        return train_bundle(series, weather, floor_area, window, params=params or None), series
    except Exception as exc:
        if not site_fault(exc):
            raise
        blamed = []
        for activity_type, long in sorted(series.items()):
            for site, rows in long.groupby("site", sort=True):  # each has enough history (unusable())
                try:
                    train_bundle({activity_type: rows}, weather, floor_area, window, params={**params, "max_iter": 2})
                except Exception as one:
                    if not site_fault(one):
                        raise
                    blamed.append(SiteSkip.of(str(site), "train", one, activity_type=activity_type))
        if not blamed or len(blamed) == sum(long["site"].nunique() for long in series.values()):
            raise  # no site, or every site, fails alone: not one site's data
    skipped.extend(blamed)
    series = without(series, blamed)
    return train_bundle(series, weather, floor_area, window, params=params or None), series


@flow(name="train-baseline", log_prints=True)
def train_baseline(activity_types: list[str] | None = None, train_start: datetime | None = None,
                   holdout_start: datetime | None = None, holdout_end: datetime | None = None,
                   max_iter: int = 600, max_leaf_nodes: int = 63, calibration_weeks: int = 8) -> dict[str, Any]:
    """Train, evaluate and register ``carbon-baseline``. Without a window: holdout = the last 28 days of
    data, training = the 365 days before. The data core (``DATA_CORE_URL``: readings, sites and each site's
    station weather) and the registry (``MLFLOW_TRACKING_URI``) come from settings."""
    types = activity_types or ["electricity", "natural_gas"]
    start, h_start, h_end = _utc(train_start), _utc(holdout_start), _utc(holdout_end)
    floor_area = fetch_sites()
    readings = fetch_readings(types, start - HISTORY_MARGIN if start is not None else None, h_end)
    if readings.empty:
        raise ValueError(f"the data core has no hourly readings of {', '.join(types)} in this window")
    if h_start is None or h_end is None or start is None:
        auto = default_window(readings)
        h_end = h_end or auto.holdout_end
        h_start = h_start or h_end - pd.Timedelta(days=28)
        start = start or h_start - pd.Timedelta(days=365)
    if not start < h_start < h_end:
        raise ValueError("need train_start < holdout_start < holdout_end")
    window = Window(start, h_start, h_end, calibration_weeks)
    weather = fetch_site_weather(start - HISTORY_MARGIN, h_end)
    params = {"learning_rate": 0.05, "max_iter": max_iter, "max_leaf_nodes": max_leaf_nodes, "min_samples_leaf": 40,
              "l2_regularization": 1.0, "early_stopping": False, "random_state": 0}
    result = train_and_register(readings, weather, floor_area, window, params)
    report_skips(result["skipped"], key="train-baseline-skipped", what="train-baseline")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Train carbon-baseline (a Prefect flow run).")
    parser.add_argument("--activity-type", action="append", dest="activity_types")
    parser.add_argument("--train-start")
    parser.add_argument("--holdout-start")
    parser.add_argument("--holdout-end")
    parser.add_argument("--max-iter", type=int, default=600)
    parser.add_argument("--if-no-champion", action="store_true",
                        help="do nothing when the registry already has a champion (make up)")
    args = parser.parse_args()
    if args.if_no_champion:
        settings = MLEngineSettings()  # type: ignore[call-arg]
        client = registry.configure(settings.mlflow_tracking_uri)
        champion = registry.alias_version(client, settings.model_name, registry.CHAMPION)
        # a champion whose artefacts do not verify (unsigned by an older make up, or tampered) is no champion
        usable, _, gate = registry.vet_champion(client, settings.model_name, champion)
        if usable is not None:
            print(json.dumps({"version": str(usable.version), "alias": registry.CHAMPION, "trained": False}))
            return
        if champion is not None:
            print(f"champion v{champion.version} is not usable ({gate['gate']}): training a new one", file=sys.stderr)
    result = train_baseline(activity_types=args.activity_types, train_start=args.train_start,
                            holdout_start=args.holdout_start, holdout_end=args.holdout_end, max_iter=args.max_iter)
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}, default=str))


if __name__ == "__main__":
    main()
