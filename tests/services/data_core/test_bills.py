"""Bills against their degree-day expected values: listing (kWh, emissions, only readings of min_days or more),
storing expected values (idempotent, refused for readings that are not stored bills), the migration. Both
dialects (``client``)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import inspect

from services.data_core.db import alembic_config, make_engine
from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import ingest, make_site, problem, record

pytestmark = pytest.mark.integration


def _load(client) -> None:
    make_site(client, "s1", country="GB")
    # three monthly gas bills in kWh and MWh, one in m3 (not an energy: counted, not listed), a daily reading and
    # an hour: only the bills of an energy unit are listed
    report = ingest(client, [dict(record("s1", "natural_gas", 3000, "kWh", period=f"2019-{m:02d}"), meter="gas-bill")
                    for m in (1, 2)] +
           [dict(record("s1", "natural_gas", 1.055, "MWh", period="2019-03"), meter="gas-bill"),
            dict(record("s1", "natural_gas", 100, "m3", period="2019-04"), meter="gas-bill"),
            dict(record("s1", "electricity", 40, "kWh", timestamp="2019-01-05"), meter="daily"),
            dict(record("s1", "electricity", 2, "kWh", timestamp="2019-01-05T10:00:00Z"), meter="hh")])
    assert report["accepted"] == 6, report


def _expected(month: int, **extra) -> dict:
    return {"site": "s1", "meter": "gas-bill", "activity_type": "natural_gas",
            "period_start": f"2019-{month:02d}-01T00:00:00Z",
            "period_end": f"2019-{month + 1:02d}-01T00:00:00Z", **extra}


def _put(client, items, version="dd-1", **kw):
    return client.put("/api/v1/bills/expected", json={"model_version": version, "level": 0.99, "expectations": items,
                                                      **kw}, headers=AUTH)


def test_bills_are_listed_in_kwh_with_emissions_and_then_their_expected_values(client) -> None:
    _load(client)
    r = client.get("/api/v1/bills", params={"site": "s1"})
    body = r.json()
    assert body["count"] == 3 and r.headers["x-non-energy-rows"] == "1" and body["min_days"] == 20.0
    first, _, third = body["bills"]
    assert (first["meter"], first["period_start"], first["period_end"], first["days"]) == \
        ("gas-bill", "2019-01-01T00:00:00Z", "2019-02-01T00:00:00Z", 31.0)
    assert first["kwh"] == 3000.0 and first["kg_co2e"] > 0 and first["expected"] is None
    assert first["above_upper"] is False
    assert third["kwh"] == pytest.approx(1055.0)
    assert client.get("/api/v1/bills", params={"site": "s1", "min_days": 1}).json()["count"] == 4  # + the day
    model = {"kind": "3PH", "heating_base_c": 15.5, "baseline_bills": 12, "cvrmse": 0.08}
    r = _put(client, [_expected(1, reason="no baseline: 0 bills"),
                      _expected(2, expected=2500.0, lower=2000.0, upper=2900.0, weather=1.0, model=model)])
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 2, "with_expected": 1, "without": 1, "model_name": "degree-days",
                        "model_version": "dd-1"}
    rows = client.get("/api/v1/bills", params={"site": "s1", "activity_type": "natural_gas"}).json()["bills"]
    assert rows[0]["expected"] is None and rows[0]["reason"] == "no baseline: 0 bills" and rows[0]["model"] is None
    assert (rows[1]["expected"], rows[1]["upper"], rows[1]["level"], rows[1]["model"]) == (2500.0, 2900.0, 0.99, model)
    assert rows[1]["above_upper"] is True and rows[1]["model_version"] == "dd-1"  # 3,000 > 2,900
    # re-sending replaces (idempotent per bill)
    assert _put(client, [_expected(2, expected=3000.0, upper=3500.0)], version="dd-2").status_code == 200
    again = client.get("/api/v1/bills", params={"site": "s1", "start": "2019-02-15", "end": "2019-03-01"}).json()
    assert [(b["expected"], b["above_upper"], b["model_version"]) for b in again["bills"]] == [(3000.0, False, "dd-2")]
    csv = pd.read_csv(pd.io.common.StringIO(client.get("/api/v1/bills", params={"format": "csv"}).text))
    assert len(csv) == 3 and csv["kwh"].iloc[0] == 3000.0


def test_bad_bill_expectations_are_problems(client) -> None:
    _load(client)
    body = problem(_put(client, [_expected(5, expected=1.0)]), 422)  # no May bill is stored
    assert "not stored readings" in body["detail"] and "2019-05-01" in body["detail"]
    problem(_put(client, [_expected(1, expected=5.0, lower=6.0)]), 422)
    problem(_put(client, [_expected(1)]), 422)  # neither an expected value nor a reason
    body = json.dumps({"model_version": "1", "level": 0.9, "expectations": [_expected(1, expected=1.0)]})
    problem(client.put("/api/v1/bills/expected", content=body.replace('"expected": 1.0', '"expected": 1e999'),
                       headers={**AUTH, "Content-Type": "application/json"}), 422)  # infinity
    problem(_put(client, []), 422)
    problem(_put(client, [_expected(1, expected=1.0)], level=1.5), 422)
    problem(client.put("/api/v1/bills/expected", json={"model_version": "1", "level": 0.9,
                                                       "expectations": [_expected(1, expected=1.0)]},
                       headers=NO_AUTH), 401)
    problem(client.get("/api/v1/bills", params={"start": "2020-01-02", "end": "2020-01-01"}), 422)
    problem(client.get("/api/v1/bills", params={"min_days": 0}), 422)


def test_the_migration_goes_down_and_up_again(client, database_url: str) -> None:
    _load(client)
    assert _put(client, [_expected(2, expected=2500.0, upper=2900.0)]).status_code == 200
    client.app.state.engine.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, "0005")
    engine = make_engine(database_url)
    try:
        assert "bill_expectations" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    command.upgrade(config, "head")
    assert client.get("/api/v1/bills", params={"site": "s1"}).json()["bills"][1]["expected"] is None
