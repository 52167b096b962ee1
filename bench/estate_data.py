"""The estate of ``bench/estate.py``: synthetic meters made from the 40 real Cambridge buildings by scaling and
shifting, the files a user would upload for them, and the bare pandas floor of their ingestion.

A synthetic site takes one real building (``base``, one of the buildings with both an electricity and a gas
meter) and:

* scales every reading of it by ``scale`` (log-normal, median 1, sigma 0.6, clipped to 0.2 .. 5: buildings of
  other sizes; its floor area is scaled alike);
* shifts its series by ``shift`` hours (uniform integer in -3 .. +3: a building that opens earlier or later;
  the hours shifted in at the edges are missing);
* multiplies each hour by ``1 + e``, ``e`` normal with sigma 0.05 (clipped at -0.5), so no two sites are the
  same series; a missing hour stays missing, zero stays zero;
* rounds to 0.1 kWh (as the meter archive does).

Sites come in three kinds: ``hourly`` (electricity and gas meters read hourly: two meters per site),
``halfhourly`` (the same, each hour split into two half-hours at a random share 0.4 .. 0.6 of the hour,
rounded to 0.01 kWh) and ``monthly`` (one bill per calendar month of one meter, electricity or gas in turn:
the month's hourly kWh of the synthetic series, missing hours filled with the month's mean hour). Everything is
seeded: the same arguments give the same estate.

Run as ``python bench/estate_data.py --floor-worker ...`` it is the floor process of the ingest step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import REPO  # noqa: E402

DATA = REPO / "data" / "buildings_cambridge"
FACTORS_CSV = REPO / "data" / "factors" / "factors.csv"
GWP_CSV = REPO / "data" / "factors" / "gwp.csv"
CARRIERS = {"electricity": ("electricity", "main-electricity"), "gas": ("natural_gas", "main-gas")}
YEARS = (2019, 2020)
ORG = {"id": "estate", "name": "Bench estate"}
SCALE_SIGMA, SCALE_CLIP, SHIFT_HOURS, NOISE_SIGMA = 0.6, (0.2, 5.0), 3, 0.05


@dataclass
class Estate:
    """The synthetic sites and, per carrier, their hourly kWh 2019-2020 (a time x site frame, UTC)."""

    sites: pd.DataFrame  # id, kind, base, scale, shift, carrier (monthly sites: their one carrier)
    hourly: dict[str, pd.DataFrame] = field(default_factory=dict)
    seed: int = 0

    def ids(self, *kinds: str) -> list[str]:
        return self.sites.loc[self.sites["kind"].isin(kinds), "id"].tolist()

    def meters(self, *kinds: str) -> int:
        part = self.sites[self.sites["kind"].isin(kinds)]
        return int(((part["kind"] != "monthly") * 2 + (part["kind"] == "monthly")).sum())


def _wide(carrier: str) -> pd.DataFrame:
    frames = [pd.read_csv(DATA / f"{carrier}_hourly_kwh_{y}.csv") for y in YEARS]
    wide = pd.concat(frames, ignore_index=True)
    wide.index = pd.to_datetime(wide.pop("datetime_utc"), utc=True)
    return wide


def synthesize(hourly_meters: int, halfhourly_meters: int, bills: int, seed: int = 17) -> Estate:
    """``hourly_meters`` / 2 hourly sites, ``halfhourly_meters`` / 2 half-hourly sites and ``bills`` monthly
    sites (module docstring)."""
    rng = np.random.default_rng(seed)
    base_wide = {c: _wide(c) for c in CARRIERS}
    bases = sorted(set(base_wide["electricity"].columns) & set(base_wide["gas"].columns), key=lambda b: int(b[1:]))
    kinds = [("hourly", "e", hourly_meters // 2), ("halfhourly", "h", halfhourly_meters // 2), ("monthly", "m", bills)]
    rows = []
    for kind, prefix, n in kinds:
        for j in range(n):
            rows.append({"id": f"{prefix}{j:04d}", "kind": kind, "base": bases[len(rows) % len(bases)],
                         "carrier": ("electricity", "gas")[j % 2] if kind == "monthly" else ""})
    sites = pd.DataFrame(rows, columns=["id", "kind", "base", "carrier"])
    sites["scale"] = np.clip(rng.lognormal(0.0, SCALE_SIGMA, len(sites)), *SCALE_CLIP).round(3)
    sites["shift"] = rng.integers(-SHIFT_HOURS, SHIFT_HOURS + 1, len(sites))
    estate = Estate(sites=sites, seed=seed)
    for carrier, wide in base_wide.items():
        base = wide[sites["base"]].to_numpy(float)  # time x site, the base building's column per site
        t = np.arange(len(wide))[:, None] - sites["shift"].to_numpy()[None, :]
        inside = (t >= 0) & (t < len(wide))
        values = np.take_along_axis(base, np.clip(t, 0, len(wide) - 1), axis=0)
        noise = np.clip(rng.normal(0.0, NOISE_SIGMA, values.shape), -0.5, None)
        values = np.where(inside, values * sites["scale"].to_numpy()[None, :] * (1 + noise), np.nan).round(1)
        estate.hourly[carrier] = pd.DataFrame(values, index=wide.index, columns=sites["id"].tolist())
    return estate


def site_records(estate: Estate) -> list[dict[str, Any]]:
    """The sites as ``POST /api/v1/sites`` takes them (GB, floor area = the base's x scale)."""
    meta = pd.read_csv(DATA / "building_metadata.csv").set_index("building_id")["gross_internal_area_m2"]
    return [{"id": s["id"], "org_id": ORG["id"], "name": f"Estate {s['kind']} {s['id']} ({s['base']} x{s['scale']})",
             "country": "GB", "grid_region": "GB", "floor_area_m2": round(float(meta[s["base"]]) * s["scale"], 1),
             "tags": ["bench-estate", s["kind"], f"base:{s['base']}"]} for s in estate.sites.to_dict("records")]


def long_hourly(estate: Estate, sites: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Hourly readings of ``sites`` in [start, end) as the demo's long CSV (site, meter, timestamp,
    activity_type, quantity, unit); missing hours left out."""
    parts = []
    for carrier, (activity_type, meter) in CARRIERS.items():
        wide = estate.hourly[carrier].loc[(estate.hourly[carrier].index >= start)
                                          & (estate.hourly[carrier].index < end), sites]
        long = wide.rename_axis("timestamp").reset_index().melt(id_vars="timestamp", var_name="site",
                                                                value_name="quantity").dropna(subset=["quantity"])
        parts.append(long.assign(meter=meter, activity_type=activity_type, unit="kWh"))
    out = pd.concat(parts, ignore_index=True)
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out[["site", "meter", "timestamp", "activity_type", "quantity", "unit"]]


def long_halfhourly(estate: Estate, sites: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Half-hourly readings (period_start, period_end) of ``sites``: each hour split at a share 0.4 .. 0.6."""
    hourly = long_hourly(estate, sites, start, end)
    rng = np.random.default_rng(estate.seed + 1)
    share = rng.uniform(0.4, 0.6, len(hourly))
    t0 = pd.to_datetime(hourly["timestamp"], utc=True)
    first = (hourly["quantity"] * share).round(2)
    halves = [hourly.assign(period_start=t0, period_end=t0 + pd.Timedelta(minutes=30), quantity=first),
              hourly.assign(period_start=t0 + pd.Timedelta(minutes=30), period_end=t0 + pd.Timedelta(hours=1),
                            quantity=(hourly["quantity"] - first).round(2))]
    out = pd.concat(halves, ignore_index=True).sort_values(["site", "meter", "period_start"], kind="stable")
    for col in ("period_start", "period_end"):
        out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out[["site", "meter", "period_start", "period_end", "activity_type", "quantity", "unit"]]


def monthly_bills(estate: Estate, year: int) -> pd.DataFrame:
    """One bill per monthly site and calendar month of ``year``: site, meter, activity_type, period_start,
    period_end, kwh (missing hours filled with the month's mean hour; a month without readings has no bill)."""
    part = estate.sites[estate.sites["kind"] == "monthly"]
    frames = []
    for carrier, (activity_type, meter) in CARRIERS.items():
        ids = part.loc[part["carrier"] == carrier, "id"].tolist()
        if not ids:
            continue
        wide = estate.hourly[carrier][ids]
        wide = wide[wide.index.year == year]
        month = wide.index.tz_convert(None).to_period("M")
        mean = wide.groupby(month).mean()
        hours = wide.groupby(month).size()
        kwh = mean.mul(hours, axis=0).round(1)
        long = kwh.rename_axis("month").reset_index().melt(id_vars="month", var_name="site", value_name="kwh")
        long = long.dropna(subset=["kwh"])
        long["period_start"] = long["month"].dt.start_time.dt.tz_localize("UTC")
        long["period_end"] = (long["month"] + 1).dt.start_time.dt.tz_localize("UTC")
        frames.append(long.assign(meter=meter, activity_type=activity_type))
    out = pd.concat(frames, ignore_index=True).sort_values(["site", "period_start"], kind="stable")
    return out[["site", "meter", "activity_type", "period_start", "period_end", "kwh"]].reset_index(drop=True)


def bills_csv(bills: pd.DataFrame) -> pd.DataFrame:
    out = bills.rename(columns={"kwh": "quantity"}).assign(unit="kWh")
    for col in ("period_start", "period_end"):
        out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out[["site", "meter", "period_start", "period_end", "activity_type", "quantity", "unit"]]


def write_files(estate: Estate, year: int, out: Path, rows_per_file: int = 1_000_000) -> list[dict[str, Any]]:
    """The upload files of ``year``: hourly sites in files of about ``rows_per_file`` rows (whole sites; the
    data core takes bodies up to 256 MiB), then the half-hourly file(s), then the bills."""
    out.mkdir(parents=True, exist_ok=True)
    start, end = pd.Timestamp(f"{year}-01-01", tz="UTC"), pd.Timestamp(f"{year + 1}-01-01", tz="UTC")
    per_site = 2 * 24 * 366
    files: list[dict[str, Any]] = []

    def emit(kind: str, frame: pd.DataFrame) -> None:
        path = out / f"estate-{kind}-{len(files):03d}.csv"
        frame.to_csv(path, index=False)
        files.append({"path": path, "kind": kind, "rows": len(frame), "bytes": path.stat().st_size})

    for kind, make, rows_each in (("hourly", long_hourly, per_site), ("halfhourly", long_halfhourly, 2 * per_site)):
        ids = estate.ids(kind)
        step = max(1, rows_per_file // rows_each)
        for i in range(0, len(ids), step):
            emit(kind, make(estate, ids[i : i + step], start, end))
    if estate.ids("monthly"):
        emit("monthly", bills_csv(monthly_bills(estate, year)))
    return files


# ------------------------------------------------------------------------------------------ the floor


def floor_factors() -> pd.DataFrame:
    """The factors the data core applies to this estate (GB): NESO hourly grid intensity for electricity of an
    hour or less, DESNZ electricity (``electricity>1h``) for longer readings, the DESNZ natural gas (kWh, gross
    CV) of each year; kg CO2e per kWh."""
    f = pd.read_csv(FACTORS_CSV, keep_default_na=False,
                    na_values={c: [""] for c in ("co2_kg", "ch4_kg", "n2o_kg", "co2e_kg", "valid_to")})
    gwp = pd.read_csv(GWP_CSV).set_index(["gwp_set", "gas"])["gwp"]
    f["kg"] = f["co2e_kg"].fillna(f["co2_kg"].fillna(0)
                                  + f["gwp_set"].map(lambda s: gwp.get((s, "CH4"), 0.0)) * f["ch4_kg"].fillna(0)
                                  + f["gwp_set"].map(lambda s: gwp.get((s, "N2O"), 0.0)) * f["n2o_kg"].fillna(0))
    elec = f[(f["edition_key"] == "NESO-HOURLY") & (f["activity_type"] == "electricity")]
    gas = f[f["edition_key"].str.startswith("DESNZ-") & (f["activity_type"] == "natural_gas") & (f["unit"] == "kWh")
            & (f["region"] == "GB") & f["source_label"].str.contains("Gross CV")]
    # a reading longer than an hour (a bill) gets the year's national electricity factor, not an hour's
    annual = f[f["edition_key"].str.startswith("DESNZ-") & (f["activity_type"] == "electricity")
               & (f["unit"] == "kWh") & (f["region"] == "GB")].assign(activity_type="electricity>1h")
    chosen = pd.concat([elec, gas, annual], ignore_index=True)
    out = pd.DataFrame({"activity_type": chosen["activity_type"].astype(str),
                        "valid_from": pd.to_datetime(chosen["valid_from"], format="ISO8601").astype("datetime64[us]"),
                        "factor_id": chosen["factor_id"].astype(str), "kg_per_kwh": chosen["kg"].astype(float)})
    return out.sort_values("valid_from", kind="stable").reset_index(drop=True)


def floor_worker(args: argparse.Namespace) -> None:
    """Every file through bare pandas (read_csv, time parse, one merge_asof with the factors, kg = kWh x factor,
    ``to_sql``) into one table; prints a JSON line with seconds and peak RSS (its own process)."""
    from sqlalchemy import create_engine

    engine = create_engine(args.database_url)
    factors = floor_factors()  # not timed: the server has its factor cache before the upload too
    t0 = time.perf_counter()
    rows, kg = 0, 0.0
    for i, path in enumerate(args.csv):
        df = pd.read_csv(path)
        start = df["timestamp"] if "timestamp" in df.columns else df["period_start"]
        df["period_start"] = pd.to_datetime(start, format="ISO8601", utc=True).dt.tz_localize(None)
        df["key"] = df["activity_type"]
        if "period_end" in df.columns:
            long = pd.to_datetime(df["period_end"], format="ISO8601", utc=True).dt.tz_localize(None) \
                - df["period_start"] > pd.Timedelta(hours=1)
            df.loc[long & (df["activity_type"] == "electricity"), "key"] = "electricity>1h"
        df = pd.merge_asof(df.sort_values("period_start", kind="stable"), factors.rename(columns={"activity_type": "key"}),
                           left_on="period_start", right_on="valid_from", by="key", direction="backward")
        df["kg_co2e"] = df["quantity"] * df["kg_per_kwh"]
        out = df[["site", "meter", "period_start", "activity_type", "quantity", "unit", "factor_id", "kg_co2e"]]
        out.to_sql("bench_estate_floor", engine, index=False, if_exists="replace" if i == 0 else "append",
                   chunksize=50_000)
        rows, kg = rows + len(out), kg + float(out["kg_co2e"].sum())
    seconds = time.perf_counter() - t0
    engine.dispose()
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "rows": rows, "kg_co2e": kg, "peak_rss": hwm}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the ingest floor of bench/estate.py (a child process)")
    parser.add_argument("--floor-worker", action="store_true", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--csv", nargs="+", type=Path, required=True)
    floor_worker(parser.parse_args())
