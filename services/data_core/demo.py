"""Demo data from real meters: the Cambridge Estates building archive (40 university buildings,
hourly electricity and gas, 2019-2020) plus a small documented sample of fleet fuel, business
travel, freight and purchased goods so that every scope appears.

Everything goes in through the public API (``POST /api/v1/ingest``), the real path, with an
``Idempotency-Key`` per file so that loading twice changes nothing and costs nothing.

* Electricity -> Scope 2, location-based with the hourly GB grid intensity (NESO-HOURLY).
* Gas -> Scope 1 with the DESNZ 2024 natural-gas factor, applied on purpose (the library holds no
  DESNZ edition for 2019-2020; the ledger rows record that choice as ``applied:national``).
* ``data/demo/gb_sample.csv`` (fleet, travel, hotel, commuting, freight; illustrative quantities,
  not from the archive) -> DESNZ 2024 applied on purpose.
* ``data/demo/us_sample.csv`` (a fictional US liaison office: electricity and spend-based
  purchased goods; illustrative) -> OWID national electricity (period-correct) and EPA supply-chain
  v1.3 applied on purpose (its factors are in 2022 USD).
* Market-based scope 2 is illustrated by a renewable-certificate share on two buildings and a
  supplier factor (a green tariff) on a third.
* A meter billed monthly (issue #17): building ``b35``'s gas is sent as calendar-month bills (UTC months, meter
  ``gas-bill``), each the sum of that month's hourly readings in the archive, the way a supplier bills a meter
  read monthly; its hourly gas readings are left out so nothing counts twice. Every month's and year's total is
  the archive's (the chatbot's gold numbers do not move); the ``monthly-bills`` flow judges these bills.
* Weather: the archive's hourly Bedford series (Met Office MIDAS Open: air temperature, relative humidity,
  global irradiance, 2019-2020) becomes the weather station ``bedford``, the station of every UK site.

Usage: ``python -m services.data_core.demo [--url http://127.0.0.1:8002]`` (API_TOKEN from the
environment or ``.env``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpx
import pandas as pd

from services.data_core.settings import REPO_ROOT

log = logging.getLogger(__name__)
DATA = REPO_ROOT / "data"
BUILDINGS = DATA / "buildings_cambridge"
ORG = {"id": "ucam", "name": "Cambridge University Estates (anonymised buildings)"}
DEMO_VERSION = "v1"
RENEWABLE_SHARES = {"b0": 0.5, "b33": 0.25}
GREEN_TARIFF = {"site_id": "b2", "activity_type": "electricity", "unit": "kWh", "method": "market", "co2e_kg": 0.0,
                "supplier": "Illustrative 100% renewable tariff (REGO-backed)", "source": "demo supplier disclosure",
                "notes": "illustrative market-based instrument for the demo"}
BILLED = ("b35", "gas")  # the demo's meter billed monthly: (building, carrier)
WEATHER_FILE = BUILDINGS / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv"
WEATHER_METADATA = BUILDINGS / "weather_bedford_metadata.json"


@dataclass
class DemoFile:
    name: str
    content: bytes
    editions: list[str]


def bedford_station() -> dict[str, object]:
    """The demo's weather station, from the archive's metadata of the Bedford series (data/NOTICE.md)."""
    meta = json.loads(WEATHER_METADATA.read_text())
    weather, solar = meta["weather_metdata"], meta["solar_metadata"]
    latitude, longitude = weather["location"]
    return {"id": str(weather["station name"]), "name": f"{str(weather['station name']).title()} (Met Office)",
            "latitude": latitude, "longitude": longitude, "timezone": "Europe/London",
            "source": f"Met Office MIDAS Open, station {weather['MetOff station id']} (temperature, humidity) and "
                      f"{solar['MetOff station id']} (global irradiance), hourly, via the Cambridge Estates building "
                      "energy archive v2.1 (DOI 10.5281/zenodo.10955332)",
            "attribution": "Contains Met Office data (MIDAS Open), Open Government Licence v3.0, "
                           "© Crown copyright, Met Office"}


def demo_sites(weather_station: str | None = None) -> list[dict[str, object]]:
    """The demo's sites; with ``weather_station``, the UK ones name it (it must exist in the data core)."""
    meta = pd.read_csv(BUILDINGS / "building_metadata.csv")
    meta = meta[meta["in_hourly_extract"].astype(str).str.lower() == "true"]
    sites: list[dict[str, object]] = [
        {"id": str(r["building_id"]), "org_id": ORG["id"], "name": f"Building {r['building_id']}", "country": "GB",
         "grid_region": "GB", "floor_area_m2": float(r["gross_internal_area_m2"]),
         "tags": ["university", "cambridge", f"floors:{int(r['n_floors'])}"],
         "renewable_share": RENEWABLE_SHARES.get(str(r["building_id"]), 0.0)}
        for r in meta.to_dict("records")
    ]
    sites.append({"id": "estates-fleet", "org_id": ORG["id"], "name": "Estates vehicle fleet", "country": "GB",
                  "grid_region": "GB", "floor_area_m2": None, "tags": ["fleet", "illustrative"],
                  "renewable_share": 0.0})
    sites.append({"id": "us-liaison", "org_id": ORG["id"], "name": "US liaison office (illustrative)",
                  "country": "US", "grid_region": "NEWE", "floor_area_m2": 850.0, "tags": ["office", "illustrative"],
                  "renewable_share": 0.0})
    for site in sites:  # the Bedford series describes the weather of every UK site of the demo
        if weather_station and site["country"] == "GB":
            site["weather_station"] = weather_station
    return sites


