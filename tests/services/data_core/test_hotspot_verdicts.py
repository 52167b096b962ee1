"""Issue #18 in the data core (migration 0008): people's verdicts on hotspots (a false alarm resolves its alert
and is counted; the new normal asks for a re-baseline of the series) and the stored reference baselines."""

from __future__ import annotations

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import hotspot_body

pytestmark = pytest.mark.integration

BASELINE = {"site": "b1", "meter": "main", "activity_type": "electricity", "period_start": "2019-01-01T00:00:00Z",
            "period_end": "2019-07-01T00:00:00Z", "reason": "initial", "model": {"coef": [1.0, 2.0]}}


def _one(client, evidence: dict | None = None) -> str:
    h = hotspot_body(site="b1", severity="high")
    body = {"hotspots": [{**h, "evidence": evidence or h["evidence"]}],
            "alert_rules": {"min_severity": "medium"}}
    out = client.post("/api/v1/hotspots/sync", json=body, headers=AUTH).json()
    return out["results"][0]["id"]


def test_a_false_alarm_mark_is_stored_resolves_the_alert_and_is_counted(client) -> None:
    hid = _one(client, evidence={"fault": "level_shift_down", "expectation": "reference"})
    assert client.get("/api/v1/hotspots/verdicts").json()["judged"] == 0
    r = client.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "false_alarm", "by": "ops", "note": "tariff"},
                    headers=AUTH)
    assert r.status_code == 200 and r.json()["verdict"] == "false_alarm"
    got = client.get(f"/api/v1/hotspots/{hid}").json()
    assert got["verdict"]["verdict"] == "false_alarm" and got["alert"]["status"] == "resolved"
    counts = client.get("/api/v1/hotspots/verdicts").json()
    assert counts["judged"] == 1 and counts["false_alarms"] == 1 and counts["false_alarm_share"] == 1.0
    assert counts["counts"] == [{"verdict": "false_alarm", "kind": "above_expected", "fault": "level_shift_down",
                                 "expectation": "reference", "count": 1}]
    # a second verdict replaces the first
    client.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "confirmed"}, headers=AUTH)
    assert client.get("/api/v1/hotspots/verdicts").json()["false_alarms"] == 0


def test_the_new_normal_asks_for_a_rebaseline_and_a_put_replaces_the_baseline(client) -> None:
    assert client.put("/api/v1/reference-baselines", json={"baselines": [BASELINE]}, headers=AUTH).json() == {"stored": 1}
    hid = _one(client)
    client.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "new_normal"}, headers=AUTH)
    stored = client.get("/api/v1/reference-baselines", params={"site": "b1"}).json()["baselines"]
    assert len(stored) == 1 and stored[0]["rebaseline_from"] == "2020-01-10T00:00:00Z"
    again = {**BASELINE, "period_start": "2020-01-10T00:00:00Z", "period_end": "2020-04-09T00:00:00Z",
             "reason": "new_normal", "model": {"coef": [3.0]}}
    client.put("/api/v1/reference-baselines", json={"baselines": [again]}, headers=AUTH)
    stored = client.get("/api/v1/reference-baselines").json()["baselines"]
    assert [(b["reason"], b["model"], b["rebaseline_from"]) for b in stored] == [("new_normal", {"coef": [3.0]}, None)]
    assert client.get("/api/v1/reference-baselines", params={"site": "nope"}).json()["count"] == 0


def test_bad_verdicts_are_problems_not_500s(client) -> None:
    hid = _one(client)
    bad = client.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "maybe"}, headers=AUTH)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    missing = client.post("/api/v1/hotspots/nope/verdict", json={"verdict": "false_alarm"}, headers=AUTH)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "false_alarm"},
                       headers=NO_AUTH).status_code == 401
    assert client.put("/api/v1/reference-baselines", json={"baselines": [{**BASELINE, "site": ""}]},
                      headers=AUTH).status_code == 422
