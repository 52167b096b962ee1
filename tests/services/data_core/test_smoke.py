import pytest

from tests.conftest import AUTH

pytestmark = pytest.mark.integration


def test_health_and_site_and_ingest(client):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"]["ok"]
    assert client.post("/api/v1/organisations", json={"id": "acme", "name": "Acme"}, headers=AUTH).status_code == 201
    r = client.post("/api/v1/sites", json={"id": "s1", "org_id": "acme", "name": "Site 1", "country": "GB"}, headers=AUTH)
    assert r.status_code == 201, r.text
    csv = "site,timestamp,activity_type,quantity,unit\ns1,2019-06-01T10:00:00Z,electricity,100,kWh\n"
    r = client.post("/api/v1/ingest", files={"file": ("a.csv", csv, "text/csv")}, headers=AUTH)
    assert r.status_code == 200, r.text
    print(r.json())
