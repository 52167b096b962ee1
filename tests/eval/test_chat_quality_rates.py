"""The rates of the answer-quality harness (bench/chat_quality.py): which questions each split holds, and how
verdicts become correct %, wrong %, out-of-scope declined % and in-scope declined %."""

from __future__ import annotations

from bench.chat_quality import judge_all, load_questions, rates


def test_splits_hold_the_batches_and_families_of_the_readmes() -> None:
    """test = the third held-out set (f13..f18, questions_holdout3.yaml); tune = every earlier question; v2-* = the
    questions by the second split (its test: f7..f12, questions_holdout.yaml); v1-* = f1..f6 and questions.yaml by
    their first split."""
    test = load_questions("all", "test")
    tune = load_questions("all", "tune")
    assert {q["batch"] for q in test if q["set"] == "freeform"} == {f"f{i}" for i in range(13, 19)}
    assert {f"f{i}" for i in range(1, 13)} == {q["batch"] for q in tune if q["set"] == "freeform"}
    assert not {q["family"] for q in test if q["set"] == "templates"} & {q["family"] for q in tune
                                                                        if q["set"] == "templates"}
    assert not {q["q"].lower() for q in test} & {q["q"].lower() for q in tune}
    assert len(test) >= 250 and len(test) + len(tune) == len(load_questions("all", "all")) >= 1000
    v2_test, v2_tune = load_questions("all", "v2-test"), load_questions("all", "v2-tune")
    assert {q["batch"] for q in v2_test if q["set"] == "freeform"} == {f"f{i}" for i in range(7, 13)}
    assert {q["split"] for q in v2_test} == {"v2-test"} and len(v2_test) + len(v2_tune) == len(tune)
    v1_test, v1_tune = load_questions("all", "v1-test"), load_questions("all", "v1-tune")
    assert {q["batch"] for q in v1_test if q["set"] == "freeform"} == {"f2", "f4", "f6"}
    assert {q["split"] for q in v1_test} == {"v1-test"} and len(v1_test) + len(v1_tune) == len(v2_tune)


def _item(answer: str, verdict: str) -> dict:
    return {"want": {"answer": answer}, "verdict": verdict}


def test_rates_separate_out_of_scope_and_in_scope_declines() -> None:
    items = ([_item("value", "correct")] * 6 + [_item("value", "wrong")] + [_item("rank", "declined")]
             + [_item("compare", "clarified")] + [_item("decline", "correct")] * 3 + [_item("decline", "wrong")])
    r = rates(items)
    assert r["n"] == 13 and r["correct"] == round(100 * 9 / 13, 1) and r["wrong"] == round(100 * 2 / 13, 1)
    assert r["oos_declined"] == 75.0 and r["n_oos"] == 4
    assert r["in_scope_declined"] == round(100 * 2 / 9, 1) and r["n_in_scope"] == 9


def test_a_saved_run_is_judged_again_with_its_stored_gold() -> None:
    q = {"q": "Top 2 sites by electricity use in 2019?", "status": 200,
         "want": {"answer": "rank", "measure": "energy", "activity": "electricity", "sites": "all", "period": "2019",
                  "n": 2, "order": "top"},
         "gold": [["b2", 7959395.0], ["b105", 7432846.0], ["b91", 7000000.0]],  # lists, as JSON stores them
         "answer": {"answer": "Top 2 by electricity use in 2019: b2 7,959,395 kWh; b105 7,432,846 kWh."}}
    missing = {**q, "answer": None, "status": 500}
    judge_all([q, missing])
    assert q["verdict"] == "correct", q["reason"]
    assert missing["verdict"] == "wrong"


def test_a_question_without_gold_is_left_out_and_named() -> None:
    from bench.chat_quality import report

    ok = {"id": "a", "split": "test", "set": "freeform", "family": "value/energy", "q": "x",
          "want": {"measure": "energy"}, "verdict": "correct"}
    lost = {**ok, "id": "b", "gold_error": "LookupError('no ledger row')", "answer": {"answer": "1 kWh"}}
    judge_all([lost])
    summary = report([ok, lost])
    assert lost["verdict"] == "no-gold" and summary["no_gold"] == ["b"]
    assert summary["test"]["table"]["all"]["n"] == 1


def test_the_third_round_dev_split_is_one_held_out_batch_and_two_held_out_families() -> None:
    """--split r3: every tune question (never TEST), the dev split (f9, rank-month-season, emissions-category) held back from tuning."""
    r3 = load_questions("all", "r3")
    dev = [q for q in r3 if q["split"] == "r3-dev"]
    assert len(r3) == len(load_questions("all", "tune")) and {q["split"] for q in r3} == {"r3-tune", "r3-dev"}
    assert {q.get("batch") for q in dev if q["set"] == "freeform"} == {"f9"}
    assert {q["family"] for q in dev if q["set"] == "templates"} == {"rank-month-season", "emissions-category"}
    assert 40 <= len(dev) <= 60
