"""Small helpers shared by the data-core tests: register sites, ingest records, read the ledger."""

from __future__ import annotations

from typing import Any

from tests.conftest import AUTH

PROBLEM = "application/problem+json"


def make_site(client: Any, site_id: str = "s1", *, country: str = "US", grid_region: str | None = None,
              renewable_share: float = 0.0, org: str = "acme") -> dict[str, Any]:
    r = client.post("/api/v1/organisations", json={"id": org, "name": org.title()}, headers=AUTH)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = {"id": site_id, "org_id": org, "name": f"Site {site_id}", "country": country,
                            "renewable_share": renewable_share}
    if grid_region is not None:
        body["grid_region"] = grid_region
    r = client.post("/api/v1/sites", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def record(site: str = "s1", activity_type: str = "electricity", quantity: float | str = 100.0,
           unit: str = "kWh", **time: Any) -> dict[str, Any]:
    """One JSON activity record; ``time`` is timestamp=..., period=... or period_start/period_end."""
    row: dict[str, Any] = {"site": site, "activity_type": activity_type, "quantity": quantity, "unit": unit}
    row.update(time or {"timestamp": "2024-06-01T10:00:00Z"})
    return row


def ingest(client: Any, records: list[dict[str, Any]], *, expect: int | None = 200, headers: dict[str, str] | None = None,
           **params: Any) -> dict[str, Any]:
    r = client.post("/api/v1/ingest", json={"records": records}, params=params, headers={**AUTH, **(headers or {})})
    if expect is not None:
        assert r.status_code == expect, r.text
    return r.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status`` and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("https://")
    return body


def audit(client: Any, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/emissions/audit", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def total(client: Any, **params: Any) -> float:
    r = client.get("/api/v1/emissions/totals", params={"group_by": "", **params})
    assert r.status_code == 200, r.text
    return float(r.json()["total_kg_co2e"])


def activity_count(client: Any) -> int:
    """Ledger rows of the current version (one per stored activity)."""
    return int(audit(client, limit=1)["row_count"])


def csv_text(rows: list[dict[str, Any]], *, sep: str = ",") -> str:
    """A CSV file of ``rows`` (all with the same keys), header first."""
    columns = list(rows[0])
    lines = [sep.join(columns)] + [sep.join(str(r[c]) for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def upload(client: Any, content: bytes | str, *, name: str = "data.csv", content_type: str = "text/csv",
           **params: Any) -> Any:
    return client.post("/api/v1/ingest", files={"file": (name, content, content_type)}, params=params, headers=AUTH)


MIXED_TIMES = ["2019-05-15T10:00:00Z", "2019-06-05T10:00:00Z", "2019-06-09T23:00:00Z", "2019-06-10T00:00:00Z",
               "2019-12-31T23:00:00Z", "2020-01-01T00:00:00Z"]


def load_mixed(client: Any) -> dict[str, Any]:
    """Two organisations, three sites in two countries, scopes 1-3: a small but varied ledger."""
    make_site(client, "us1", country="US", org="acme")
    make_site(client, "ca1", country="US", grid_region="CAMX", org="acme")
    make_site(client, "gb1", country="GB", org="beta", renewable_share=0.5)
    records = [record("gb1", "electricity", 100 + 10 * i, "kWh", timestamp=t) for i, t in enumerate(MIXED_TIMES)]
    records += [record("us1", "natural_gas", 100 * m, "therm", period=f"2023-0{m}") for m in (1, 2, 3)]
    records += [record("ca1", "electricity", 2, "MWh", period="2023-02"),
                record("us1", "purchased_goods", 1000, "USD", period="2023-Q1", naics_code="111110"),
                record("gb1", "rail_travel_national", 500, "passenger.km", period="2024-05"),
                record("gb1", "natural_gas", 1000, "kWh", period="2024-05")]
    report = ingest(client, records)
    assert report["accepted"] == len(records), report
    return report


def hotspot_body(site: str = "b1", start: str = "2020-01-10T00:00:00Z", end: str = "2020-01-11T00:00:00Z",
                 ongoing: bool = True, severity: str = "medium", kind: str = "above_expected",
                 excess: float = 120.0, meter: str = "main") -> dict[str, Any]:
    """One finding of a scan as ``POST /api/v1/hotspots/sync`` takes it."""
    return {"kind": kind, "site": site, "meter": meter, "activity_type": "electricity", "period_start": start,
            "period_end": end, "ongoing": ongoing, "severity": severity, "excess_kwh": excess,
            "excess_kg": excess * 0.2, "model_version": "3", "evidence": {"excess_ratio": 0.4, "hours": 24}}


def sync(client: Any, hotspots: list[dict[str, Any]], **scope: Any) -> dict[str, Any]:
    response = client.post("/api/v1/hotspots/sync", json={"hotspots": hotspots, "scope": scope}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def send(client: Any, method: str, path: str, body: Any) -> Any:
    """A write with the token; a str ``body`` is sent as raw JSON (NaN/Infinity literals stay as they are)."""
    if isinstance(body, str):
        return getattr(client, method)(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    return getattr(client, method)(path, json=body, headers=AUTH)
