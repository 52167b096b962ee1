"""Units of activity data and emission factors, with pint.

One registry for the whole process. Activity files use many spellings ("kWh", "MWh", "therms",
"mmbtu", "litres", "tonne-km", "pkm", "$"); :func:`normalise_unit` maps them to a canonical pint
expression and :func:`conversion_factor` gives the multiplier from one unit to another, or raises
:class:`IncompatibleUnits` / :class:`UnknownUnit`. Work is done per *distinct* unit string, never
per row: callers pass the unique values of a column and map the result back.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import pint

from services.common.errors import DomainError

_REGISTRY_DEFINITIONS = """
# Energy units used by US EPA: one million British thermal units; a US therm is 100,000 Btu.
mmBtu = 1e6 * Btu = MMBtu = mmbtu
therm = 1e5 * Btu = thm = therms
# A standard cubic foot of gas is a volume at standard conditions; treated as a cubic foot.
scf = foot ** 3
# Money and counts are their own dimensions, so kWh never converts to USD.
USD = [currency_usd] = usd = dollar_us
passenger = [passenger]
vehicle = [vehicle]
room_night = [room_night] = room_nights
"""

_ALIASES: dict[str, str] = {
    "kwh": "kWh",
    "mwh": "MWh",
    "gwh": "GWh",
    "wh": "Wh",
    "gj": "GJ",
    "mj": "MJ",
    "therm": "therm",
    "therms": "therm",
    "mmbtu": "mmBtu",
    "mbtu": "mmBtu",  # common US spelling of a million Btu in billing systems
    "btu": "Btu",
    "scf": "scf",
    "ccf": "100 * scf",
    "mcf": "1000 * scf",
    "m3": "meter ** 3",
    "cubic_metre": "meter ** 3",
    "cubic_metres": "meter ** 3",
    "cubic_meter": "meter ** 3",
    "cubic_meters": "meter ** 3",
    "gallon": "gallon",
    "gallons": "gallon",
    "gal": "gallon",
    "us_gallon": "gallon",
    "imperial_gallon": "imperial_gallon",
    "uk_gallon": "imperial_gallon",
    "l": "liter",
    "litre": "liter",
    "litres": "liter",
    "liter": "liter",
    "liters": "liter",
    "kg": "kilogram",
    "kgs": "kilogram",
    "kilogram": "kilogram",
    "kilograms": "kilogram",
    "t": "metric_ton",
    "tonne": "metric_ton",
    "tonnes": "metric_ton",
    "metric_ton": "metric_ton",
    "metric_tons": "metric_ton",
    "short_ton": "short_ton",
    "short_tons": "short_ton",
    "ton": "short_ton",  # US usage; EPA tables are per short ton
    "tons": "short_ton",
    "lb": "pound",
    "lbs": "pound",
    "km": "kilometer",
    "kilometre": "kilometer",
    "kilometres": "kilometer",
    "kilometer": "kilometer",
    "kilometers": "kilometer",
    "mile": "mile",
    "miles": "mile",
    "mi": "mile",
    "vehicle_mile": "vehicle * mile",
    "vehicle_miles": "vehicle * mile",
    "vehicle_km": "vehicle * kilometer",
    "tonne_km": "metric_ton * kilometer",
    "tonnes_km": "metric_ton * kilometer",
    "tkm": "metric_ton * kilometer",
    "t_km": "metric_ton * kilometer",
    "short_ton_mile": "short_ton * mile",
    "ton_mile": "short_ton * mile",
    "passenger_km": "passenger * kilometer",
    "pkm": "passenger * kilometer",
    "p_km": "passenger * kilometer",
    "passenger_mile": "passenger * mile",
    "passenger_miles": "passenger * mile",
    "pmi": "passenger * mile",
    "usd": "USD",
    "$": "USD",
    "us$": "USD",
    "room_night": "room_night",
    "room_nights": "room_night",
}

_SEPARATORS = re.compile(r"[\s\-./·]+")


class UnknownUnit(DomainError):
    status = 422
    title = "Unknown unit"
    type_suffix = "unknown-unit"


class IncompatibleUnits(DomainError):
    status = 422
    title = "Incompatible units"
    type_suffix = "incompatible-units"


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    ureg: pint.UnitRegistry = pint.UnitRegistry(on_redefinition="ignore", cache_folder=None)
    for line in _REGISTRY_DEFINITIONS.strip().splitlines():
        if line and not line.startswith("#"):
            ureg.define(line)
    return ureg


@lru_cache(maxsize=4096)
def normalise_unit(text: str) -> str:
    """Canonical pint expression for a unit as users write it; raises UnknownUnit."""
    raw = str(text).strip()
    if not raw:
        raise UnknownUnit("empty unit")
    key = _SEPARATORS.sub("_", raw.lower()).strip("_")
    # "kWh (Gross CV)" style suffixes carry meaning for the factor, not the unit itself
    key = re.sub(r"_?\((gross|net)_?cv\)$", "", key)
    expr = _ALIASES.get(key, raw)
    try:
        quantity = registry().parse_expression(expr)
    except Exception as exc:  # pint raises several unrelated exception types for bad input
        raise UnknownUnit(f"unknown unit '{raw}'") from exc
    # a unit is a positive, finite amount: "kWh*0" or "-1 kWh" would zero or flip every emission
    if not isinstance(quantity, pint.Quantity) or not 0 < quantity.magnitude < math.inf:
        raise UnknownUnit(f"unknown unit '{raw}'")
    return expr


def dimensionality(text: str) -> str:
    """A stable string for the physical dimension of a unit (e.g. '[length] ** 2 * [mass] / [time] ** 2')."""
    quantity = registry().parse_expression(normalise_unit(text))
    return str(quantity.dimensionality)


@lru_cache(maxsize=4096)
def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiplier m such that q [from_unit] == q * m [to_unit]."""
    ureg = registry()
    source = ureg.parse_expression(normalise_unit(from_unit))
    target = ureg.parse_expression(normalise_unit(to_unit))
    if source.dimensionality != target.dimensionality:
        raise IncompatibleUnits(
            f"'{from_unit}' ({source.dimensionality}) cannot be converted to '{to_unit}' ({target.dimensionality})"
        )
    return float((source / target).to_base_units().magnitude)
