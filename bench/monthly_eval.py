"""The evaluation set of the monthly-bill model (issue #17), written before the model: bills synthesised from
the 40 Cambridge buildings' real hourly meters, a fixed building split, a baseline/test split in time and
injected faults of several shapes.

Bills
    Each meter (building x electricity/gas) is read on its own schedule: the first read on a seeded day of
    2019-01-01 .. 2019-01-10 at 00:00 UTC, then every 27-34 days (seeded), as a meter reader's rounds go.
    A bill is the sum of the real hourly kWh between two reads. A bill missing more than 2 % of its hours is
    dropped (a real bill would be an estimate: we leave it out rather than invent it); the rest are scaled up
    by their missing share.
Time split
    Baseline bills end on or before 2020-01-10 (one year, IPMVP Option C's baseline); test bills start after
    the last baseline read and end on or before 2020-03-16, a week before the UK's first COVID-19 lockdown
    (23 March 2020), which would make every later bill an anomaly.
Building split
    ``bench/monthly_split.json``: a seeded draw of the 40 buildings into ``tune`` (20) and ``test`` (20),
    written once and committed. Choices (interval level, significance) are made on tune; figures are
    reported on test.
Faults (test bills only, one per meter, on a seeded test bill)
    ``scale25``: the bill x 1.25; ``scale40``: x 1.40; ``baseload``: + 20 % of the meter's mean baseline
    kWh per day, every day of the bill (a heater or a chiller left on); ``halfbill``: + 60 % over the second
    half of the bill's days only (a fault that starts mid-period).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, when run as a script

from bench.harness import REPO  # noqa: E402

DATA = REPO / "data" / "buildings_cambridge"
SPLIT = Path(__file__).with_name("monthly_split.json")
SEED = 17
BASELINE_END = pd.Timestamp("2020-01-10")
TEST_END = pd.Timestamp("2020-03-16")
MAX_MISSING = 0.02
FAULTS = ("scale25", "scale40", "baseload", "halfbill")


def hourly(kind: str) -> pd.DataFrame:
    """Real hourly kWh of one activity, 2019-2020, one column per building (UTC index)."""
    frames = [pd.read_csv(DATA / f"{kind}_hourly_kwh_{year}.csv", parse_dates=["datetime_utc"],
                          index_col="datetime_utc") for year in (2019, 2020)]
    return pd.concat(frames).sort_index()


def temperature() -> pd.Series:
    """Bedford's hourly air temperature (UTC index), the demo's weather station."""
    w = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv",
                    parse_dates=["datetime_utc"], index_col="datetime_utc")
    return w["air_temperature_degC"].sort_index()


def split() -> dict[str, list[str]]:
    """The fixed building split (created on the first run from a seeded draw, then only read)."""
    if SPLIT.exists():
        return json.loads(SPLIT.read_text())
    buildings = sorted(pd.read_csv(DATA / "building_metadata.csv")
                       .query("in_hourly_extract")["building_id"].tolist(), key=lambda b: int(b[1:]))
    order = np.random.default_rng(SEED).permutation(len(buildings))
    chosen = [buildings[i] for i in order]
    out = {"seed": SEED, "tune": sorted(chosen[:20], key=lambda b: int(b[1:])),
           "test": sorted(chosen[20:], key=lambda b: int(b[1:]))}
    SPLIT.write_text(json.dumps(out, indent=1) + "\n")
    return out


def read_dates(rng: np.random.Generator, end: pd.Timestamp) -> pd.DatetimeIndex:
    first = pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(rng.integers(0, 10)))
    gaps = rng.integers(27, 35, size=40)
    dates = first + pd.to_timedelta(np.concatenate([[0], np.cumsum(gaps)]), unit="D")
    return pd.DatetimeIndex(dates[dates <= end])


def bills_of(series: pd.Series, reads: pd.DatetimeIndex) -> pd.DataFrame:
    """Bills between consecutive reads: kWh summed over the hours [read_i, read_i+1), vectorised."""
    hours = series.index
    lo = hours.searchsorted(reads[:-1])
    hi = hours.searchsorted(reads[1:])
    values = series.to_numpy(float)
    present = np.concatenate([[0], np.cumsum(~np.isnan(values))])
    total = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values))])
    expected_hours = ((reads[1:] - reads[:-1]) / pd.Timedelta(hours=1)).to_numpy()
    got = present[hi] - present[lo]
    kwh = (total[hi] - total[lo]) * expected_hours / np.maximum(got, 1)
    out = pd.DataFrame({"period_start": reads[:-1], "period_end": reads[1:], "kwh": kwh,
                        "missing": 1 - got / expected_hours})
    return out[out["missing"] <= MAX_MISSING].drop(columns="missing").reset_index(drop=True)


@dataclass
class Meter:
    building: str
    activity: str
    baseline: pd.DataFrame
    test: pd.DataFrame


def meters() -> list[Meter]:
    """Every meter with at least 9 baseline bills and one test bill."""
    rng = np.random.default_rng(SEED)
    out = []
    for activity, kind in (("electricity", "electricity"), ("natural_gas", "gas")):
        frame = hourly(kind)
        for building in sorted(frame.columns, key=lambda b: int(b[1:])):
            series = frame[building]
            reads = read_dates(rng, TEST_END)
            bills = bills_of(series, reads)
            if bills.empty or bills["kwh"].sum() <= 0:
                continue
            base = bills[bills["period_end"] <= BASELINE_END]
            last = base["period_end"].max() if len(base) else BASELINE_END
            test = bills[(bills["period_start"] >= last) & (bills["period_end"] <= TEST_END)]
            if len(base) >= 9 and len(test):
                out.append(Meter(building, activity, base.reset_index(drop=True), test.reset_index(drop=True)))
    return out


def inject(test: pd.DataFrame, baseline: pd.DataFrame, fault: str, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """The test bills with one fault injected on a seeded bill; returns (bills, faulty row)."""
    bills = test.copy()
    row = int(rng.integers(0, len(bills)))
    days = (bills.at[row, "period_end"] - bills.at[row, "period_start"]) / pd.Timedelta(days=1)
    base_days = (baseline["period_end"] - baseline["period_start"]).dt.total_seconds().sum() / 86400
    per_day = baseline["kwh"].sum() / base_days
    kwh = bills.at[row, "kwh"]
    bills.at[row, "kwh"] = {
        "scale25": kwh * 1.25,
        "scale40": kwh * 1.40,
        "baseload": kwh + 0.20 * per_day * days,
        "halfbill": kwh + 0.60 * (kwh / days) * (days / 2),
    }[fault]
    return bills, row


def naive_same_days_last_year(series: pd.Series, bills: pd.DataFrame) -> np.ndarray:
    """Seasonal-naive anchor: the same calendar days one year (52 weeks) earlier, from the real hourly meter."""
    shifted = pd.DataFrame({"period_start": bills["period_start"] - pd.Timedelta(weeks=52),
                            "period_end": bills["period_end"] - pd.Timedelta(weeks=52)})
    hours = series.index
    values = np.nan_to_num(series.to_numpy(float))
    total = np.concatenate([[0.0], np.cumsum(values)])
    lo = hours.searchsorted(shifted["period_start"])
    hi = hours.searchsorted(shifted["period_end"])
    return total[hi] - total[lo]
