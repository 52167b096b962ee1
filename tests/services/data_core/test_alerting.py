"""Raising alerts by the rules, escalation and the acknowledge/resolve transitions, without HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.common.alert_rules import AlertRules
from services.common.contracts import AlertAction, AlertIn, HotspotIn, ScanScope
from services.common.errors import Conflict, NotFound, Unprocessable
from services.data_core import alerting, episodes
from tests.services.data_core.helpers import hotspot_body

NOW = datetime(2020, 2, 1)


def hotspot(site: str = "b1", severity: str = "high", **kw) -> dict:
    return {"id": f"h-{site}", "site": site, "severity": severity, "kind": "above_expected", "meter": "main",
            "activity_type": "electricity", "excess_kwh": 100.0, "excess_kg": 20.0, **kw}


def test_a_muted_site_raises_none_and_the_rest_follow_the_rules() -> None:
    rules = AlertRules.model_validate({"min_severity": "medium", "sites": {"b2": {"mute": True},
                                                                           "b3": {"min_severity": "critical"}}})
    wanted = alerting.alerts_for(rules, [hotspot("b1"), hotspot("b2"), hotspot("b3"), hotspot("b4", "low")])
    assert [(a.hotspot_id, a.rule, a.severity) for a in wanted] == [("h-b1", "default", "high")]
    assert "b1" in wanted[0].title


def test_a_sync_raises_nothing_without_rules_nor_for_closed_results() -> None:
    assert alerting.raise_for_sync(None, None, [{"action": "created", "hotspot": hotspot()}]) == alerting.none_raised()  # type: ignore[arg-type]
    rules = AlertRules(min_severity="low")
    closed = [{"action": "closed", "hotspot": hotspot()}]
    assert alerting.raise_for_sync(None, rules, closed) == alerting.none_raised()  # type: ignore[arg-type]


def test_a_higher_severity_escalates_unless_resolved() -> None:
    item = AlertIn(hotspot_id="h", rule="default", severity="critical", title="t")
    assert alerting.escalates({"severity": "high", "status": "open"}, item)
    assert alerting.escalates({"severity": "high", "status": "acknowledged"}, item)
    assert not alerting.escalates({"severity": "high", "status": "resolved"}, item)
    assert not alerting.escalates({"severity": "critical", "status": "open"}, item)


def test_transitions() -> None:
    row = {"id": "a1", "status": "open"}
    ack = alerting.transition_values(row, "acknowledged", AlertAction(by="ops", note="looking"), NOW)
    assert ack == {"status": "acknowledged", "updated_at": NOW, "acknowledged_at": NOW, "acknowledged_by": "ops",
                   "note": "looking"}
    assert alerting.transition_values({"id": "a1", "status": "acknowledged"}, "acknowledged", AlertAction(), NOW) is None
    done = alerting.transition_values({"id": "a1", "status": "acknowledged"}, "resolved", AlertAction(), NOW)
    assert done == {"status": "resolved", "updated_at": NOW, "resolved_at": NOW, "resolved_by": "dashboard"}
    with pytest.raises(Conflict):
        alerting.transition_values({"id": "a1", "status": "resolved"}, "acknowledged", AlertAction(), NOW)


@pytest.mark.integration
def test_raise_escalate_and_resolve_in_the_database(db_engine) -> None:
    with db_engine.begin() as conn:
        results, _ = episodes.sync(conn, [HotspotIn.model_validate(hotspot_body(severity="medium"))], ScanScope())
        hotspot_id = results[0]["id"]
        raised = alerting.raise_for_sync(conn, AlertRules(), results)
        assert [r["action"] for r in raised["results"]] == ["created"]
        assert [e["type"] for e in raised["events"]] == ["alert.raised"]
        alert_id = raised["results"][0]["id"]
        lower = AlertIn(hotspot_id=hotspot_id, rule="default", severity="low", title="lower")
        assert [r["action"] for r in alerting.raise_alerts(conn, [lower])["results"]] == ["unchanged"]
        higher = AlertIn(hotspot_id=hotspot_id, rule="default", severity="critical", title="worse")
        escalated = alerting.raise_alerts(conn, [higher])
        assert escalated["results"][0]["action"] == "escalated" and escalated["results"][0]["alert"]["title"] == "worse"
        with pytest.raises(Unprocessable):
            alerting.raise_alerts(conn, [AlertIn(hotspot_id="missing", rule="r", severity="low", title="t")])
    with db_engine.begin() as conn:
        done = alerting.transition(conn, alert_id, "resolved", AlertAction(by="ops"))
        assert done["alert"]["status"] == "resolved" and [e["type"] for e in done["events"]] == ["alert.resolved"]
        assert alerting.transition(conn, alert_id, "resolved", AlertAction())["events"] == []
        with pytest.raises(NotFound):
            alerting.transition(conn, "missing", "resolved", AlertAction())
    with db_engine.connect() as conn:
        assert alerting.of_hotspot(conn, hotspot_id)["severity"] == "critical"
        assert alerting.of_hotspot(conn, "missing") is None
        assert [a["id"] for a in alerting.listing(conn, statuses=["resolved"], sites=["b1"], limit=5)] == [alert_id]
        assert alerting.listing(conn, statuses=["open"], sites=[], limit=5) == []
