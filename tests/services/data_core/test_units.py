"""Unit conversions (services.data_core.units): exact published definitions, round trips, errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.data_core.units import (
    IncompatibleUnits,
    UnknownUnit,
    conversion_factor,
    dimensionality,
    normalise_unit,
)

pytestmark = pytest.mark.unit

# groups of mutually convertible units, as users and factor tables write them
FAMILIES: dict[str, list[str]] = {
    "energy": ["kWh", "MWh", "GJ", "therm", "mmBtu", "Btu", "kWh (Gross CV)"],
    "volume": ["litre", "gallon", "m3", "scf", "litres", "ccf"],
    "mass": ["kg", "tonne", "short_ton", "lb", "metric_ton"],
    "distance": ["km", "mile"],
    "freight": ["tonne-km", "short_ton*mile", "tkm", "ton-mile"],
    "passenger": ["passenger-km", "passenger-mile", "pkm"],
    "money": ["USD", "$"],
}
PAIRS = [(a, b) for units in FAMILIES.values() for a in units for b in units]
ALL = [u for units in FAMILIES.values() for u in units]


@given(pair=st.sampled_from(PAIRS), magnitude=st.floats(min_value=1e-6, max_value=1e9))
def test_round_trip_a_to_b_to_a_is_identity(pair, magnitude):
    a, b = pair
    back = magnitude * conversion_factor(a, b) * conversion_factor(b, a)
    assert math.isclose(back, magnitude, rel_tol=1e-9)


@given(family=st.sampled_from(sorted(FAMILIES)), data=st.data())
def test_conversion_is_transitive(family, data):
    a, b, c = (data.draw(st.sampled_from(FAMILIES[family])) for _ in range(3))
    assert math.isclose(conversion_factor(a, b) * conversion_factor(b, c), conversion_factor(a, c), rel_tol=1e-9)


@given(a=st.sampled_from(ALL), b=st.sampled_from(ALL))
def test_units_of_different_families_never_convert(a, b):
    family = {u: name for name, units in FAMILIES.items() for u in units}
    if family[a] == family[b]:
        assert conversion_factor(a, b) > 0
    else:
        with pytest.raises(IncompatibleUnits):
            conversion_factor(a, b)


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        # 1 therm = 100,000 Btu; 1 mmBtu = 1,000,000 Btu (US EPA Hub, "Units of Measure")
        ("therm", "mmBtu", 0.1),
        ("mmBtu", "therm", 10.0),
        # US gallon = 231 cubic inches = 3.785411784 L exactly (NIST Handbook 44, Appendix C)
        ("gallon", "litre", 3.785411784),
        # international mile = 1,609.344 m exactly
        ("mile", "km", 1.609344),
        # avoirdupois pound = 0.45359237 kg exactly; short ton = 2,000 lb
        ("lb", "kg", 0.45359237),
        ("short_ton", "kg", 907.18474),
        ("tonne", "kg", 1000.0),
        # 1 kWh = 3.6 MJ; 1 MWh = 1000 kWh
        ("kWh", "GJ", 0.0036),
        ("MWh", "kWh", 1000.0),
        # a cubic foot = 0.3048^3 m3 (ccf = 100 cubic feet)
        ("scf", "m3", 0.3048**3),
        ("ccf", "scf", 100.0),
        # freight and passenger distance units scale by the mass and length definitions above
        ("short_ton*mile", "tonne-km", 0.90718474 * 1.609344),
        ("passenger-mile", "passenger-km", 1.609344),
        ("$", "USD", 1.0),
    ],
)
def test_known_exact_values(source, target, expected):
    assert math.isclose(conversion_factor(source, target), expected, rel_tol=1e-12)


def test_mmbtu_in_kwh_is_the_epa_conversion():
    # EPA Hub "Units of Measure": 1 kWh = 3,412 Btu, i.e. 1 mmBtu = 293.07 kWh (pint's Btu is the ISO
    # 1055.056 J, within 2e-7 of the IT Btu 1055.05585262 J; a thermochemical Btu would be 7e-4 off)
    assert math.isclose(conversion_factor("mmBtu", "kWh"), 1055.05585262e6 / 3.6e6, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("a", "b"),
    [("kWh", "kg"), ("kWh", "USD"), ("litre", "kg"), ("km", "passenger-km"), ("tonne-km", "km"),
     ("room_night", "passenger"), ("USD", "mmBtu")],
)
def test_incompatible_units_raise(a, b):
    with pytest.raises(IncompatibleUnits) as caught:
        conversion_factor(a, b)
    assert caught.value.status == 422
    assert a in caught.value.detail and b in caught.value.detail


@pytest.mark.parametrize("text", ["", "   ", "kWhh", "bananas", "EUR", "1/0", "kWh*0", "-1 kWh", "0 USD"])
def test_unknown_units_raise(text):
    with pytest.raises(UnknownUnit) as caught:
        normalise_unit(text)
    assert caught.value.status == 422
    with pytest.raises(UnknownUnit):
        conversion_factor(text, "kWh")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("kwh", "kWh"), ("KWH", "kWh"), ("therms", "therm"), ("MMBTU", "mmBtu"), ("Litres", "liter"),
     ("tonne km", "metric_ton * kilometer"), ("tonne.km", "metric_ton * kilometer"),
     ("passenger.km", "passenger * kilometer"), ("kWh (Gross CV)", "kWh"), ("US$", "USD"),
     ("cubic metres", "meter ** 3")],
)
def test_spellings_normalise_to_the_canonical_expression(spelling, canonical):
    assert normalise_unit(spelling) == canonical
    assert dimensionality(spelling) == dimensionality(canonical)


def test_canonical_expressions_are_fixed_points():
    for unit in ("mmBtu", "scf", "gallon", "liter", "meter ** 3", "kWh", "short_ton", "metric_ton", "kilogram",
                 "USD", "room_night", "short_ton * mile", "metric_ton * kilometer", "passenger * mile",
                 "passenger * kilometer", "vehicle * mile", "vehicle * kilometer"):
        assert normalise_unit(unit) == unit
