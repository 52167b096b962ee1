"""Episode matching and the sync's create/update/close decisions, without HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from services.common.contracts import HotspotIn, ScanScope
from services.data_core import episodes
from services.data_core.models import Recommendation
from tests.services.data_core.helpers import hotspot_body


def finding(**kw) -> HotspotIn:
    return HotspotIn.model_validate(hotspot_body(**kw))


def stored(**kw) -> dict:
    return episodes.new_episode(finding(**kw), datetime(2020, 1, 11))


def test_an_episode_touching_within_an_hour_continues_one_two_hours_later_is_new() -> None:
    row = stored(start="2020-01-10T00:00:00Z", end="2020-01-11T00:00:00Z")
    assert episodes.same_episode(row, finding(start="2020-01-11T00:59:00Z", end="2020-01-11T05:00:00Z"))
    assert episodes.same_episode(row, finding(start="2020-01-11T01:00:00Z", end="2020-01-11T05:00:00Z"))
    assert not episodes.same_episode(row, finding(start="2020-01-11T02:00:00Z", end="2020-01-11T05:00:00Z"))
    assert episodes.same_episode(row, finding(start="2020-01-09T00:00:00Z", end="2020-01-10T06:00:00Z"))  # overlap
    assert not episodes.same_episode(row, finding(start="2020-01-08T00:00:00Z", end="2020-01-09T22:00:00Z"))


@pytest.mark.parametrize("other", [{"site": "b2"}, {"meter": "sub"}, {"kind": "spike"}])
def test_another_site_meter_or_kind_is_another_episode(other) -> None:
    assert not episodes.same_episode(stored(), finding(**other))


def test_a_naive_time_is_utc() -> None:
    row = stored(start="2020-01-10T00:00:00Z", end="2020-01-11T00:00:00Z")
    assert episodes.same_episode(row, finding(start="2020-01-11T02:30:00+02:00", end="2020-01-11T05:00:00"))


def test_changes_grow_the_period_keep_the_worst_severity_and_close() -> None:
    row = stored(severity="high")
    assert episodes.changes(row, finding(severity="high")) == {}
    grown = episodes.changes(row, finding(end="2020-01-11T06:00:00Z", severity="low"))
    assert grown == {"period_end": datetime(2020, 1, 11, 6)}  # severity stays high, so not a change
    shorter = episodes.changes(row, finding(start="2020-01-10T03:00:00Z", end="2020-01-10T20:00:00Z"))
    assert shorter == {}  # a later scan seeing less of the episode does not shrink it
    ended = episodes.changes(row, finding(ongoing=False, severity="critical"))
    assert ended == {"status": "closed", "severity": "critical"}


def test_a_new_episode_is_open_while_ongoing_and_closed_when_found_ended() -> None:
    now = datetime(2020, 2, 1)
    assert episodes.new_episode(finding(), now)["closed_at"] is None
    closed = episodes.new_episode(finding(ongoing=False), now)
    assert closed["status"] == "closed" and closed["closed_at"] == now and closed["revision"] == 1


def test_counts_every_action() -> None:
    results = [{"action": "created"}, {"action": "created"}, {"action": "closed"}]
    assert episodes.counts(results) == {"created": 2, "updated": 0, "closed": 1, "unchanged": 0}


@pytest.mark.integration
def test_sync_creates_updates_and_closes_what_it_no_longer_finds(db_engine) -> None:
    scope = ScanScope(sites=["b1"], close_missing=True)
    with db_engine.begin() as conn:
        episodes.lock(conn, alerts=True)
        results, envelopes = episodes.sync(conn, [finding(site="b1"), finding(site="b1", meter="sub")], ScanScope())
        assert [r["action"] for r in results] == ["created", "created"]
        assert [e["type"] for e in envelopes] == ["hotspot.opened", "hotspot.opened"]
        queued = conn.execute(select(func.count()).select_from(Recommendation)).scalar_one()
        assert queued == 2  # each new episode queues a recommendation request
    with db_engine.begin() as conn:
        results, envelopes = episodes.sync(conn, [finding(site="b1", end="2020-01-11T03:00:00Z")], scope)
        assert [(r["action"], r["hotspot"]["meter"]) for r in results] == [("updated", "main"), ("closed", "sub")]
        assert [e["type"] for e in envelopes] == ["hotspot.updated", "hotspot.closed"]
        assert results[0]["hotspot"]["revision"] == 2
    with db_engine.connect() as conn:
        listed = episodes.listing(conn, status="open", sites=["b1"], kinds=[], since=None, limit=10)
        assert [h["meter"] for h in listed] == ["main"]
        assert episodes.get(conn, listed[0]["id"])["site_id"] == "b1"
        assert episodes.find(conn, "missing") is None
