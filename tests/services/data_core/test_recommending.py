"""Storing the chatbot's answers against the queued requests, without HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.common.contracts import HotspotIn, RecommendationIn, ScanScope
from services.common.errors import NotFound
from services.data_core import episodes, recommending
from tests.services.data_core.helpers import hotspot_body

NOW = datetime(2020, 2, 1)
CONTENT = {"actions": [{"title": "Check the HVAC schedule"}]}


def test_a_failed_attempt_counts_and_the_same_ready_answer_changes_nothing() -> None:
    pending = {"status": "pending", "attempts": 0, "content": None}
    failed = recommending.answer_values(pending, RecommendationIn(status="failed", error="rag down"), NOW)
    assert failed == {"status": "failed", "attempts": 1, "last_error": "rag down", "answered_at": NOW}
    retry = recommending.answer_values(pending, RecommendationIn(status="pending", error="busy"), NOW)
    assert retry == {"status": "pending", "attempts": 1, "last_error": "busy"}
    ready = {"status": "ready", "attempts": 2, "content": CONTENT}
    assert recommending.answer_values(ready, RecommendationIn(status="ready", content=CONTENT), NOW) is None
    other = recommending.answer_values(ready, RecommendationIn(status="ready", content={"actions": []}), NOW)
    assert other is not None and other["content"] == {"actions": []} and other["attempts"] == 3


@pytest.mark.integration
def test_store_an_answer_for_a_queued_request(db_engine) -> None:
    with db_engine.begin() as conn:
        results, _ = episodes.sync(conn, [HotspotIn.model_validate(hotspot_body())], ScanScope())
        hotspot_id = results[0]["id"]
        queue = recommending.listing(conn, status="pending", hotspot_ids=[], limit=10)
        assert [r["hotspot_id"] for r in queue] == [hotspot_id] and queue[0]["hotspot"]["id"] == hotspot_id
        out = recommending.store(conn, hotspot_id, RecommendationIn(status="ready", content=CONTENT))
        assert out["recommendation"]["status"] == "ready" and [e["type"] for e in out["events"]] == ["rec.ready"]
        assert out["events"][0]["payload"]["hotspot"]["site"] == "b1"
        with pytest.raises(NotFound):
            recommending.store(conn, "missing", RecommendationIn(status="failed"))
    with db_engine.connect() as conn:
        assert recommending.of_hotspot(conn, hotspot_id)["content"] == CONTENT
        assert recommending.of_hotspot(conn, "missing") is None
        assert recommending.listing(conn, status="pending", hotspot_ids=[], limit=10) == []
