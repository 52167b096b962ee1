"""The chatbot's HTTP API on the demo data: answers and follow-ups with citations, alerts explained,
recommendations with abatement computed from the ledger, streaming, health, and problem+json errors."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH
from tests.services.rag.conftest import ask

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def test_answer_cites_the_query_behind_each_number_and_follow_ups_keep_context(rag: Any) -> None:
    first = ask(rag, "What were our scope 2 emissions in March 2020?", "s-follow")
    assert first["intent"] == "totals" and not first["declined"]
    q1 = next(c for c in first["citations"] if c["ref"] == "Q1")
    assert q1["endpoint"] == "/api/v1/emissions/totals" and q1["params"]["scope"] == [2]
    assert q1["ledger_version"] >= 1 and q1["result"]["total_kg_co2e"] == first["facts"][0]["value_kg"]
    assert first["kind"] == "value" and first["restated"] == "Scope 2 emissions (location-based) of all sites, March 2020"
    assert first["answer"].startswith(first["restated"] + ": **") and "[Q1]" in first["answer"]
    follow = ask(rag, "and for b33?", "s-follow")
    params = next(c for c in follow["citations"] if c["ref"] == "Q1")["params"]
    assert params["site"] == ["b33"] and params["scope"] == [2] and params["start"].startswith("2020-03-01")
    other_session = ask(rag, "and for b33?", "s-other")  # a new session has no scope 2 / March to carry over
    assert not any(c["type"] == "query" and c["params"].get("scope") == [2] for c in other_session["citations"])


def test_why_is_a_site_on_alert_explains_the_hotspot_and_what_to_do(rag: Any) -> None:
    answer = ask(rag, "why is b33 on alert?")
    assert answer["intent"] == "alerts" and not answer["declined"]
    text = answer["answer"]
    assert "above expected" in text and "natural gas" in text and "4,200 kWh" in text
    kinds = {c["type"] for c in answer["citations"]}
    assert {"query", "kb"} <= kinds  # the alert from the data core, the actions from the knowledge base
    assert any(t["name"] == "recommend_actions" for t in answer["tools_called"])
    assert math.isclose(answer["facts"][0]["value_kg"], 768.6)


def test_what_to_do_about_it_after_an_alert_targets_that_hotspot(rag: Any) -> None:
    ask(rag, "why is b33 on alert?", "s-it")
    answer = ask(rag, "what should we do about it?", "s-it")
    assert answer["intent"] == "recommend"
    call = answer["tools_called"][0]
    assert call["name"] == "recommend_actions" and call["arguments"].get("hotspot_id")
    assert "above expected hotspot on natural gas at b33" in answer["answer"]


def test_location_versus_market_gives_both_figures_of_the_same_period(rag: Any) -> None:
    answer = ask(rag, "compare scope 2 location vs market in 2020")
    queries = [c for c in answer["citations"] if c["type"] == "query"]
    assert [q["params"]["method"] for q in queries] == ["location", "market"]
    assert all(q["params"]["start"].startswith("2020-01-01") and q["params"]["scope"] == [2] for q in queries)
    assert queries[1]["result"]["total_kg_co2e"] < queries[0]["result"]["total_kg_co2e"]  # certificates and tariff


def test_rankings_and_comparisons_keep_their_sites(rag: Any) -> None:
    top = ask(rag, "Which activity emitted the most at b2 in 2020?")
    q = next(c for c in top["citations"] if c["type"] == "query")
    assert q["params"]["site"] == ["b2"] and q["params"]["group_by"] == "activity_type" and top["kind"] == "rank"
    assert top["facts"][0]["key"] in {"electricity", "natural gas"}
    versus = ask(rag, "b2 vs b5 emissions in 2020")
    (q,) = [c for c in versus["citations"] if c["type"] == "query"]
    assert q["params"]["site"] == ["b2", "b5"] and q["params"]["group_by"] == "site" and versus["kind"] == "compare"
    by_site = {r["site"]: r["kg_co2e"] for r in q["result"]["rows"]}
    assert versus["facts"][0]["value_kg"] == pytest.approx(by_site["b5"] - by_site["b2"])
    years = ask(rag, "How did our 2020 emissions compare with 2019?")
    labels = [c["params"]["start"][:4] for c in years["citations"] if c["type"] == "query"]
    text = years["answer"]
    assert labels == ["2019", "2020"] and "2019: **" in text and "2020: **" in text


def test_impossible_dates_are_refused(rag: Any) -> None:
    answer = ask(rag, "What were b2's emissions on 2019-02-29?")
    assert answer["declined"] and "not a date" in answer["answer"] and not answer["facts"]


def test_unknown_site_gets_an_honest_i_dont_know(rag: Any) -> None:
    for q in ("why is b999 on alert?", "What were the emissions of building 4242 in 2020?"):
        answer = ask(rag, q)
        assert answer["declined"] and "I don't know" in answer["answer"] and not answer["facts"], answer
        assert "b33" in answer["answer"]  # says which sites exist


def test_knowledge_question_cites_documents_that_open(rag: Any) -> None:
    answer = ask(rag, "How can we cut the gas our boilers burn at night and at weekends?")
    assert answer["intent"] == "kb" and not answer["declined"]
    docs = [c for c in answer["citations"] if c["type"] == "kb"]
    assert docs and f"[{docs[0]['id']}]" in answer["answer"]
    opened = rag.get(docs[0]["url"])
    assert opened.status_code == 200 and opened.json()["markdown"] and opened.json()["sources"]


def test_recommendations_for_a_hotspot_compute_abatement_from_the_sites_ledger(rag: Any, demo_data_core: str) -> None:
    hotspots = httpx.get(f"{demo_data_core}/api/v1/hotspots", params={"site": "b33"}, headers=AUTH).json()["hotspots"]
    r = rag.post("/api/recommendations", json={"hotspot_id": hotspots[0]["id"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["target"]["site"] == "b33" and body["target"]["activity_type"] == "natural_gas"
    actions = body["actions"]
    assert 1 <= len(actions) <= 5 and [a["rank"] for a in actions] == list(range(1, len(actions) + 1))
    assert actions[0]["answers_hotspot_kind"]
    # independent check of the baseline: the site's gas emissions over its last 12 months in the ledger (2020)
    ledger = httpx.get(f"{demo_data_core}/api/v1/emissions/totals",
                       params={"site": "b33", "activity_type": "natural_gas", "start": "2020-01-01",
                               "end": "2021-01-01"}, headers=AUTH).json()["total_kg_co2e"]
    for a in actions:
        assert a["activity_types"] == ["natural_gas"]
        assert math.isclose(a["baseline_t_co2e_per_year"], round(ledger / 1000, 3), abs_tol=1e-3)
        low, high = a["reduction_pct"]["low"], a["reduction_pct"]["high"]
        assert math.isclose(a["abatement_t_co2e_per_year"]["low"], round(ledger / 1000 * low / 100, 3), abs_tol=1e-3)
        assert math.isclose(a["abatement_t_co2e_per_year"]["high"], round(ledger / 1000 * high / 100, 3), abs_tol=1e-3)
        assert a["effort"] in ("low", "medium", "high") and a["cost"] in ("low", "medium", "high")
        assert a["citations"][0]["type"] == "kb" and any(c["type"] == "source" and c["url"] for c in a["citations"])
    # the same by site and activity type, and by the full hotspot object (what the scan flow sends)
    by_site = rag.post("/api/recommendations", json={"site": "b33", "activity_type": "natural_gas"}).json()
    assert {a["id"] for a in by_site["actions"]} <= {d.id for d in rag.app.state.chat.kb.measures()}
    by_object = rag.post("/api/recommendations", json={"hotspot": hotspots[0]}).json()
    assert [a["id"] for a in by_object["actions"]] == [a["id"] for a in actions]


def test_market_instruments_are_valued_on_market_based_emissions(rag: Any) -> None:
    """b2 buys a 100 % renewable tariff (demo): a certificate measure has nothing left to abate there."""
    body = rag.post("/api/recommendations", json={"site": "b2", "activity_type": "electricity", "top_k": 20}).json()
    market = [a for a in body["actions"] if a["scope2_method"] == "market"]
    assert market and all(a["abatement_t_co2e_per_year"]["high"] == 0 for a in market)
    assert body["actions"][0]["abatement_t_co2e_per_year"]["mid"] > 0


def test_streamed_answer_equals_the_answer(rag: Any) -> None:
    with rag.stream("POST", "/api/chat/stream", json={"message": "Which site emitted the most in 2020?"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = []
        for block in r.read().decode().split("\n\n"):
            if block.strip():
                name = block.split("\n")[0].removeprefix("event: ")
                data = json.loads(block.split("\n")[1].removeprefix("data: "))
                events.append((name, data))
    assert events[0][0] == "start" and events[-1][0] == "done"
    deltas = "".join(d["text"] for n, d in events if n == "delta")
    assert len([1 for n, _ in events if n == "delta"]) > 3
    assert deltas == events[-1][1]["answer"] and events[-1][1]["citations"]


def test_bad_input_is_problem_json(rag: Any) -> None:
    cases = [
        ("/api/chat", {"message": ""}),
        ("/api/chat", {"message": "   "}),
        ("/api/chat", {"message": "x" * 5000}),
        ("/api/chat", {"message": "hi", "session_id": "bad id with spaces"}),
        ("/api/chat", {"msg": "hi"}),
        ("/api/recommendations", {}),
        ("/api/recommendations", {"site": "b2", "top_k": 0}),
        ("/api/recommendations", {"hotspot": {"kind": "spike"}}),
        ("/api/recommendations", {"site": "b2", "category": 99}),
        ("/api/recommendations", {"hotspot": {"site": "b2", "kind": ["spike"], "excess_kg": 5}}),
        ("/api/recommendations", {"hotspot": {"site": "b2", "kind": "spike", "excess_kg": "lots"}}),
    ]
    for path, body in cases:
        r = rag.post(path, json=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), (path, body, r.text)
    r = rag.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM)
    for path, body in [("/api/recommendations", {"hotspot_id": "no-such-hotspot"}),
                       ("/api/recommendations", {"site": "b999"})]:
        r = rag.post(path, json=body)
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM), r.text
    r = rag.get("/api/kb/no-such-doc")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


def test_health_reports_hybrid_retrieval_and_the_data_core(rag: Any) -> None:
    body = rag.get("/api/health").json()
    assert body["status"] == "ok"
    kb = body["checks"]["knowledge_base"]["detail"]
    assert kb["retrieval"] == "hybrid" and kb["documents"] >= 60 and kb["answers"] == "composer"
    assert body["checks"]["data_core"]["ok"]


def test_concurrent_questions_all_answer(rag: Any) -> None:
    """Knowledge and data questions at once from several threads (the tokenizer and the retrieval pipeline
    are shared): every one answers 200 with its own session."""
    from concurrent.futures import ThreadPoolExecutor

    questions = ["How do heat pumps cut gas use?", "What were our scope 1 emissions in 2019?",
                 "Tell me a joke.", "Which site emitted the most in 2020?", "What is market-based scope 2?",
                 "refrigerant leak checks", "b33 gas in Q1 2020", "What is the GWP of R-410A?"] * 3

    def one(i: int) -> int:
        return rag.post("/api/chat", json={"session_id": f"c{i}", "message": questions[i]}).status_code  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(len(questions)))) == {200}


def test_a_cited_query_opens_with_its_audit_trail(rag: Any) -> None:
    answer = ask(rag, "What were the gas emissions of b2 in March 2020?")
    q1 = next(c for c in answer["citations"] if c["ref"] == "Q1")
    opened = rag.post("/api/query", json={"endpoint": q1["endpoint"], "params": q1["params"], "audit_limit": 5})
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["result"]["total_kg_co2e"] == pytest.approx(answer["facts"][0]["value_kg"])
    trail = body["audit"]
    rows = trail["rows"]
    assert len(rows) == 5 and all(r["site_id"] == "b2" and r["activity_type"] == "natural_gas" for r in rows)
    assert all(r["factor_id"] and r["source"] and r["edition"] for r in rows)  # factor, source, edition
    # the trail's sum over all its rows equals the cited total
    assert trail["total_kg_co2e"] == pytest.approx(body["result"]["total_kg_co2e"])
    for bad in ({"endpoint": "/api/v1/ingest", "params": {}}, {"endpoint": "http://example.com/x", "params": {}},
                {"endpoint": "/api/v1/emissions/totals", "params": {"scope": [9]}}):
        r = rag.post("/api/query", json=bad)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
