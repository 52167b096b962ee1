"""The second held-out set of #19 (the TEST split until the third one, ``test_holdout3_set.py``; ``--split v2-test``
now, and tune) is well formed: 150 free-form questions in batches f7..f12 of 25, template questions
from new families that the generator reproduces, no question or family shared with the earlier (tune) sets, every
kind of answer and every measure, a good share of out-of-scope questions, the known vocabulary, and a finite,
non-zero gold from the raw files for every consumption question (the ledger's golds are checked by
``bench/chat_quality.py --gold-only``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from tests.eval.test_freeform_set import ANSWERS, MEASURES
from tests.eval.test_templates_set import check_vocabulary, consumption_golds

HERE = Path(__file__).parent
FREEFORM = yaml.safe_load((HERE / "freeform" / "holdout.yaml").read_text(encoding="utf-8"))
TEMPLATES = yaml.safe_load((HERE / "templates" / "questions_holdout.yaml").read_text(encoding="utf-8"))
EARLIER = (yaml.safe_load((HERE / "freeform" / "questions.yaml").read_text(encoding="utf-8"))
           + yaml.safe_load((HERE / "templates" / "questions.yaml").read_text(encoding="utf-8")))


def test_six_batches_of_25() -> None:
    assert Counter(q["b"] for q in FREEFORM) == {f"f{i}": 25 for i in range(7, 13)}


def test_the_committed_file_is_what_the_generator_writes() -> None:
    from tests.eval.templates.generate_holdout import generate

    assert generate() == TEMPLATES


def test_size_and_nothing_shared_with_the_earlier_sets() -> None:
    from tests.eval.templates.families import FAMILIES
    from tests.eval.templates.families_holdout import HOLDOUT

    assert len(TEMPLATES) >= 100 and {q["split"] for q in TEMPLATES} == {"test"}
    assert len({q["id"] for q in TEMPLATES}) == len(TEMPLATES)
    texts = [q["q"].lower() for q in FREEFORM + TEMPLATES]
    assert len(set(texts)) == len(texts)
    assert not set(texts) & {q["q"].lower() for q in EARLIER}
    assert not {f["name"] for f in HOLDOUT} & {f["name"] for f in FAMILIES}
    assert not {p for f in HOLDOUT for p in f.get("phrasings", [])} & {p for f in FAMILIES for p in f["phrasings"]
                                                                       if p != "{text}"}


def test_every_kind_and_measure_and_a_good_share_out_of_scope() -> None:
    for part in (FREEFORM, TEMPLATES):
        assert {q["want"].get("answer", "value") for q in part} == ANSWERS
        assert {q["want"]["measure"] for q in part if "measure" in q["want"]} == MEASURES
        assert sum(q["want"].get("answer") == "decline" for q in part) >= 0.14 * len(part)
    wants = [q["want"] for q in FREEFORM + TEMPLATES]
    assert {str(w["sites"]) for w in wants if str(w.get("sites", "")).startswith("tag:")} >= {
        "tag:university", "tag:cambridge"}
    assert sum(bool(w.get("relative")) for w in wants) >= 15
    assert {"month", "quarter", "site", "activity"} <= {w.get("by") for w in wants}
    assert {"top", "bottom"} <= {w.get("order") for w in wants}


def test_vocabulary_and_periods() -> None:
    for q in FREEFORM + TEMPLATES:
        check_vocabulary(q)
        want = q["want"]
        if want.get("relative"):
            assert str(want["period"]).startswith(("2019", "2020")), q  # the data's last reading is 2020-12-31
        if want.get("measure") == "demand":
            assert "b35" not in want["sites"] or want["activity"] != "natural_gas", q  # billed monthly: no hours


def test_every_consumption_gold_is_finite_and_not_zero() -> None:
    assert consumption_golds(FREEFORM + TEMPLATES) >= 100


def test_a_tagged_group_is_the_demo_sites_with_that_tag() -> None:
    from services.data_core.demo import demo_sites
    from tests.eval.freeform.gold_raw import sites_of

    five = {str(s["id"]) for s in demo_sites() if "floors:5" in s["tags"]}  # type: ignore[operator]
    assert set(sites_of("tag:floors:5", "electricity")) == five and len(five) >= 3
    assert "b35" in sites_of("tag:university", "natural_gas")  # its gas is billed monthly, still the university's
    assert "us-liaison" in sites_of("all", "electricity") and "us-liaison" not in sites_of("tag:cambridge", "electricity")
