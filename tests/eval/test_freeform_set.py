"""The free-form question set of #19 is well formed: 150 questions in six batches of 25, the fixed split,
a known vocabulary, and a finite gold for every consumption question (computed from the raw files)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import yaml

from tests.eval.freeform.gold_raw import gold, period_bounds

QUESTIONS = yaml.safe_load((Path(__file__).parent / "freeform" / "questions.yaml").read_text())
ANSWERS = {"value", "rank", "compare", "breakdown", "explain", "decline", "clarify"}
MEASURES = {"energy", "demand", "emissions", "intensity", "factor"}


def _numbers(value: object) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return [float(value)] if isinstance(value, (int, float)) else []


def test_six_batches_of_25_and_no_duplicate_question() -> None:
    assert Counter(q["b"] for q in QUESTIONS) == {f"f{i}": 25 for i in range(1, 7)}
    assert len({q["q"].lower() for q in QUESTIONS}) == 150


def check_vocabulary(q: dict) -> None:
    """A question's ``want`` is in the vocabulary, its periods inside the data (2019-2020)."""
    want = q["want"]
    assert want.get("answer", "value") in ANSWERS, q
    if want.get("answer", "value") in {"value", "rank", "compare", "breakdown"}:
        assert want["measure"] in MEASURES, q
        for p in want["period"] if isinstance(want["period"], list) else [want["period"]]:
            start, end = period_bounds(str(p))
            assert start < end and start.year >= 2019 and end.year <= 2021, q


def test_vocabulary_and_periods() -> None:
    for q in QUESTIONS:
        check_vocabulary(q)


def test_every_consumption_gold_is_finite() -> None:
    golds = [gold(q["want"]) for q in QUESTIONS]
    computed = [g for g in golds if g is not None]
    assert len(computed) >= 50
    for g in computed:
        numbers = _numbers(g)
        assert numbers and all(math.isfinite(x) for x in numbers), g


def test_gold_of_a_month_matches_a_direct_sum_of_the_raw_file() -> None:
    import pandas as pd

    from tests.eval.freeform.gold_raw import BUILDINGS

    raw = pd.read_csv(BUILDINGS / "electricity_hourly_kwh_2019.csv", parse_dates=["datetime_utc"])
    march = raw[raw["datetime_utc"].dt.month == 3]["b33"].sum()
    assert gold({"measure": "energy", "unit": "kWh", "activity": "electricity", "sites": ["b33"],
                 "period": "2019-03"}) == march
