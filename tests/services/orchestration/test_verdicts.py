"""People's verdicts on hotspots through the engine (``routes/hotspots.py``, issue #18), against a real data
core: the write token marks a hotspot (a false alarm resolves its alert), the counts come back per fault and
expectation; ``/hotspots/verdicts`` is not taken for a hotspot id; the read token and a bad verdict are refused
with a problem document."""

from __future__ import annotations

import pytest

from tests.conftest import READ_AUTH
from tests.services.orchestration.conftest import dc_client, hotspot, make_site, problem

pytestmark = pytest.mark.integration


def test_a_verdict_is_stored_counted_and_refused_to_the_read_token(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    with dc_client(stack) as dc:
        make_site(dc, "b1")
    found = stack.http.post("/api/v1/results", json={"hotspots": [hotspot(evidence={
        "fault": "level_shift_down", "expectation": "reference", "effect_ratio": 0.3})]})
    assert found.status_code == 200, found.text
    [hid] = found.json()["created"]
    assert stack.http.get("/api/v1/hotspots/verdicts").json() == {"judged": 0, "false_alarms": 0,
                                                                  "false_alarm_share": None, "counts": []}
    problem(stack.http.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "false_alarm"}, headers=READ_AUTH), 403)
    problem(stack.http.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "maybe"}), 422)
    problem(stack.http.post("/api/v1/hotspots/nope/verdict", json={"verdict": "confirmed"}), 404)
    marked = stack.http.post(f"/api/v1/hotspots/{hid}/verdict", json={"verdict": "false_alarm", "by": "dashboard"})
    assert marked.status_code == 200 and marked.json()["verdict"] == "false_alarm", marked.text
    one = stack.http.get(f"/api/v1/hotspots/{hid}").json()
    assert one["verdict"]["verdict"] == "false_alarm" and one["alert"]["status"] == "resolved"
    counts = stack.http.get("/api/v1/hotspots/verdicts", headers=READ_AUTH).json()
    assert counts["judged"] == 1 and counts["false_alarm_share"] == 1.0
    assert counts["counts"] == [{"verdict": "false_alarm", "kind": "above_expected", "fault": "level_shift_down",
                                 "expectation": "reference", "count": 1}]
