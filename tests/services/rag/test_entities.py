"""Reading what a question is about: known and unknown sites, activity types (the most specific words win,
expanded against the ledger's own activity types) and Scope 3 categories."""

from __future__ import annotations

import pytest

from services.rag.entities import parse_activities, parse_sites
from tests.services.rag.conftest import ACTS, SITES

pytestmark = pytest.mark.unit


def sites(text: str) -> list[str]:
    return parse_sites(text, SITES)[0]


def unknown(text: str) -> list[str]:
    return parse_sites(text, SITES)[1]


def activities(text: str) -> list[str]:
    return parse_activities(text, ACTS)[0]


def test_sites_known_unknown_and_not_sites() -> None:
    assert sites("why is building 33 on alert?") == ["b33"]
    assert unknown("what about b999?") == ["b999"]
    assert unknown("emissions of site London in 2020") == ["london"]
    assert unknown("the Paris office emissions 2020") == ["paris"]
    assert unknown("emissions by site 2020") == []
    assert sites("emissions of the estates vehicle fleet in 2020") == ["estates-fleet"]


def test_sites_in_the_order_they_are_named_once_each() -> None:
    assert sites("b5 vs b2 and building 5") == ["b5", "b2"]
    assert sites("US liaison office and us-liaison") == ["us-liaison"]


def test_activities_most_specific_wins() -> None:
    assert activities("long-haul flight emissions in 2020") == ["air_travel_long_haul"]
    assert activities("what did the diesel vans emit?") == ["vehicle_diesel"]
    assert sorted(activities("flights in 2019")) == ["air_travel_long_haul", "air_travel_short_haul"]
    assert activities("heating emissions of b2") == ["natural_gas"]
    assert parse_activities("business travel in 2019", ACTS)[2] == 6


def test_the_words_that_named_an_activity_and_exact_activity_names() -> None:
    types, words, category = parse_activities("diesel vans and natural_gas in category 5", ACTS)
    assert types == ["vehicle_diesel", "natural_gas"] and words == ["diesel vans"] and category == 5
    assert parse_activities("category 99", ACTS)[2] is None
    # words for activities the ledger does not have find nothing (refrigerant_*); the others, what it has
    assert activities("refrigerant leaks") == [] and activities("hotels") == ["hotel_stay"]
