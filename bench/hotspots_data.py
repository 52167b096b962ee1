"""Data of ``bench/hotspots.py``: the Cambridge meters and weather, the reference baselines fit on the
training period (2019-H1, ``bench/hotspots_split.json``'s ``design.train_period``) and the fault injector.

Injection (``design.note`` of the split, fixed before the detector): ``magnitude`` m is the relative change of
the affected hours. above_expected, spike, level_shift_up: x (1 + m); level_shift_down: x (1 - m); drift:
x (1 + m t/T), t = 0..T over the duration; stuck: the reading at the start repeated; zero_missing: zeros,
or the rows removed when the case's seed is odd; baseload_creep: x (1 + m) on nights (19-07 UTC) and
weekends only; warm_weather_heating: + m x the meter's mean hourly gas of the training period, in hours
above 15 degC.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import REPO  # noqa: E402
from services.lib.hotspots.reference_model import ReferenceModel, fit, predict  # noqa: E402

DATA = REPO / "data" / "buildings_cambridge"
SPLIT = REPO / "bench" / "hotspots_split.json"
CARRIER = {"electricity": "electricity", "natural_gas": "gas"}
WARM_C = 15.0
PEERS = True
Z90 = 1.645
"""Half-width of the day-ahead stand-in's 90 % interval, in hour-of-week residual spreads."""


@dataclass
class Archive:
    readings: dict[str, pd.DataFrame]  # activity type -> wide frame (hour x building), UTC
    temp: pd.Series
    models: dict[tuple[str, str], ReferenceModel]
    ratios: dict[str, pd.DataFrame] | None = None  # activity type -> daily actual/reference (day x building)


def load(split: dict) -> Archive:
    readings = {}
    for act, carrier in CARRIER.items():
        frame = pd.concat([pd.read_csv(DATA / f"{carrier}_hourly_kwh_{y}.csv", parse_dates=["datetime_utc"])
                           for y in (2019, 2020)]).set_index("datetime_utc")
        frame.index = frame.index.tz_localize("UTC")
        readings[act] = frame
    w = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv",
                    parse_dates=["datetime_utc"]).set_index("datetime_utc")
    w.index = w.index.tz_localize("UTC")
    temp = w["air_temperature_degC"]
    t0, t1 = (pd.Timestamp(x, tz="UTC") for x in split["design"]["train_period"])
    models = {}
    for site, act in sorted({(c["site"], c["activity_type"]) for c in split["cases"]}):
        ser = readings[act][site].loc[t0:t1 - pd.Timedelta(hours=1)]
        m = fit(ser.index, ser.to_numpy(float), temp.reindex(ser.index).to_numpy(float))
        if m is not None:
            models[(site, act)] = m
    arc = Archive(readings, temp, models)
    arc.ratios = _daily_ratios(arc)
    return arc


def _daily_ratios(arc: Archive) -> dict[str, pd.DataFrame]:
    """Daily actual / reference of every meter over the archive (the estate's common movements)."""
    out = {}
    t = arc.temp.to_numpy(float)
    for act, frame in arc.readings.items():
        cols = {}
        for site in frame.columns:
            m = arc.models.get((site, act))
            if m is None:
                continue
            ref, _ = predict(m, frame.index, arc.temp.reindex(frame.index).to_numpy(float) if len(t) != len(frame)
                             else t)
            a = frame[site]
            day = frame.index.floor("D")
            ok = a.notna().to_numpy()
            num = pd.Series(np.where(ok, a.to_numpy(float), 0.0), frame.index).groupby(day).sum()
            den = pd.Series(np.where(ok, ref, 0.0), frame.index).groupby(day).sum()
            cols[site] = (num / den.where(den > 0)).clip(0, 3)
        out[act] = pd.DataFrame(cols)
    return out


def peer_factor(arc: Archive, site: str, act: str, idx: pd.DatetimeIndex) -> np.ndarray:
    """The median daily actual/reference of the *other* meters of the same activity type at each hour of
    ``idx``: what the whole estate did that day (term, holidays), which no single meter's fault moves."""
    if arc.ratios is None:
        return np.ones(len(idx))
    r = arc.ratios[act].drop(columns=[site], errors="ignore").median(axis=1)
    return r.reindex(idx.floor("D")).fillna(1.0).to_numpy(float)


def inject(case: dict, ser: pd.Series, temp: pd.Series, train_mean: float) -> pd.Series:
    """The window's readings with the case's fault (index: UTC hours; missing rows dropped)."""
    kind = case["kind"]
    out = ser.copy()
    if kind == "clean":
        return out.dropna()
    m = case["magnitude"]
    t0 = pd.Timestamp(case["start"], tz="UTC")
    hit = (out.index >= t0) & (out.index < t0 + pd.Timedelta(hours=case["duration_h"]))
    vals = out.to_numpy(float).copy()
    if kind in ("above_expected", "spike", "level_shift_up"):
        vals[hit] *= 1 + m
    elif kind == "level_shift_down":
        vals[hit] *= 1 - m
    elif kind == "drift":
        vals[hit] *= 1 + m * np.linspace(0, 1, int(hit.sum()))
    elif kind == "stuck":
        first = np.flatnonzero(hit)[0]
        vals[hit] = vals[first]
    elif kind == "zero_missing":
        if case["seed"] % 2:
            return pd.Series(np.where(hit, np.nan, vals), out.index).dropna()
        vals[hit] = 0.0
    elif kind == "baseload_creep":
        h, d = out.index.hour, out.index.day_of_week
        vals[hit & ((d >= 5) | (h < 7) | (h >= 19))] *= 1 + m
    elif kind == "warm_weather_heating":
        warm = temp.reindex(out.index).to_numpy(float) > WARM_C
        vals[hit & warm] += m * train_mean
    else:
        raise ValueError(kind)
    return pd.Series(vals, out.index).dropna()


