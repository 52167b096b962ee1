"""The channel logs: seq rises by one per channel, event ids are appended once, reads page by seq."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.data_core import streams

pytestmark = pytest.mark.integration


def test_utc_iso_writes_utc_with_a_z() -> None:
    assert streams.utc_iso(None) is None
    assert streams.utc_iso(datetime(2020, 1, 1, 12, 0, 0, 999)) == "2020-01-01T12:00:00Z"
    assert streams.utc_iso(datetime(2020, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))) == "2020-01-01T12:00:00Z"
    now = streams.utc_now()
    assert now.tzinfo is None and abs(now - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)


def test_append_numbers_events_and_skips_known_ids(db_engine) -> None:
    with db_engine.begin() as conn:
        first = streams.append(conn, "alerts", [("a:1", "alert.raised", {"n": 1}), ("a:2", "alert.raised", {"n": 2}),
                                                ("a:1", "alert.raised", {"n": 1})])
        assert [e["seq"] for e in first] == [1, 2] and [e["id"] for e in first] == ["a:1", "a:2"]
        again = streams.append(conn, "alerts", [("a:2", "alert.raised", {}), ("a:3", "alert.resolved", {"n": 3})])
        assert [(e["seq"], e["id"]) for e in again] == [(3, "a:3")]
        assert streams.append(conn, "alerts", []) == []
        assert streams.append(conn, "recs", [("r:1", "rec.ready", {})])[0]["seq"] == 1  # per channel
        with pytest.raises(ValueError, match="unknown channel"):
            streams.append(conn, "nope", [("x", "y", {})])
    with db_engine.connect() as conn:
        log = streams.read(conn, "alerts", after=1, limit=10)
        assert [e["seq"] for e in log["events"]] == [2, 3] and log["last_seq"] == 3
        newest = streams.read(conn, "alerts", after=None, limit=2)
        assert [e["seq"] for e in newest["events"]] == [2, 3]
        assert {e["epoch"] for e in newest["events"]} == {log["epoch"]}
        assert newest["events"][1]["payload"] == {"n": 3} and newest["events"][1]["ts"].endswith("Z")


def test_the_stream_route_reads_one_channel(client) -> None:
    assert client.get("/api/v1/streams/nope").status_code == 422
    epochs = {c: client.get(f"/api/v1/streams/{c}").json()["epoch"] for c in ("hotspots", "alerts", "recs")}
    assert len(set(epochs.values())) == 3
    empty = client.get("/api/v1/streams/alerts", params={"after": 0}).json()
    assert empty["events"] == [] and empty["channel"] == "alerts"
