"""The third held-out TEST set of #19 is well formed: 150 free-form questions in batches f13..f18 of 25, template
questions from new families that the generator reproduces, no question, family or phrasing shared with the earlier
(tune) sets, about 60 % answerable / 20 % out of scope / 20 % ambiguous or trick, every kind of answer and every
measure, the known vocabulary, trick questions that name what the data does not hold, a finite non-zero gold from
the raw files for every consumption question (the ledger's golds are checked by ``bench/chat_quality.py
--gold-only``), and the harness's ``--split test`` selecting this set alone."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.eval.test_freeform_set import ANSWERS, MEASURES
from tests.eval.test_templates_set import check_vocabulary, consumption_golds

HERE = Path(__file__).parent


def _load(*parts: str) -> list[dict]:
    return list(yaml.safe_load(HERE.joinpath(*parts).read_text(encoding="utf-8")))


FREEFORM = _load("freeform", "holdout3.yaml")
TEMPLATES = _load("templates", "questions_holdout3.yaml")
EARLIER = (_load("freeform", "questions.yaml") + _load("freeform", "holdout.yaml")
           + _load("templates", "questions.yaml") + _load("templates", "questions_holdout.yaml"))


def test_six_batches_of_25() -> None:
    assert Counter(q["b"] for q in FREEFORM) == {f"f{i}": 25 for i in range(13, 19)}


def test_the_committed_file_is_what_the_generator_writes() -> None:
    from tests.eval.templates.generate_holdout3 import generate

    assert generate() == TEMPLATES


def test_size_and_nothing_shared_with_the_earlier_sets() -> None:
    from tests.eval.templates.families import FAMILIES
    from tests.eval.templates.families_holdout import HOLDOUT
    from tests.eval.templates.families_holdout3 import HOLDOUT3

    assert len(TEMPLATES) >= 100 and {q["split"] for q in TEMPLATES} == {"test"}
    assert len({q["id"] for q in TEMPLATES}) == len(TEMPLATES)
    texts = [q["q"].lower() for q in FREEFORM + TEMPLATES]
    assert len(set(texts)) == len(texts)
    assert not set(texts) & {q["q"].lower() for q in EARLIER}
    earlier = FAMILIES + HOLDOUT
    assert not {f["name"] for f in HOLDOUT3} & {f["name"] for f in earlier}
    phrasings = {p for f in earlier for p in f.get("phrasings", []) if p != "{text}"}
    assert not {p for f in HOLDOUT3 for p in f.get("phrasings", [])} & phrasings
    fixed = {t if isinstance(t, str) else t[0] for f in HOLDOUT3 for t in f.get("texts", [])}
    assert not {t.lower() for t in fixed} & {q["q"].lower() for q in EARLIER}


@pytest.mark.parametrize("part", ["freeform", "templates"])
def test_the_mix_every_kind_and_measure(part: str) -> None:
    questions = FREEFORM if part == "freeform" else TEMPLATES
    kinds = Counter(q["want"].get("answer", "value") for q in questions)
    assert set(kinds) == ANSWERS
    assert {q["want"]["measure"] for q in questions if "measure" in q["want"]} == MEASURES
    n = len(questions)
    assert 0.17 * n <= kinds["decline"] <= 0.23 * n and 0.17 * n <= kinds["clarify"] <= 0.23 * n
    assert kinds["explain"] >= 6


def test_shapes_of_sites_periods_and_answers() -> None:
    wants = [q["want"] for q in FREEFORM + TEMPLATES]
    sites = {str(w.get("sites")) for w in wants}
    assert {"all", "tag:university"} <= sites and any(s.startswith("tag:floors:") for s in sites)
    assert {"['estates-fleet']", "['us-liaison']"} <= sites
    assert sum(bool(w.get("relative")) for w in wants) >= 15
    periods = [p for w in wants for p in (w["period"] if isinstance(w.get("period"), list) else [w.get("period")]) if p]
    assert any(re.fullmatch(r"\d{4}", p) for p in periods) and any("-Q" in p for p in periods)
    assert any(re.fullmatch(r"\d{4}-\d{2}", p) for p in periods) and any(".." in p for p in periods)
    assert {"month", "quarter", "site", "activity"} <= {w.get("by") for w in wants}
    assert {"top", "bottom"} <= {w.get("order") for w in wants}
    assert {"location", "market"} <= {m for w in wants for m in (w["method"] if isinstance(w.get("method"), list)
                                                                  else [w.get("method")])}


def test_vocabulary_and_periods() -> None:
    for q in FREEFORM + TEMPLATES:
        check_vocabulary(q)
        want = q["want"]
        if want.get("relative"):
            assert str(want["period"]).startswith(("2019", "2020")), q  # the data's last reading is 2020-12-31
        if want.get("measure") == "demand":
            assert len(want["sites"]) == 1 and (want["sites"][0] != "b35" or want["activity"] != "natural_gas"), q


def test_a_no_such_data_question_names_what_the_demo_does_not_hold() -> None:
    from services.data_core.demo import demo_sites

    demo = {str(s["id"]) for s in demo_sites()}
    for q in (q for q in TEMPLATES if q["family"] == "clarify-no-such-data"):
        sites = set(re.findall(r"\bb\d+\b", q["q"].lower()))
        years = {int(y) for y in re.findall(r"\b(20\d\d)\b", q["q"])}
        assert sites - demo or years - {2019, 2020} or re.search(r"\bcost|\bwater\b", q["q"]), q


def test_every_consumption_gold_is_finite_and_not_zero() -> None:
    assert consumption_golds(FREEFORM + TEMPLATES) >= 60


def test_the_harness_test_split_is_this_set_alone() -> None:
    from bench.chat_quality import load_questions

    test = load_questions("all", "test")
    assert sorted(q["q"] for q in test) == sorted(q["q"] for q in FREEFORM + TEMPLATES)
    v2_test = {q["q"] for q in load_questions("all", "v2-test")}
    tune = {q["q"] for q in load_questions("all", "tune")}
    assert v2_test == {q["q"] for q in _load("freeform", "holdout.yaml") + _load("templates", "questions_holdout.yaml")}
    assert v2_test <= tune and not tune & {q["q"] for q in test}