def case_frame(arc: Archive, case: dict, end: pd.Timestamp | None = None) -> pd.DataFrame | None:
    """The detector's input for one case: injected readings of the window (up to ``end``) with reference,
    spread, temperature and the day-ahead stand-in's expected / lower / upper (:func:`day_ahead`). ``None`` when the meter has no reference (too little training data)."""
    model = arc.models.get((case["site"], case["activity_type"]))
    if model is None:
        return None
    w0, w1 = (pd.Timestamp(x, tz="UTC") for x in case["window"])
    ser = arc.readings[case["activity_type"]][case["site"]].loc[w0:w1 - pd.Timedelta(hours=1)]
    faulty = inject(case, ser, arc.temp, model.mean_kwh)
    if end is not None:
        faulty = faulty.loc[:end - pd.Timedelta(hours=1)]
    idx = faulty.index
    t = arc.temp.reindex(idx).to_numpy(float)
    ref, spread = predict(model, idx, t)
    if PEERS:
        f = peer_factor(arc, case["site"], case["activity_type"], idx)
        ref, spread = ref * f, spread * f
    da = day_ahead(arc, case, model, faulty)
    return pd.DataFrame({"site": case["site"], "meter": "", "activity_type": case["activity_type"],
                         "timestamp": idx, "actual": faulty.to_numpy(float), "reference": ref, "spread": spread,
                         "temperature": t, "expected": da["expected"].to_numpy(float),
                         "lower": da["lower"].to_numpy(float), "upper": da["upper"].to_numpy(float),
                         "ref_repeat_hours": model.repeat_hours, "ref_zero_hours": model.zero_hours,
                         **{f"ref_z_{k}": v for k, v in model.segment_z.items()}})


def day_ahead(arc: Archive, case: dict, model: ReferenceModel, faulty: pd.Series) -> pd.DataFrame:
    """A cheap stand-in for the production day-ahead forecast (``carbon-baseline``, whose features are lags of
    >= 24 h and the level of the 28 days before the hour's day): the meter's reference scaled by its own
    actual / reference over the 7 UTC days before the hour's day (readings of the day itself never enter,
    injected faults of earlier days do: it follows a lasting fault as the production model does), with a
    90 % interval of +- q hour-of-week spreads (scaled alike), q split-conformal: the 90 % quantile of
    |actual - expected| / spread over the 7 days before the window (``Z90`` when they have < 48 readings). The 7 days before the window come from the
    archive, unfaulted. Columns expected, lower, upper on ``faulty``'s index."""
    w0 = pd.Timestamp(case["window"][0], tz="UTC")
    look = arc.readings[case["activity_type"]][case["site"]].loc[w0 - pd.Timedelta(days=7):w0 - pd.Timedelta(hours=1)]
    hours = pd.date_range(w0 - pd.Timedelta(days=7), faulty.index.max(), freq="h") if len(faulty) else look.index
    a = pd.concat([look, faulty]).reindex(hours)
    ref, spread = predict(model, hours, arc.temp.reindex(hours).to_numpy(float))
    ok = a.notna().to_numpy()
    day = hours.floor("D")
    num = pd.Series(np.where(ok, a.to_numpy(float), 0.0), hours).groupby(day).sum()
    den = pd.Series(np.where(ok, ref, 0.0), hours).groupby(day).sum()
    ratio = (num.rolling(7, min_periods=3).sum().shift(1) / den.rolling(7, min_periods=3).sum().shift(1)
             .where(lambda x: x > 0)).clip(0.2, 3.0).fillna(1.0)
    r = ratio.reindex(day).to_numpy(float)
    e, s = ref * r, np.maximum(spread * r, 1e-6)
    calib = (hours < w0) & ok  # split-conformal on the 7 clean days before the window
    q = float(np.quantile(np.abs(a.to_numpy(float)[calib] - e[calib]) / s[calib], 0.9)) if calib.sum() >= 48 else Z90
    out = pd.DataFrame({"expected": e, "lower": np.maximum(e - q * s, 0.0), "upper": e + q * s}, index=hours)
    return out.reindex(faulty.index)


def read_split() -> dict:
    return json.loads(SPLIT.read_text())


def split_of(split: dict, site: str, window_start: str) -> str:
    """``"test"`` when the (building, window) pair is one of the current TEST split's (``test_pairs``: no TUNE
    case ever used its data), else ``"tune"`` (see ``design.history`` of the split)."""
    return "test" if [site, window_start] in split["test_pairs"] else "tune"
