"""Stored rows as the API answers them."""

from __future__ import annotations

from datetime import datetime

from services.data_core.serialisers import PREFIX, alert_dict, hotspot_dict, joined_hotspot, rec_dict

T = datetime(2020, 1, 10, 6, 30)
HOTSPOT = {"id": "h1", "kind": "spike", "site_id": "b1", "meter": "main", "activity_type": "electricity",
           "period_start": T, "period_end": T, "status": "open", "severity": "high", "excess_kwh": 5.0,
           "excess_kg": 1.0, "model_version": "3", "evidence": {"z": 4}, "revision": 2, "first_seen_at": T,
           "updated_at": T, "closed_at": None}


def test_a_hotspot_names_its_site_and_writes_utc_times() -> None:
    out = hotspot_dict(HOTSPOT)
    assert out["site"] == "b1" and "site_id" not in out
    assert out["period_start"] == "2020-01-10T06:30:00Z" and out["closed_at"] is None


def test_alerts_and_recommendations_carry_their_hotspot_only_when_given() -> None:
    alert = {"id": "a1", "hotspot_id": "h1", "rule": "default", "severity": "high", "title": "t", "status": "open",
             "created_at": T, "updated_at": T, "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None,
             "resolved_by": None, "note": None}
    assert "hotspot" not in alert_dict(alert)
    assert alert_dict(alert, HOTSPOT)["hotspot"]["id"] == "h1"
    rec = {"hotspot_id": "h1", "status": "pending", "attempts": 0, "last_error": None, "requested_at": T,
           "answered_at": None, "content": None}
    assert rec_dict(rec)["requested_at"] == "2020-01-10T06:30:00Z" and "hotspot" not in rec_dict(rec)
    assert rec_dict(rec, HOTSPOT)["hotspot"]["site"] == "b1"


def test_a_joined_hotspot_is_read_back_from_its_labels() -> None:
    joined = {PREFIX + k: v for k, v in HOTSPOT.items()} | {"id": "a1"}
    assert joined_hotspot(joined) == HOTSPOT
