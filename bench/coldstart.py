"""Cold start, leave-sites-out (issue #17): how good are the expected values of a building the model has
never seen, with 7, 14 and 28 days of its own history, against the week-ago naive baseline?

The split is fixed in ``bench/coldstart_split.json`` (a seeded draw made before any model was trained:
30 training buildings, 10 held out as ``test``; ``tune_folds`` split the 30 in three for choices, never the 10).

1. The fleet model (services/ml_engine/fleet.py ``train_fleet``, the production code path) is trained on the
   training buildings only (2019 readings, both activity types, default hyper-parameters). The site model of
   the hybrid is not trained here: it never serves a building it was not trained on.
2. Each held-out building "joins" ``h`` days (7, 14, 28) before each evaluation week: the model sees only
   its readings from that day on. Evaluation weeks: the 7 Mondays 2020-01-27 .. 2020-03-09 (before the
   COVID-19 lockdown). Each day is predicted day-ahead from the readings before it, as the engine does; the
   per-site calibration (services/ml_engine/calibration.py: level factor and interval) is taken at the start
   of the week from the building's readings so far.
3. Per activity type and history length, pooled over the held-out buildings and weeks, on the hours where
   both the model and the naive have a value: MAE and its ratio to week-ago naive, CV(RMSE), NMBE, share of
   buildings within ASHRAE-14 (CV(RMSE) <= 30 %, |NMBE| <= 10 %), 90 % interval coverage. Variants: the
   fleet model without and with the level factor, and blends ``w * fleet + (1 - w) * naive``; the engine
   serves what ``fleet.BLEND`` and ``calibration.LEVEL_CORRECTION`` say, chosen with ``--fold`` runs (tune).

    .venv/bin/python bench/coldstart.py [--json bench/out/coldstart.json]      # test split
    .venv/bin/python bench/coldstart.py --fold 0                               # tune fold 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.accuracy import load_readings, load_weather  # noqa: E402
from bench.harness import Timer, timer  # noqa: E402
from services.ml_engine import fleet as fleet_module  # noqa: E402
from services.ml_engine.bundle import INPUT_COLUMNS, BaselineBundle, model_inputs, weather_tables  # noqa: E402
from services.ml_engine.calibration import LEVEL_CORRECTION, calibrate  # noqa: E402
from services.ml_engine.model import ashrae_metrics  # noqa: E402
from services.ml_engine.training import Window, prepare  # noqa: E402

SPLIT = Path(__file__).with_name("coldstart_split.json")
WINDOW = Window(pd.Timestamp("2019-01-01", tz="UTC"), pd.Timestamp("2020-01-01", tz="UTC"),
                pd.Timestamp("2020-03-16", tz="UTC"))
WEEKS = pd.date_range("2020-01-27", "2020-03-09", freq="7D", tz="UTC")
HISTORY_DAYS = (7, 14, 28)
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)


def split(fold: int | None) -> tuple[list[str], list[str], str]:
    doc = json.loads(SPLIT.read_text())
    if fold is None:
        return doc["train"], doc["test"], "test (10 held-out buildings)"
    folds = doc["tune_folds"]
    train = [s for i, f in enumerate(folds) if i != fold for s in f]
    return train, folds[fold], f"tune fold {fold} (trained on the other two folds)"


def week_rows(bundle: BaselineBundle, long: pd.DataFrame, activity_type: str, weather: pd.DataFrame,
              week: pd.Timestamp, days: int) -> pd.DataFrame:
    """The week's rows of every held-out building that joined ``days`` before it: the fleet prediction
    without the level factor (``fleet``), the factor, the interval and the naive value."""
    joined = week - pd.Timedelta(days=days)
    frame = long[(long["timestamp"] >= joined) & (long["timestamp"] < week + pd.Timedelta(days=7))]
    inputs = model_inputs(frame, activity_type, weather)
    before = inputs[inputs["timestamp"] < week]
    cals = {}
    for site, hist in before.groupby("site"):
        cal = calibrate(bundle, activity_type, str(site), hist, week)
        if cal is not None:
            cals[(activity_type, str(site))] = cal
    rows = inputs[(inputs["timestamp"] >= week) & inputs["value"].notna()].reset_index(drop=True)
    out = bundle.predict_rows(rows[INPUT_COLUMNS], cals)
    factor = np.array([cals[(activity_type, s)].factor if (activity_type, s) in cals else 1.0
                       for s in rows["site"].tolist()])
    rows["fleet"], rows["factor"] = out.values[:, 0] / factor, factor
    rows["lo"], rows["hi"] = out.values[:, 1], out.values[:, 2]
    rows["basis"] = out.basis
    return rows.assign(week=week, history_days_joined=days)


def summarise(rows: pd.DataFrame, yhat: np.ndarray, with_interval: bool = False) -> dict[str, float]:
    y, naive = rows["value"].to_numpy(float), rows["lag_168h"].to_numpy(float)
    ours, base = ashrae_metrics(y, yhat), ashrae_metrics(y, naive)
    ok = []
    for _, g in rows.assign(_y=yhat).groupby("site"):
        a = ashrae_metrics(g["value"], g["_y"])
        ok.append(a["cv_rmse"] <= 0.30 and abs(a["nmbe"]) <= 0.10)
    out = {"buildings": float(rows["site"].nunique()), "hours": float(ours["n"]), "mae": ours["mae"],
           "naive_mae": base["mae"], "mae_ratio_to_naive": ours["mae"] / base["mae"],
           "cv_rmse_pct": 100 * ours["cv_rmse"], "naive_cv_rmse_pct": 100 * base["cv_rmse"],
           "nmbe_pct": 100 * ours["nmbe"], "ashrae_within_pct": 100 * float(np.mean(ok))}
    if with_interval:
        out["interval_coverage_pct"] = 100 * float(((y >= rows["lo"]) & (y <= rows["hi"])).mean())
    return out


def variants(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Predictions of each variant: the fleet without / with the level factor, blends with naive."""
    fleet, naive = rows["fleet"].to_numpy(float), rows["lag_168h"].to_numpy(float)
    out = {"fleet": fleet, "fleet+level": fleet * rows["factor"].to_numpy(float)}
    for w in BLENDS[:-1]:
        out[f"blend{w:.2f}+level"] = w * out["fleet+level"] + (1 - w) * naive
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--max-iter", type=int, default=600)
    parser.add_argument("--fold", type=int, choices=(0, 1, 2), help="judge a tune fold instead of the test split")
    args = parser.parse_args()
    started = Timer()
    train_sites, eval_sites, label = split(args.fold)
    readings, area = load_readings()
    series, weather = prepare(readings), load_weather()
    fleets, cpu = {}, time.process_time()
    with timer() as fit:
        for activity_type, long in sorted(series.items()):
            train = long[long["site"].isin(train_sites)]
            fleets[activity_type] = fleet_module.train_fleet(
                train, activity_type, weather, area, WINDOW.train_start, WINDOW.holdout_start, WINDOW.cal_start,
                params={"max_iter": args.max_iter})
    fit_cpu = time.process_time() - cpu
    tables, site_station, default = weather_tables(weather)
    bundle = BaselineBundle(series={}, weather=tables, fleet=fleets, site_station=site_station,
                            default_station=default, floor_area=area)
    print(f"split: {label}; fleet trained on {len(train_sites)} buildings in {fit.s:.0f} s ({fit_cpu:.0f} s CPU); "
          f"evaluated {len(eval_sites)} buildings, weeks {WEEKS[0]:%Y-%m-%d} .. {WEEKS[-1]:%Y-%m-%d}; "
          f"served: BLEND={fleet_module.BLEND}, LEVEL_CORRECTION={LEVEL_CORRECTION}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    served_blend, fleet_module.BLEND = dict(fleet_module.BLEND), {}  # the variants are judged on the bare fleet
    print(f"{'activity type':<13} {'days':>4} {'variant':<16} {'bldgs':>5} {'hours':>6} {'MAE':>8} {'naive':>8} "
          f"{'ratio':>6} {'CV(RMSE)':>8} {'NMBE':>6} {'ASHRAE':>6} {'cover':>6}")
    for activity_type in sorted(fleets):
        long = series[activity_type][series[activity_type]["site"].isin(eval_sites)]
        for days in HISTORY_DAYS:
            rows = pd.concat([week_rows(bundle, long, activity_type, weather, w, days) for w in WEEKS],
                             ignore_index=True)
            rows = rows[rows["basis"].eq("fleet") & rows["lag_168h"].notna() & rows["fleet"].notna()]
            table = {name: summarise(rows, yhat) for name, yhat in variants(rows).items()}
            # the engine's answer: the level factor and the blend the engine serves (fleet.BLEND)
            w = fleet_module.blend_weight(activity_type, rows["history_days"].to_numpy(), served_blend)
            level = rows["fleet"].to_numpy(float) * (rows["factor"].to_numpy(float) if LEVEL_CORRECTION else 1.0)
            table["served"] = summarise(rows, w * level + (1 - w) * rows["lag_168h"].to_numpy(float),
                                        with_interval=True)
            results[f"{activity_type}_{days}d"] = table
            for name, s in table.items():
                print(f"{activity_type:<13} {days:>4} {name:<16} {s['buildings']:>5.0f} {s['hours']:>6.0f} "
                      f"{s['mae']:>8.3f} {s['naive_mae']:>8.3f} {s['mae_ratio_to_naive']:>6.3f} "
                      f"{s['cv_rmse_pct']:>7.1f}% {s['nmbe_pct']:>5.1f}% {s['ashrae_within_pct']:>5.0f}% "
                      + (f"{s['interval_coverage_pct']:>5.1f}%" if "interval_coverage_pct" in s else ""))
    summary = {"split": label, "train_sites": train_sites, "eval_sites": eval_sites, "fit_seconds": fit.s,
               "fit_cpu_seconds": fit_cpu, "total_seconds": started.s, "blend": served_blend, "level_correction": LEVEL_CORRECTION,
               "results": results}
    print(f"total {started.s:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, default=float))


if __name__ == "__main__":
    main()
