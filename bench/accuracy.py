"""Accuracy of the expected-value baseline on the real Cambridge buildings (issue #3 goal).

Train on 2019, test on 2020-01-01 .. 2020-03-15 (before the COVID-19 lockdown shift). Per building:
CV(RMSE), NMBE (ASHRAE Guideline 14; hourly criteria CV(RMSE) <= 30 %, |NMBE| <= 10 %), MAE, and the
MAE of the week-ago seasonal-naive baseline in the same run; plus the coverage of the 90 % interval.
Goals: >= 80 % of buildings within the ASHRAE-14 hourly criteria; MAE >= 25 % below week-ago naive.

    .venv/bin/python bench/accuracy.py [--carrier electricity|gas] [--json bench/out/accuracy.json]

Protocol (docs/ml-baseline-research.md): site scale = 2019 mean; model A trained on 2019-01-01 ..
2019-11-05 gives split-conformal per-building interval quantiles on the last 8 weeks of 2019; the model
scored (B) is refitted on all of 2019. Features are day-ahead: nothing from the judged day's readings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.ml_engine.features import build_features, clean_meter, site_scale, wide_to_long  # noqa: E402
from services.ml_engine.model import ashrae_metrics, fit_with_intervals  # noqa: E402

DATA = ROOT / "data" / "buildings_cambridge"
TEST_START, TEST_END = pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-03-15", tz="UTC")
CAL_START = pd.Timestamp("2019-11-05", tz="UTC")


def load(carrier: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    frames = [wide_to_long(pd.read_csv(DATA / f"{carrier}_hourly_kwh_{y}.csv")) for y in (2019, 2020)]
    long = clean_meter(pd.concat(frames, ignore_index=True), zero_is_missing=carrier == "electricity")
    long = long[long["timestamp"] < TEST_END].reset_index(drop=True)
    weather = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv")
    weather = weather.rename(columns={"datetime_utc": "timestamp"})
    weather["timestamp"] = pd.to_datetime(weather["timestamp"], utc=True)
    meta = pd.read_csv(DATA / "building_metadata.csv").rename(columns={"building_id": "site"})
    return long, weather, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carrier", choices=["electricity", "gas"], default="electricity")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    long, weather, meta = load(args.carrier)
    train_rows = long[long["timestamp"] < TEST_START]
    scale = site_scale(train_rows)
    sites = sorted(long["site"].unique(), key=lambda s: int(s[1:]))
    df = build_features(long, weather, meta, scale, {s: i for i, s in enumerate(sites)})
    train = df[df["timestamp"] < TEST_START]
    t = time.perf_counter()
    model, intervals = fit_with_intervals(train, cal_start=CAL_START)
    fit_s = time.perf_counter() - t
    test = df[(df["timestamp"] >= TEST_START) & df["value"].notna()].copy()
    test["yhat"] = model.predict(test)
    test["naive"] = test["lag_168h"] * test["scale"]
    test["lo"], test["hi"] = intervals.predict(test["site"], test["yhat"])
    rows = []
    for site, g in test.groupby("site", sort=False):  # one row per building (40), not per reading
        ours, naive = ashrae_metrics(g["value"], g["yhat"]), ashrae_metrics(g["value"], g["naive"])
        rows.append({
            "building": site, "hours": ours["n"], "mean_kwh": ours["mean_kwh"],
            "cv_rmse_pct": 100 * ours["cv_rmse"], "nmbe_pct": 100 * ours["nmbe"], "mae": ours["mae"],
            "naive_mae": naive["mae"], "mae_cut_pct": 100 * (1 - ours["mae"] / naive["mae"]),
            "coverage_90_pct": 100 * float(((g["value"] >= g["lo"]) & (g["value"] <= g["hi"])).mean()),
        })
    table = pd.DataFrame(rows).sort_values("building", key=lambda s: s.str[1:].astype(int))
    table["ashrae_ok"] = (table["cv_rmse_pct"] <= 30) & (table["nmbe_pct"].abs() <= 10)
    pooled, pooled_naive = ashrae_metrics(test["value"], test["yhat"]), ashrae_metrics(test["value"], test["naive"])
    summary = {
        "carrier": args.carrier, "buildings": len(table),
        "ashrae_within_pct": 100 * float(table["ashrae_ok"].mean()),
        "pooled_mae": pooled["mae"], "pooled_naive_mae": pooled_naive["mae"],
        "pooled_mae_cut_pct": 100 * (1 - pooled["mae"] / pooled_naive["mae"]),
        "median_mae_cut_pct": float(table["mae_cut_pct"].median()),
        "buildings_mae_cut_ge_25": int((table["mae_cut_pct"] >= 25).sum()),
        "coverage_90_pct": 100 * float(((test["value"] >= test["lo"]) & (test["value"] <= test["hi"])).mean()),
        "fit_seconds": fit_s, "total_seconds": time.perf_counter() - started,
    }
    with pd.option_context("display.width", 200, "display.max_rows", 100):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(json.dumps(summary, indent=2))
    goal_a = summary["ashrae_within_pct"] >= 80
    goal_b = summary["pooled_mae_cut_pct"] >= 25
    print(f"goal: >= 80 % of buildings within ASHRAE-14: {summary['ashrae_within_pct']:.1f} % "
          f"({'met' if goal_a else 'MISSED'}); MAE >= 25 % below week-ago naive (pooled): "
          f"{summary['pooled_mae_cut_pct']:.1f} % ({'met' if goal_b else 'MISSED'}); per building "
          f"{summary['buildings_mae_cut_ge_25']}/{len(table)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "buildings": table.to_dict("records")}, indent=2,
                                        default=float))


if __name__ == "__main__":
    main()