def meter_records(carrier: str, year: int) -> pd.DataFrame:
    """Long-format hourly records of one carrier and year (vectorised melt of the wide file)."""
    wide = pd.read_csv(BUILDINGS / f"{carrier}_hourly_kwh_{year}.csv")
    long = wide.melt(id_vars="datetime_utc", var_name="site", value_name="quantity").dropna(subset=["quantity"])
    long["timestamp"] = pd.to_datetime(long["datetime_utc"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    long["meter"] = "main-" + carrier
    long["activity_type"] = "electricity" if carrier == "electricity" else "natural_gas"
    long["unit"] = "kWh"
    return long[["site", "meter", "timestamp", "activity_type", "quantity", "unit"]]


def monthly_bills(site: str, carrier: str, years: Iterable[int] = (2019, 2020)) -> pd.DataFrame:
    """Calendar-month bills (UTC) of one building and carrier: each the sum of the month's hourly readings in
    the archive (long format with ``period_start``/``period_end``, meter ``<carrier>-bill``)."""
    hourly = pd.concat([meter_records(carrier, y) for y in years], ignore_index=True)
    hourly = hourly[hourly["site"] == site]
    month = pd.to_datetime(hourly["timestamp"], utc=True).dt.tz_localize(None).dt.to_period("M")
    bills = hourly.groupby(month, sort=True).agg(quantity=("quantity", "sum"), activity_type=("activity_type", "first"))
    start = pd.PeriodIndex(bills.index).to_timestamp()
    return pd.DataFrame({"site": site, "meter": f"{carrier}-bill", "period_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "period_end": (start + pd.offsets.MonthBegin(1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "activity_type": bills["activity_type"].to_numpy(),
                         "quantity": bills["quantity"].round(3).to_numpy(), "unit": "kWh"})


def demo_files(sites: set[str] | None = None) -> Iterator[DemoFile]:
    """The demo's files: the Cambridge meters (of ``sites`` only, if given; :data:`BILLED` as monthly bills) and
    the two activity samples."""
    # no edition applied on purpose: 2019 rows get DESNZ 2019 factors, 2020 rows DESNZ 2020 (period-correct)
    for carrier in ("electricity", "gas"):
        for year in (2019, 2020):
            buffer = io.StringIO()
            records = meter_records(carrier, year)
            records = records[~((records["site"] == BILLED[0]) & (carrier == BILLED[1]))]
            (records if sites is None else records[records["site"].isin(sites)]).to_csv(buffer, index=False)
            yield DemoFile(f"cambridge_{carrier}_{year}.csv", buffer.getvalue().encode(), [])
    if sites is None or BILLED[0] in sites:
        bills = monthly_bills(*BILLED).to_csv(index=False).encode()
        yield DemoFile(f"cambridge_{BILLED[1]}_bills_{BILLED[0]}.csv", bills, [])
    yield DemoFile("gb_sample.csv", (DATA / "demo" / "gb_sample.csv").read_bytes(), [])
    yield DemoFile("us_sample.csv", (DATA / "demo" / "us_sample.csv").read_bytes(), ["EPA-SC-1.3"])


def _check(response: httpx.Response, *ok: int) -> httpx.Response:
    if response.status_code not in ok:
        raise RuntimeError(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                           f"{response.text[:500]}")
    return response


def load_demo(base_url: str, token: str, *, timeout: float = 600.0,
              files: Iterable[DemoFile] | None = None) -> dict[str, dict[str, object]]:
    """Register the demo organisation and sites and ingest every demo file (or ``files``, e.g. the demo with
    some rows held back for a test to send later); returns the reports."""
    headers = {"Authorization": f"Bearer {token}"}
    reports: dict[str, dict[str, object]] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout, trust_env=False) as client:
        _check(client.post("/api/v1/organisations", json=ORG), 201)
        reports[WEATHER_FILE.name] = _load_weather(client)
        for site in demo_sites(weather_station=str(bedford_station()["id"])):
            if _check(client.post("/api/v1/sites", json=site), 201, 409).status_code == 409:
                _give_station(client, site)  # a site loaded before sites had weather stations
        existing = _check(client.get("/api/v1/factors", params={"activity_type": "electricity", "region": "site:b2"}),
                          200).json()
        if not existing:
            _check(client.post("/api/v1/factors", json=GREEN_TARIFF), 201)
        for demo in (demo_files() if files is None else files):
            response = client.post(
                "/api/v1/ingest", params=[("editions", e) for e in demo.editions],
                files={"file": (demo.name, demo.content, "text/csv")},
                headers={"Idempotency-Key": f"demo-{DEMO_VERSION}-{hashlib.sha256(demo.content).hexdigest()[:16]}"})
            report = _check(response, 200).json()
            report["replayed"] = response.headers.get("Idempotent-Replayed") == "true"
            reports[demo.name] = report
            log.info("demo file loaded", extra={"file": demo.name, "accepted": report["accepted"],
                                                "duplicates": report["duplicates"], "rejected": report["rejected"]})
    return reports


def _give_station(client: httpx.Client, site: dict[str, object]) -> None:
    station = site.get("weather_station")
    if station and _check(client.get(f"/api/v1/sites/{site['id']}"), 200).json().get("weather_station") is None:
        _check(client.patch(f"/api/v1/sites/{site['id']}", json={"weather_station": station}), 200)


def _load_weather(client: httpx.Client) -> dict[str, object]:
    """The Bedford station and its hours (an upsert: a second load reports every row as a duplicate)."""
    station = bedford_station()
    _check(client.post("/api/v1/weather/stations", json=station), 200, 201)
    response = client.post(f"/api/v1/weather/stations/{station['id']}/observations",
                           files={"file": (WEATHER_FILE.name, WEATHER_FILE.read_bytes(), "text/csv")})
    report: dict[str, object] = _check(response, 200).json()
    report["replayed"] = report["status"] == "nothing-new"
    log.info("demo weather loaded", extra={"station": station["id"], "accepted": report["accepted"],
                                           "duplicates": report["duplicates"], "rejected": report["rejected"]})
    return report


def main(argv: list[str] | None = None) -> int:
    from services.common.settings import apply_offline_env
    from services.data_core.settings import get_settings

    apply_offline_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8002")
    args = parser.parse_args(argv)
    token = get_settings().api_token.get_secret_value()
    reports = load_demo(args.url, token)
    for name, r in reports.items():
        print(f"{name:32} received {r['received']:>8} accepted {r['accepted']:>8} "
              f"duplicates {r['duplicates']:>8} rejected {r['rejected']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

