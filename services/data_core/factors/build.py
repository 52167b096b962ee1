"""Build the factor library (``data/factors/*.csv``) from the public sources in ``data/sources``.

Run ``python -m services.data_core.factors.build`` from the repository root to rewrite
``data/factors/factors.csv``, ``gwp.csv`` and ``activity_types.csv``. The build reads only files
under ``data/`` (found from this module's location), uses no clock, no network and no randomness,
so the same inputs always give byte-identical outputs; a unit test checks that the committed
``factors.csv`` equals a fresh build.

Every source is normalised to :data:`services.data_core.factors.schema.FACTOR_COLUMNS`:
per-gas values are kilograms of the gas per unit, ``co2e_kg`` is the CO2e *as published* (empty when
the source publishes gases only), ``unit`` is a canonical pint expression of
:mod:`services.data_core.units`. Mapping choices are data (the ``*_MAP`` tables below) and are
documented in ``data/factors/README.md``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pycountry

from services.data_core.factors.schema import FACTOR_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = REPO_ROOT / "data"
SOURCES_DIR = DATA_DIR / "sources"
OUTPUT_DIR = DATA_DIR / "factors"

HUB_2025_DIR = SOURCES_DIR / "epa_ghg_hub_2025"
HUB_2021_XLSX = SOURCES_DIR / "epa_ghg_hub_2021" / "ghg-emission-factors-hub-2021.xlsx"
DESNZ_CSV = SOURCES_DIR / "uk_desnz_2024" / "ghg-conversion-factors-2024-flat-v1.1.csv"
SUPPLY_CHAIN_CSV = (
    SOURCES_DIR / "epa_supply_chain_v1_3" / "SupplyChainGHGEmissionFactors_v1.3.0_NAICS_CO2e_USD2022.csv"
)
OWID_CSV = SOURCES_DIR / "grid_carbon_intensity" / "owid_carbon-intensity-electricity_gco2_per_kwh.csv"
HOURLY_CSV = DATA_DIR / "buildings_cambridge" / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv"

LB_TO_KG = 0.45359237  # exact, by definition of the avoirdupois pound
G_TO_KG = 1e-3

# GWP100 used to turn DESNZ "kg CO2e of <gas>" rows back into gas masses (DESNZ 2024 uses AR5).
AR5_GWP = {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0}

EPA_HUB_SOURCE = "US EPA GHG Emission Factors Hub"

# --------------------------------------------------------------------------------------------
# Mapping tables (data, not code). Changing a mapping changes factors.csv; the test that compares
# the committed file with a fresh build makes such a change visible in review.
# --------------------------------------------------------------------------------------------

# EPA Hub Table 1: activity_type is the snake_case slug of the fuel type, except these. The coal
# "Mixed (... Sector)" rows are coal mixes, so they get a "coal_" name shared with DESNZ coal; LPG
# gets the short name shared with DESNZ; "Aviation Gasoline" would collide with the Table 2 (mobile)
# aviation_gasoline factor of the same unit, so the stationary one is suffixed.
HUB_T1_ACTIVITY_OVERRIDES = {
    "Mixed (Commercial Sector)": "coal_commercial",
    "Mixed (Electric Power Sector)": "coal_electric_power",
    "Mixed (Industrial Coking)": "coal_industrial_coking",
    "Mixed (Industrial Sector)": "coal_industrial",
    "Liquefied Petroleum Gases (LPG)": "lpg",
    "Aviation Gasoline": "aviation_gasoline_stationary",
}
# The 2021 Hub spells some Table 1 fuels differently; map them to the 2025 spelling so the two
# editions share activity types.
HUB_2021_FUEL_RENAMES = {
    "Anthracite Coal": "Anthracite",
    "Bituminous Coal": "Bituminous",
    "Sub-bituminous Coal": "Sub-bituminous",
    "Lignite Coal": "Lignite",
}
HUB_T2_ACTIVITY = {
    "Aviation Gasoline": "aviation_gasoline",
    "Biodiesel (100%)": "vehicle_biodiesel",
    "Compressed Natural Gas (CNG)": "vehicle_cng",
    "Diesel Fuel": "vehicle_diesel",
    "Ethanol (100%)": "vehicle_ethanol",
    "Kerosene-Type Jet Fuel": "jet_fuel",
    "Liquefied Natural Gas (LNG)": "vehicle_lng",
    "Liquefied Petroleum Gases (LPG)": "vehicle_lpg",
    "Motor Gasoline": "vehicle_gasoline",
    "Residual Fuel Oil": "vehicle_residual_fuel_oil",
}
# Table 8 rows are keyed by (vehicle type without footnote letter, kind of unit).
HUB_T8_ACTIVITY = {
    ("Medium- and Heavy-Duty Truck", "vehicle * mile"): "upstream_transport_vehicle_mhd_truck",
    ("Passenger Car", "vehicle * mile"): "upstream_transport_vehicle_passenger_car",
    ("Light-Duty Truck", "vehicle * mile"): "upstream_transport_vehicle_light_duty_truck",
    ("Medium- and Heavy-Duty Truck", "short_ton * mile"): "freight_truck",
    ("Rail", "short_ton * mile"): "freight_rail",
    ("Waterborne Craft", "short_ton * mile"): "freight_waterborne",
    ("Aircraft", "short_ton * mile"): "freight_air",
}
HUB_T10_ACTIVITY = {
    "Passenger Car": "car_travel_vehicle_mile",
    "Light-Duty Truck": "light_truck_travel",
    "Motorcycle": "motorcycle_travel",
    "Intercity Rail - Northeast Corridor": "rail_travel_intercity_northeast",
    "Intercity Rail - Other Routes": "rail_travel_intercity_other",
    "Intercity Rail - National Average": "rail_travel_intercity_average",
    "Commuter Rail": "rail_travel_commuter",
    "Transit Rail (i.e. Subway, Tram)": "rail_travel_transit",
    "Bus": "bus_travel",
    "Air Travel - Short Haul (< 300 miles)": "air_travel_short_haul",
    "Air Travel - Medium Haul (>= 300 miles, < 2300 miles)": "air_travel_medium_haul",
    "Air Travel - Long Haul (>= 2300 miles)": "air_travel_long_haul",
}
HUB_UNITS = {
    "short ton": "short_ton",
    "scf": "scf",
    "gallon": "gallon",
    "vehicle-mile": "vehicle * mile",
    "short ton-mile": "short_ton * mile",
    "ton-mile": "short_ton * mile",  # the 2021 Hub writes "ton-mile"; EPA tons are short tons
    "passenger-mile": "passenger * mile",
}
HUB_T9_METHODS = {
    "recycled": "recycled",
    "landfilled": "landfilled",
    "combusted": "combusted",
    "composted": "composted",
    "anaerobic_digestion_dry_cured": "anaerobic_digestion_dry_cured",
    "anaerobic_digestion_wet_cured": "anaerobic_digestion_wet_cured",
}

DESNZ_UNITS = {
    "kWh (Gross CV)": "kWh",
    "kWh": "kWh",
    "litres": "liter",
    "tonnes": "metric_ton",
    "cubic metres": "meter ** 3",
    "passenger.km": "passenger * kilometer",
    "tonne.km": "metric_ton * kilometer",
    "Room per night": "room_night",
}


def _desnz(
    level_1,
    level_2,
    level_3,
    level_4,
    column_text,
    uoms,
    activity_type,
    scope,
    category=None,
    method="",
    unit=None,
    notes="",
):
    return [
        {
            "level_1": level_1,
            "level_2": level_2,
            "level_3": level_3,
            "level_4": level_4,
            "column_text": column_text,
            "uom": uom,
            "activity_type": activity_type,
            "scope": scope,
            "category": category,
            "method": method,
            "unit": unit or DESNZ_UNITS[uom],
            "notes": notes,
        }
        for uom in uoms
    ]


_FUEL_UNITS = ["kWh (Gross CV)", "litres", "tonnes"]
_GROSS_CV_NOTE = "kWh on a gross calorific value basis (DESNZ: use gross CV for energy bills)"
# The curated DESNZ 2024 rows: (level_1 .. column_text, uom) -> activity. Every entry must match
# exactly one "kg CO2e" row with a factor, or the build fails.
DESNZ_MAP: list[dict] = [
    *_desnz(
        "Fuels",
        "Gaseous fuels",
        "Natural gas",
        "",
        "",
        ["kWh (Gross CV)", "cubic metres", "tonnes"],
        "natural_gas",
        1,
    ),
    *_desnz("Fuels", "Gaseous fuels", "Propane", "", "", _FUEL_UNITS, "propane", 1),
    *_desnz("Fuels", "Gaseous fuels", "Butane", "", "", _FUEL_UNITS, "butane", 1),
    *_desnz("Fuels", "Gaseous fuels", "LPG", "", "", _FUEL_UNITS, "lpg", 1),
    *_desnz("Fuels", "Gaseous fuels", "CNG", "", "", ["kWh (Gross CV)", "tonnes"], "cng", 1),
    *_desnz("Fuels", "Gaseous fuels", "LNG", "", "", _FUEL_UNITS, "lng", 1),
    *_desnz(
        "Fuels",
        "Liquid fuels",
        "Burning oil",
        "",
        "",
        _FUEL_UNITS,
        "kerosene",
        1,
        notes="DESNZ 'Burning oil' (kerosene heating oil)",
    ),
    *_desnz("Fuels", "Liquid fuels", "Gas oil", "", "", _FUEL_UNITS, "gas_oil", 1),
    *_desnz("Fuels", "Liquid fuels", "Fuel oil", "", "", _FUEL_UNITS, "fuel_oil", 1),
    *_desnz("Fuels", "Liquid fuels", "Lubricants", "", "", ["litres", "tonnes"], "lubricants", 1),
    *_desnz(
        "Fuels",
        "Liquid fuels",
        "Diesel (average biofuel blend)",
        "",
        "",
        ["litres"],
        "vehicle_diesel",
        1,
        notes="UK forecourt diesel, average biofuel blend",
    ),
    *_desnz(
        "Fuels",
        "Liquid fuels",
        "Petrol (average biofuel blend)",
        "",
        "",
        ["litres"],
        "vehicle_gasoline",
        1,
        notes="UK forecourt petrol, average biofuel blend",
    ),
    *_desnz("Fuels", "Liquid fuels", "Aviation turbine fuel", "", "", ["litres"], "jet_fuel", 1),
    *_desnz("Fuels", "Liquid fuels", "Aviation spirit", "", "", ["litres"], "aviation_gasoline", 1),
    *_desnz(
        "Fuels",
        "Solid fuels",
        "Coal (industrial)",
        "",
        "",
        ["kWh (Gross CV)", "tonnes"],
        "coal_industrial",
        1,
    ),
    *_desnz(
        "Fuels",
        "Solid fuels",
        "Coal (electricity generation)",
        "",
        "",
        ["kWh (Gross CV)", "tonnes"],
        "coal_electric_power",
        1,
    ),
    *_desnz(
        "Fuels", "Solid fuels", "Coal (domestic)", "", "", ["kWh (Gross CV)", "tonnes"], "coal_domestic", 1
    ),
    *_desnz(
        "UK electricity",
        "Electricity generated",
        "Electricity: UK",
        "kWh",
        "",
        ["kWh"],
        "electricity",
        2,
        method="location",
        notes="UK grid average, generation-based (excludes T&D losses)",
    ),
    *_desnz(
        "Transmission and distribution",
        "T&D- UK electricity",
        "Electricity: UK",
        "kWh",
        "",
        ["kWh"],
        "electricity_td_losses",
        3,
        category=3,
        notes="per kWh of electricity consumed: emissions of the grid losses",
    ),
    *_desnz(
        "Heat and steam",
        "Heat and steam",
        "District heat and steam",
        "kWh",
        "",
        ["kWh"],
        "purchased_steam_heat",
        2,
        method="location",
    ),
    *_desnz(
        "Water supply",
        "Water supply",
        "Water supply",
        "",
        "",
        ["cubic metres"],
        "water_supply",
        3,
        category=1,
    ),
    *_desnz(
        "Water treatment",
        "Water treatment",
        "Water treatment",
        "",
        "",
        ["cubic metres"],
        "water_treatment",
        3,
        category=5,
    ),
    *_desnz(
        "Business travel- air",
        "Flights",
        "Domestic, to/from UK",
        "Average passenger",
        "With RF",
        ["passenger.km"],
        "air_travel_domestic",
        3,
        category=6,
        notes="average passenger, with radiative forcing uplift; DESNZ domestic = within the UK",
    ),
    *_desnz(
        "Business travel- air",
        "Flights",
        "Short-haul, to/from UK",
        "Average passenger",
        "With RF",
        ["passenger.km"],
        "air_travel_short_haul",
        3,
        category=6,
        notes="average passenger, with radiative forcing uplift; DESNZ short-haul = to/from UK, "
        "< 3700 km (EPA short haul is < 300 miles)",
    ),
    *_desnz(
        "Business travel- air",
        "Flights",
        "Long-haul, to/from UK",
        "Average passenger",
        "With RF",
        ["passenger.km"],
        "air_travel_long_haul",
        3,
        category=6,
        notes="average passenger, with radiative forcing uplift; DESNZ long-haul = to/from UK, > 3700 km",
    ),
    *_desnz(
        "Business travel- air",
        "Flights",
        "International, to/from non-UK",
        "Average passenger",
        "With RF",
        ["passenger.km"],
        "air_travel_international",
        3,
        category=6,
        notes="average passenger, with radiative forcing uplift; flights between two non-UK airports",
    ),
    *_desnz(
        "Business travel- land",
        "Rail",
        "National rail",
        "",
        "",
        ["passenger.km"],
        "rail_travel_national",
        3,
        category=6,
    ),
    *_desnz(
        "Business travel- land",
        "Rail",
        "International rail",
        "",
        "",
        ["passenger.km"],
        "rail_travel_international",
        3,
        category=6,
    ),
    *_desnz(
        "Business travel- land",
        "Rail",
        "Light rail and tram",
        "",
        "",
        ["passenger.km"],
        "rail_travel_light_rail",
        3,
        category=6,
    ),
    *_desnz(
        "Business travel- land",
        "Rail",
        "London Underground",
        "",
        "",
        ["passenger.km"],
        "rail_travel_underground",
        3,
        category=6,
    ),
    *_desnz(
        "Business travel- land",
        "Bus",
        "Average local bus",
        "",
        "",
        ["passenger.km"],
        "bus_travel",
        3,
        category=6,
    ),
    *_desnz("Business travel- land", "Bus", "Coach", "", "", ["passenger.km"], "coach_travel", 3, category=6),
    *_desnz(
        "Business travel- land",
        "Taxis",
        "Regular taxi",
        "",
        "",
        ["passenger.km"],
        "taxi_travel",
        3,
        category=6,
    ),
    *_desnz(
        "Business travel- land",
        "Cars (by size)",
        "Average car",
        "",
        "Unknown",
        ["km"],
        "car_travel_km",
        3,
        category=6,
        unit="vehicle * kilometer",
        notes="average car, unknown fuel; per vehicle-km",
    ),
    *_desnz(
        "Business travel- land",
        "Motorbike",
        "Average",
        "",
        "",
        ["km"],
        "motorcycle_travel",
        3,
        category=6,
        unit="vehicle * kilometer",
        notes="average motorbike; per vehicle-km",
    ),
    *_desnz(
        "Business travel- sea",
        "Ferry",
        "Average (all passenger)",
        "",
        "",
        ["passenger.km"],
        "ferry_travel",
        3,
        category=6,
    ),
    *_desnz(
        "Freighting goods",
        "HGV (all diesel)",
        "All HGVs",
        "",
        "Average laden",
        ["tonne.km"],
        "freight_hgv",
        3,
        category=4,
        notes="all HGVs, average laden, all diesel",
    ),
    *_desnz("Freighting goods", "Rail", "Freight train", "", "", ["tonne.km"], "freight_rail", 3, category=4),
    *_desnz(
        "Freighting goods",
        "Cargo ship",
        "Container ship",
        "Average",
        "",
        ["tonne.km"],
        "freight_sea",
        3,
        category=4,
        notes="container ship, average size",
    ),
    *_desnz(
        "Freighting goods",
        "Cargo ship",
        "Bulk carrier",
        "Average",
        "",
        ["tonne.km"],
        "freight_sea_bulk",
        3,
        category=4,
        notes="bulk carrier, average size",
    ),
    *_desnz(
        "Freighting goods",
        "Cargo ship",
        "General cargo",
        "Average",
        "",
        ["tonne.km"],
        "freight_sea_general_cargo",
        3,
        category=4,
        notes="general cargo ship, average size",
    ),
    *_desnz(
        "Freighting goods",
        "Freight flights",
        "International, to/from non-UK",
        "",
        "With RF",
        ["tonne.km"],
        "freight_air",
        3,
        category=4,
        notes="with radiative forcing uplift (EPA freight_air has none)",
    ),
    *_desnz(
        "Freighting goods",
        "Freight flights",
        "Domestic, to/from UK",
        "",
        "With RF",
        ["tonne.km"],
        "freight_air_domestic",
        3,
        category=4,
        notes="with radiative forcing uplift",
    ),
    *_desnz(
        "Freighting goods",
        "Freight flights",
        "Short-haul, to/from UK",
        "",
        "With RF",
        ["tonne.km"],
        "freight_air_short_haul",
        3,
        category=4,
        notes="with radiative forcing uplift",
    ),
    *_desnz(
        "Freighting goods",
        "Freight flights",
        "Long-haul, to/from UK",
        "",
        "With RF",
        ["tonne.km"],
        "freight_air_long_haul",
        3,
        category=4,
        notes="with radiative forcing uplift",
    ),
]

# DESNZ "Waste disposal" (all rows are kg CO2e per tonne, scope 3): level_3 -> material slug.
# Materials that EPA's WARM table also has get EPA's slug so the two share activity types.
DESNZ_WASTE_MATERIALS = {
    "Aggregates": "aggregates",
    "Asbestos": "asbestos",
    "Asphalt": "asphalt",
    "Average construction": "average_construction",
    "Bricks": "bricks",
    "Concrete": "concrete",
    "Insulation": "insulation",
    "Metals": "construction_metals",
    "Mineral oil": "mineral_oil",
    "Plasterboard": "plasterboard",
    "Soils": "soils",
    "Tyres": "tires",
    "Wood": "wood",
    "Batteries": "batteries",
    "WEEE - fridges and freezers": "weee_fridges_freezers",
    "WEEE - large": "weee_large",
    "WEEE - mixed": "weee_mixed",
    "WEEE - small": "weee_small",
    "Metal: aluminium cans and foil (excl. forming)": "aluminum_cans",
    "Metal: mixed cans": "mixed_cans",
    "Metal: scrap metal": "scrap_metal",
    "Metal: steel cans": "steel_cans",
    "Books": "books",
    "Clothing": "clothing",
    "Glass": "glass",
    "Paper and board: board": "paper_board_board",
    "Paper and board: mixed": "paper_board_mixed",
    "Paper and board: paper": "paper_board_paper",
    "Plastics: HDPE (incl. forming)": "hdpe",
    "Plastics: LDPE and LLDPE (incl. forming)": "ldpe_lldpe",
    "Plastics: PET (incl. forming)": "pet",
    "Plastics: PP (incl. forming)": "pp",
    "Plastics: PS (incl. forming)": "ps",
    "Plastics: PVC (incl. forming)": "pvc",
    "Plastics: average plastic film": "plastic_film",
    "Plastics: average plastic rigid": "plastic_rigid",
    "Plastics: average plastics": "mixed_plastics",
    "Commercial and industrial waste": "commercial_industrial",
    "Household residual waste": "household_residual",
    "Organic: food and drink waste": "food_waste",
    "Organic: garden waste": "yard_trimmings",
    "Organic: mixed food and garden waste": "mixed_organics",
}
DESNZ_WASTE_METHODS = {
    "Re-use": "reused",
    "Open-loop": "recycled_open_loop",
    "Closed-loop": "recycled_closed_loop",
    "Combustion": "combusted",
    "Composting": "composted",
    "Landfill": "landfilled",
    "Anaerobic digestion": "anaerobic_digestion",
}
# DESNZ hotel countries that pycountry does not resolve by name.
DESNZ_HOTEL_COUNTRIES = {
    "UK": "GB",
    "Korea": "KR",
    "Hong Kong, China": "HK",
    "Macau, China": "MO",
    "Taiwan, China": "TW",
    "Turkey": "TR",
    "Vietnam": "VN",
    "Russian Federation": "RU",
    "Czech Republic": "CZ",
}

# Descriptions for activity_types.csv; families (waste_*, refrigerant_*, Table 1 fuels) get a
# generated description from the source wording.
ACTIVITY_DESCRIPTIONS = {
    "electricity": "Purchased grid electricity (location-based)",
    "electricity_td_losses": "Grid transmission & distribution losses of purchased electricity",
    "purchased_steam_heat": "Purchased steam, heat or district heating",
    "natural_gas": "Natural gas burned in stationary equipment",
    "propane": "Propane burned in stationary equipment",
    "butane": "Butane burned in stationary equipment",
    "lpg": "Liquefied petroleum gas (LPG) burned in stationary equipment",
    "cng": "Compressed natural gas (DESNZ fuel factor)",
    "lng": "Liquefied natural gas (DESNZ fuel factor)",
    "kerosene": "Kerosene / burning oil",
    "gas_oil": "Gas oil (UK red diesel / heating gas oil)",
    "fuel_oil": "Residual fuel oil (UK DESNZ 'Fuel oil')",
    "lubricants": "Lubricants",
    "coal_industrial": "Coal, industrial-sector mix",
    "coal_commercial": "Coal, commercial-sector mix",
    "coal_electric_power": "Coal, electric-power-sector mix",
    "coal_industrial_coking": "Coal, industrial coking mix",
    "coal_domestic": "Coal, domestic (UK)",
    "aviation_gasoline_stationary": "Aviation gasoline burned in stationary equipment (EPA Table 1)",
    "vehicle_diesel": "Diesel fuel in vehicles",
    "vehicle_gasoline": "Motor gasoline / petrol in vehicles",
    "vehicle_lpg": "LPG in vehicles",
    "vehicle_cng": "Compressed natural gas in vehicles",
    "vehicle_lng": "Liquefied natural gas in vehicles",
    "vehicle_biodiesel": "Biodiesel (B100) in vehicles",
    "vehicle_ethanol": "Ethanol (E100) in vehicles",
    "vehicle_residual_fuel_oil": "Residual fuel oil in vehicles / vessels",
    "jet_fuel": "Kerosene-type jet fuel / aviation turbine fuel",
    "aviation_gasoline": "Aviation gasoline / aviation spirit",
    "freight_truck": "Freight by medium- and heavy-duty truck, per ton-distance",
    "freight_hgv": "Freight by heavy goods vehicle (UK), per tonne-distance",
    "freight_rail": "Freight by rail, per ton-distance",
    "freight_waterborne": "Freight by waterborne craft (US), per ton-distance",
    "freight_sea": "Freight by container ship, per tonne-distance",
    "freight_sea_bulk": "Freight by bulk carrier, per tonne-distance",
    "freight_sea_general_cargo": "Freight by general cargo ship, per tonne-distance",
    "freight_air": "Air freight, per ton-distance",
    "freight_air_domestic": "Air freight within the UK, per tonne-distance",
    "freight_air_short_haul": "Air freight short-haul to/from the UK, per tonne-distance",
    "freight_air_long_haul": "Air freight long-haul to/from the UK, per tonne-distance",
    "upstream_transport_vehicle_mhd_truck": "Dedicated medium/heavy-duty truck, per vehicle-distance",
    "upstream_transport_vehicle_passenger_car": "Dedicated passenger car transport, per vehicle-distance",
    "upstream_transport_vehicle_light_duty_truck": "Dedicated light-duty truck, per vehicle-distance",
    "car_travel_vehicle_mile": "Car travel, per vehicle-distance (EPA passenger car)",
    "car_travel_km": "Car travel, per vehicle-distance (DESNZ average car)",
    "light_truck_travel": "Light-duty truck / SUV travel, per vehicle-distance",
    "motorcycle_travel": "Motorcycle travel, per vehicle-distance",
    "taxi_travel": "Taxi travel, per passenger-distance",
    "bus_travel": "Bus travel, per passenger-distance",
    "coach_travel": "Coach travel, per passenger-distance",
    "ferry_travel": "Ferry travel, per passenger-distance",
    "rail_travel_intercity_northeast": "Intercity rail, US Northeast Corridor",
    "rail_travel_intercity_other": "Intercity rail, US routes outside the Northeast Corridor",
    "rail_travel_intercity_average": "Intercity rail, US national average",
    "rail_travel_commuter": "Commuter rail",
    "rail_travel_transit": "Transit rail (subway, tram)",
    "rail_travel_national": "National rail (UK)",
    "rail_travel_international": "International rail (UK)",
    "rail_travel_light_rail": "Light rail and tram (UK)",
    "rail_travel_underground": "London Underground",
    "air_travel_domestic": "Air travel, domestic flights (UK definition)",
    "air_travel_short_haul": "Air travel, short haul (EPA: < 300 miles; DESNZ: < 3700 km to/from UK)",
    "air_travel_medium_haul": "Air travel, medium haul (EPA: 300-2300 miles)",
    "air_travel_long_haul": "Air travel, long haul (EPA: >= 2300 miles; DESNZ: > 3700 km to/from UK)",
    "air_travel_international": "Air travel between two non-UK airports (DESNZ)",
    "hotel_stay": "Hotel stay, per room-night",
    "water_supply": "Mains water supply",
    "water_treatment": "Wastewater treatment",
    "purchased_goods": "Purchased goods and services, spend-based (per USD)",
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """Snake-case slug: 'Distillate Fuel Oil No. 2' -> 'distillate_fuel_oil_no_2'."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _slugs(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_")


def _clean_label(series: pd.Series) -> pd.Series:
    """Collapse whitespace (the 2021 workbook has line breaks inside labels)."""
    return series.astype(str).str.replace(r"\s+", " ", regex=True).str.strip()


def _strip_footnote(series: pd.Series) -> pd.Series:
    """'Passenger Car A' / 'Medium- and Heavy-Duty TruckC' -> the vehicle type without its footnote."""
    return _clean_label(series).str.replace(r"(?<=[a-z)])\s?[A-E]$", "", regex=True).str.strip()


def _frame(rows: pd.DataFrame, **constants) -> pd.DataFrame:
    """Complete a partial factor frame to FACTOR_COLUMNS (constants fill missing columns)."""
    out = rows.copy()
    for column, value in constants.items():
        out[column] = value
    for column in FACTOR_COLUMNS:
        if column not in out:
            out[column] = pd.NA
    return out[FACTOR_COLUMNS]


def _require_mapped(series: pd.Series, what: str) -> None:
    missing = series.isna()
    if missing.any():
        raise ValueError(f"unmapped {what}: {sorted(series.index[missing].astype(str))[:10]}")


# --------------------------------------------------------------------------------------------
# EPA GHG Emission Factors Hub: one normaliser for both editions, fed with tidy tables shaped
# like the 2025 CSV extracts (the 2021 workbook is parsed into the same shapes).
# --------------------------------------------------------------------------------------------


def _hub_common(edition_key: str, edition: str, valid_from: str, valid_to: str, gwp_set: str) -> dict:
    return {
        "edition_key": edition_key,
        "source": EPA_HUB_SOURCE,
        "edition": edition,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "gwp_set": gwp_set,
        "source_rank": 0,
    }


def _hub_factors(
    tables: dict[str, pd.DataFrame], common: dict, prefix: str, egrid_label: str
) -> pd.DataFrame:
    parts = []

    # Table 1 stationary combustion: per mmBtu and per physical unit.
    t1 = tables["t1"].copy()
    t1["fuel_type"] = _clean_label(t1["fuel_type"])
    t1["activity_type"] = t1["fuel_type"].map(HUB_T1_ACTIVITY_OVERRIDES).fillna(_slugs(t1["fuel_type"]))
    t1["source_label"] = _clean_label(t1["fuel_category"]) + " > " + t1["fuel_type"]
    biogenic = t1["fuel_category"].str.contains("Biomass", case=False)
    t1["notes"] = biogenic.map(
        {
            True: "biomass fuel: the CO2 is biogenic, report it outside the scopes (GHG Protocol); "
            "CH4/N2O count in scope 1",
            False: "",
        }
    )
    per_mmbtu = pd.DataFrame(
        {
            "activity_type": t1["activity_type"],
            "source_label": t1["source_label"],
            "unit": "mmBtu",
            "co2_kg": t1["kg_co2_per_mmbtu"].astype(float),
            "ch4_kg": t1["g_ch4_per_mmbtu"].astype(float) * G_TO_KG,
            "n2o_kg": t1["g_n2o_per_mmbtu"].astype(float) * G_TO_KG,
            "notes": t1["notes"],
        }
    )
    physical = t1[t1["kg_co2_per_unit"].notna()]
    per_unit = pd.DataFrame(
        {
            "activity_type": physical["activity_type"],
            "source_label": physical["source_label"],
            "unit": physical["per_unit"].map(HUB_UNITS),
            "co2_kg": physical["kg_co2_per_unit"].astype(float),
            "ch4_kg": physical["g_ch4_per_unit"].astype(float) * G_TO_KG,
            "n2o_kg": physical["g_n2o_per_unit"].astype(float) * G_TO_KG,
            "notes": physical["notes"],
        }
    )
    _require_mapped(per_unit.set_index("source_label")["unit"], "Table 1 unit")
    t1_rows = pd.concat([per_mmbtu, per_unit], ignore_index=True)
    t1_rows["factor_id"] = prefix + "/t1/" + t1_rows["activity_type"] + "/" + _slugs(t1_rows["unit"])
    t1_rows.loc[t1_rows["unit"] == "mmBtu", "factor_id"] = (
        prefix + "/t1/" + t1_rows["activity_type"] + "/mmBtu"
    )
    parts.append(
        _frame(
            t1_rows,
            table_ref="Table 1 Stationary Combustion",
            scope=1,
            region="US",
            region_level="national",
            **common,
        )
    )

    # Table 2 mobile combustion CO2 (CH4/N2O are per vehicle-mile in Tables 3-5, not per fuel unit).
    t2 = tables["t2"].copy()
    t2["fuel_type"] = _clean_label(t2["fuel_type"])
    t2_rows = pd.DataFrame(
        {
            "activity_type": t2["fuel_type"].map(HUB_T2_ACTIVITY),
            "source_label": t2["fuel_type"],
            "unit": t2["unit"].map(HUB_UNITS),
            "co2_kg": t2["kg_co2_per_unit"].astype(float),
        }
    )
    _require_mapped(t2_rows.set_index("source_label")["activity_type"], "Table 2 fuel")
    t2_rows["factor_id"] = prefix + "/t2/" + t2_rows["activity_type"] + "/" + _slugs(t2_rows["unit"])
    parts.append(
        _frame(
            t2_rows,
            table_ref="Table 2 Mobile Combustion CO2",
            scope=1,
            region="US",
            region_level="national",
            notes="CO2 only; EPA gives CH4/N2O per vehicle-mile (Tables 3-4)",
            **common,
        )
    )

    # Table 6 electricity: total output emission rates, lb/MWh -> kg/kWh.
    t6 = tables["t6"].copy()
    is_us = t6["egrid_subregion"].str.strip().eq("US Average")
    lb_mwh_to_kg_kwh = LB_TO_KG / 1000.0
    t6_rows = pd.DataFrame(
        {
            "region": t6["egrid_subregion"].str.strip().where(~is_us, "US"),
            "region_level": is_us.map({True: "national", False: "subnational"}),
            "source_label": (
                t6["egrid_subregion"].str.strip() + " (" + t6["egrid_subregion_name"].str.strip() + ")"
            ).where(~is_us, "US Average"),
            "co2_kg": t6["total_output_lb_co2_per_mwh"].astype(float) * lb_mwh_to_kg_kwh,
            "ch4_kg": t6["total_output_lb_ch4_per_mwh"].astype(float) * lb_mwh_to_kg_kwh,
            "n2o_kg": t6["total_output_lb_n2o_per_mwh"].astype(float) * lb_mwh_to_kg_kwh,
        }
    )
    t6_rows["factor_id"] = prefix + "/t6/electricity/" + t6_rows["region"]
    parts.append(
        _frame(
            t6_rows,
            table_ref=f"Table 6 Electricity ({egrid_label} total output)",
            activity_type="electricity",
            scope=2,
            unit="kWh",
            method="location",
            notes=f"{egrid_label} total output emission rate, converted from lb/MWh",
            **common,
        )
    )

    # Table 7 steam and heat.
    t7 = tables["t7"]
    t7_rows = pd.DataFrame(
        {
            "source_label": _clean_label(t7["source"]),
            "co2_kg": t7["kg_co2_per_mmbtu"].astype(float),
            "ch4_kg": t7["g_ch4_per_mmbtu"].astype(float) * G_TO_KG,
            "n2o_kg": t7["g_n2o_per_mmbtu"].astype(float) * G_TO_KG,
        }
    )
    parts.append(
        _frame(
            t7_rows,
            factor_id=prefix + "/t7/purchased_steam_heat/mmBtu",
            table_ref="Table 7 Steam and Heat",
            activity_type="purchased_steam_heat",
            scope=2,
            region="US",
            region_level="national",
            unit="mmBtu",
            method="location",
            notes="natural gas boiler at 80% efficiency (EPA assumption)",
            **common,
        )
    )

    # Tables 8 and 10: distance-based transport.
    for key, table_ref, category in (
        ("t8", "Table 8 Scope 3 Category 4 Upstream Transportation", 4),
        ("t10", "Table 10 Scope 3 Category 6/7 Business Travel and Commuting", 6),
    ):
        t = tables[key].copy()
        vehicle = _strip_footnote(t["vehicle_type"])
        unit = t["unit"].str.strip().map(HUB_UNITS)
        if key == "t8":
            activity = pd.Series(
                [HUB_T8_ACTIVITY.get(k) for k in zip(vehicle, unit, strict=True)], index=t.index
            )
        else:
            activity = vehicle.map(HUB_T10_ACTIVITY)
        rows = pd.DataFrame(
            {
                "activity_type": activity,
                "source_label": _clean_label(t["vehicle_type"]),
                "unit": unit,
                "co2_kg": t["kg_co2_per_unit"].astype(float),
                "ch4_kg": t["g_ch4_per_unit"].astype(float) * G_TO_KG,
                "n2o_kg": t["g_n2o_per_unit"].astype(float) * G_TO_KG,
            }
        )
        _require_mapped(rows.set_index("source_label")["activity_type"], f"{table_ref} row")
        rows["factor_id"] = prefix + f"/{key}/" + rows["activity_type"] + "/" + _slugs(rows["unit"])
        notes = "" if key == "t8" else "category 6; also valid for category 7 commuting"
        parts.append(
            _frame(
                rows,
                table_ref=table_ref,
                scope=3,
                category=category,
                region="US",
                region_level="national",
                notes=notes,
                **common,
            )
        )

    # Table 9 waste: metric tons CO2e per short ton -> kg CO2e per short ton; AR4-based per EPA notes.
    t9 = tables["t9"].copy()
    t9["material"] = _clean_label(t9["material"])
    long = t9.melt(
        id_vars="material", value_vars=list(HUB_T9_METHODS), var_name="method_col", value_name="value"
    )
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long = long[long["value"].notna()]
    method_slug = long["method_col"].map(HUB_T9_METHODS)
    t9_rows = pd.DataFrame(
        {
            "activity_type": "waste_" + _slugs(long["material"]) + "_" + method_slug,
            "source_label": long["material"] + " > " + long["method_col"],
            "co2e_kg": long["value"] * 1000.0,
        }
    )
    t9_rows["factor_id"] = prefix + "/t9/" + t9_rows["activity_type"] + "/short_ton"
    parts.append(
        _frame(
            t9_rows,
            table_ref="Table 9 Scope 3 Category 5 Waste (WARM)",
            scope=3,
            category=5,
            region="US",
            region_level="national",
            unit="short_ton",
            notes="published as metric tons CO2e per short ton of material; EPA: AR4 GWPs used for "
            "waste factors; excludes avoided emissions",
            **{**common, "gwp_set": "AR4"},
        )
    )

    # Tables 11 + 12: refrigerants and other fluorinated gases, kg released -> kg CO2e.
    gwp = _hub_refrigerant_gwps(tables)
    ref_rows = pd.DataFrame(
        {
            "activity_type": "refrigerant_" + _slugs(gwp["gas"]),
            "source_label": gwp["gas"],
            "table_ref": gwp["table_ref"],
            "co2e_kg": gwp["gwp"].astype(float),
        }
    )
    ref_rows["factor_id"] = prefix + "/gwp/" + ref_rows["activity_type"] + "/kilogram"
    parts.append(
        _frame(
            ref_rows,
            scope=1,
            region="GLOBAL",
            region_level="global",
            unit="kilogram",
            notes="fugitive: kg released",
            **common,
        )
    )

    return pd.concat(parts, ignore_index=True)


def _hub_refrigerant_gwps(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Fluorinated gases of Tables 11-12 with a canonical name (HFC-134a, SF6, PFC-14, R-410A)."""
    t11 = tables["t11"]
    t11 = t11[~t11["gas"].isin(["CO2", "CH4", "N2O"])]
    t12 = tables["t12"]
    return pd.concat(
        [
            pd.DataFrame(
                {"gas": t11["gas"], "gwp": t11["gwp"], "table_ref": "Table 11 Global Warming Potentials"}
            ),
            pd.DataFrame(
                {
                    "gas": t12["gas"],
                    "gwp": t12["gwp"],
                    "table_ref": "Table 12 Global Warming Potentials for Blended Refrigerants",
                }
            ),
        ],
        ignore_index=True,
    )


def _canonical_gas_names(names: pd.Series, formulas: pd.Series) -> pd.Series:
    """HFC/PFC by name, CO2/CH4/N2O/SF6/NF3 by formula (Table 11 of the 2025 Hub)."""
    named = names.str.match(r"^(HFC|PFC)-")
    return names.where(named, formulas)


def _hub_2025_tables() -> dict[str, pd.DataFrame]:
    read = lambda name: pd.read_csv(HUB_2025_DIR / name, keep_default_na=False, na_values=["", "NA"])  # noqa: E731
    t11 = read("table11_gwp_ar5.csv")
    t12 = read("table12_gwp_refrigerant_blends_ar5.csv")
    return {
        "t1": read("table1_stationary_combustion.csv"),
        "t2": read("table2_mobile_combustion_co2.csv"),
        "t6": read("table6_electricity_egrid2023_subregions.csv"),
        "t7": read("table7_steam_and_heat.csv"),
        "t8": read("table8_scope3_cat4_upstream_transport.csv"),
        "t9": read("table9_scope3_cat5_waste_tco2e_per_short_ton.csv"),
        "t10": read("table10_scope3_cat6_7_business_travel_commuting.csv"),
        "t11": pd.DataFrame(
            {
                "gas": _canonical_gas_names(t11["gas"].str.strip(), t11["formula"].str.strip()),
                "gwp": t11["gwp100_ar5"].astype(float),
            }
        ),
        "t12": pd.DataFrame(
            {"gas": t12["ashrae_number"].str.strip(), "gwp": t12["gwp100_ar5"].astype(float)}
        ),
    }


# ---- EPA Hub 2021 workbook ------------------------------------------------------------------


def _hub_2021_sheet() -> pd.DataFrame:
    with warnings.catch_warnings():
        # openpyxl warns about the workbook's page header/footer and extensions; irrelevant to values
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        sheet = pd.read_excel(HUB_2021_XLSX, sheet_name="Emission Factors Hub", header=None, dtype=object)
    sheet.columns = [f"c{i}" for i in range(sheet.shape[1])]
    return sheet


def _table_block(sheet: pd.DataFrame, number: int) -> pd.DataFrame:
    """Rows from the 'Table <number>' title row up to the next table title (located by text)."""
    titles = sheet["c1"].astype(str).str.strip()
    is_title = titles.str.match(r"^Table \d+$")
    starts = sheet.index[is_title & titles.eq(f"Table {number}")]
    if len(starts) != 1:
        raise ValueError(f"Table {number} not found exactly once in the 2021 Hub workbook")
    start = starts[0]
    later = sheet.index[is_title & (sheet.index > start)]
    stop = later[0] if len(later) else sheet.index[-1] + 1
    return sheet.loc[start : stop - 1]


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _hub_2021_tables() -> tuple[dict[str, pd.DataFrame], str, str]:
    """Parse the 2021 Hub sheet into the 2025 CSV shapes; also return its GWP set and eGRID label."""
    sheet = _hub_2021_sheet()

    # Table 1: unit header rows ("mmBtu per short ton") and category rows are carried down.
    b = _table_block(sheet, 1)
    unit_header = b["c3"].astype(str).str.extract(r"^mmBtu per (.+)$")[0]
    is_data = _num(b["c4"]).notna()
    is_category = b["c2"].notna() & b["c3"].isna() & b["c4"].isna()
    category = b["c2"].where(is_category).ffill()
    per_unit = unit_header.ffill()
    rows = b[is_data]
    has_unit = _num(rows["c7"]).notna()
    fuel = _clean_label(rows["c2"])
    t1 = pd.DataFrame(
        {
            "fuel_category": _clean_label(category[is_data]),
            "fuel_type": fuel.map(HUB_2021_FUEL_RENAMES).fillna(fuel),
            "kg_co2_per_mmbtu": _num(rows["c4"]),
            "g_ch4_per_mmbtu": _num(rows["c5"]),
            "g_n2o_per_mmbtu": _num(rows["c6"]),
            "kg_co2_per_unit": _num(rows["c7"]),
            "g_ch4_per_unit": _num(rows["c8"]),
            "g_n2o_per_unit": _num(rows["c9"]),
            "per_unit": per_unit[is_data].where(has_unit),
        }
    )

    b = _table_block(sheet, 2)
    rows = b[_num(b["c3"]).notna() & b["c4"].notna()]
    t2 = pd.DataFrame({"fuel_type": rows["c2"], "kg_co2_per_unit": _num(rows["c3"]), "unit": rows["c4"]})

    b = _table_block(sheet, 6)
    text = " ".join(b["c2"].dropna().astype(str))
    egrid = re.search(r"eGRID\d{4}", text)
    if egrid is None:
        raise ValueError("2021 Hub Table 6: eGRID edition not stated")
    labels = _clean_label(b["c2"])
    parsed = labels.str.extract(r"^([A-Z]{4}) \((.+)\)$")
    is_row = (parsed[0].notna() | labels.eq("US Average")) & _num(b["c3"]).notna()
    t6 = pd.DataFrame(
        {
            "egrid_subregion": parsed[0].fillna(labels)[is_row],
            "egrid_subregion_name": parsed[1].fillna(labels)[is_row],
            "total_output_lb_co2_per_mwh": _num(b["c3"])[is_row],
            "total_output_lb_ch4_per_mwh": _num(b["c4"])[is_row],
            "total_output_lb_n2o_per_mwh": _num(b["c5"])[is_row],
        }
    )

    b = _table_block(sheet, 7)
    rows = b[_num(b["c3"]).notna()]
    t7 = pd.DataFrame(
        {
            "source": rows["c2"],
            "kg_co2_per_mmbtu": _num(rows["c3"]),
            "g_ch4_per_mmbtu": _num(rows["c4"]),
            "g_n2o_per_mmbtu": _num(rows["c5"]),
        }
    )

    def transport(number: int) -> pd.DataFrame:
        blk = _table_block(sheet, number)
        r = blk[_num(blk["c3"]).notna() & blk["c6"].notna()]
        return pd.DataFrame(
            {
                "vehicle_type": r["c2"],
                "kg_co2_per_unit": _num(r["c3"]),
                "g_ch4_per_unit": _num(r["c4"]),
                "g_n2o_per_unit": _num(r["c5"]),
                "unit": r["c6"],
            }
        )

    b = _table_block(sheet, 9)
    header_row = b.index[b["c2"].astype(str).str.strip().eq("Material")][0]
    header = _clean_label(b.loc[header_row, ["c3", "c4", "c5", "c6", "c7", "c8"]])
    expected = [
        "Recycled",
        "Landfilled",
        "Combusted",
        "Composted",
        "Anaerobically Digested (Dry Digestate",
        "Anaerobically Digested (Wet Digestate",
    ]
    if not all(h.startswith(e) for h, e in zip(header, expected, strict=True)):
        raise ValueError(f"2021 Hub Table 9 header changed: {list(header)}")
    if not b["c3"].astype(str).str.contains("Metric Tons CO2e / Short Ton").any():
        raise ValueError("2021 Hub Table 9 is not in metric tons CO2e per short ton")
    rows = b[(b.index > header_row) & b[["c3", "c4", "c5", "c6", "c7", "c8"]].apply(_num).notna().any(axis=1)]
    t9 = pd.DataFrame({"material": rows["c2"]})
    for col, name in zip(["c3", "c4", "c5", "c6", "c7", "c8"], HUB_T9_METHODS, strict=True):
        t9[name] = _num(rows[col])

    # Table 11: GWPs (formulas for PFCs in this edition -> the names used by the 2025 Table 11).
    formula_to_name = _formula_to_name()
    b = _table_block(sheet, 11)
    rows = b[_num(b["c3"]).notna()]
    gas = _clean_label(rows["c2"])
    gas = gas.map(formula_to_name).fillna(gas)
    unknown = ~gas.str.match(r"^(HFC|PFC)-") & ~gas.isin(["CO2", "CH4", "N2O", "SF6", "NF3"])
    if unknown.any():
        raise ValueError(f"2021 Hub Table 11: unknown gases {list(gas[unknown])}")
    t11 = pd.DataFrame({"gas": gas, "gwp": _num(rows["c3"]).astype(float)})
    gwp = dict(zip(t11["gas"], t11["gwp"], strict=True))
    if (gwp["CH4"], gwp["N2O"]) == (25.0, 298.0):
        gwp_set = "AR4"
    elif (gwp["CH4"], gwp["N2O"]) == (28.0, 265.0):
        gwp_set = "AR5"
    else:
        raise ValueError(f"2021 Hub: unrecognised GWP set CH4={gwp['CH4']} N2O={gwp['N2O']}")

    b = _table_block(sheet, 12)
    rows = b[b["c2"].astype(str).str.match(r"^R-\d") & _num(b["c3"]).notna()]
    t12 = pd.DataFrame({"gas": _clean_label(rows["c2"]), "gwp": _num(rows["c3"]).astype(float)})

    tables = {
        "t1": t1,
        "t2": t2,
        "t6": t6,
        "t7": t7,
        "t8": transport(8),
        "t9": t9,
        "t10": transport(10),
        "t11": t11,
        "t12": t12,
    }
    return tables, gwp_set, egrid.group(0)


def _formula_to_name() -> dict[str, str]:
    t11 = pd.read_csv(HUB_2025_DIR / "table11_gwp_ar5.csv", keep_default_na=False)
    canonical = _canonical_gas_names(t11["gas"].str.strip(), t11["formula"].str.strip())
    return dict(zip(t11["formula"].str.strip(), canonical, strict=True))


def build_epa_hub_2025() -> pd.DataFrame:
    common = _hub_common("EPA-HUB-2025", "2025", "2025-01-01", "", "AR5")
    return _hub_factors(_hub_2025_tables(), common, "epa-hub-2025", "eGRID2023")


def build_epa_hub_2021() -> pd.DataFrame:
    tables, gwp_set, egrid = _hub_2021_tables()
    # valid until the next Hub edition held in this library (2025).
    common = _hub_common("EPA-HUB-2021", "2021", "2021-01-01", "2025-01-01", gwp_set)
    return _hub_factors(tables, common, "epa-hub-2021", egrid)


# --------------------------------------------------------------------------------------------
# UK DESNZ 2024 flat file
# --------------------------------------------------------------------------------------------

_DESNZ_KEY = ["level_1", "level_2", "level_3", "level_4", "column_text", "uom"]


def _desnz_table() -> pd.DataFrame:
    """kg CO2e rows (with a factor) joined with their per-gas rows, gases as masses."""
    raw = pd.read_csv(DESNZ_CSV, dtype=str, keep_default_na=False)
    raw["value"] = pd.to_numeric(
        raw["factor_2024"].where(raw["factor_2024"].str.strip() != ""), errors="coerce"
    )
    raw["base_id"] = raw["id"].str.rsplit("_", n=1).str[0]
    co2e = raw[raw["ghg_unit"].eq("kg CO2e") & raw["value"].notna()]
    gases = {"CO2": "co2_kg", "CH4": "ch4_kg", "N2O": "n2o_kg"}
    out = co2e.rename(columns={"value": "co2e_kg", "id": "table_ref"})
    for gas, column in gases.items():
        part = raw[raw["ghg_unit"].eq(f"kg CO2e of {gas} per unit")][["base_id", "value"]]
        part = part.assign(**{column: part["value"] / AR5_GWP[gas]})[["base_id", column]]
        out = out.merge(part, on="base_id", how="left", validate="one_to_one")
    label = out["level_1"].str.strip()
    for column in ["level_2", "level_3", "level_4", "column_text"]:
        part = out[column].str.strip()
        label = label + (" > " + part).where(part != "", "")
    out["source_label"] = label
    out["desnz_scope"] = out["scope"]
    return out.drop(columns=["scope"])


def build_desnz_2024() -> pd.DataFrame:
    table = _desnz_table()
    mapping = pd.DataFrame(DESNZ_MAP)
    curated = mapping.merge(table, on=_DESNZ_KEY, how="left", indicator=True)
    unmatched = curated[curated["_merge"] != "both"]
    if len(unmatched):
        raise ValueError(
            f"DESNZ mapping entries without a factor row: {unmatched[_DESNZ_KEY].to_dict('records')}"
        )
    if len(curated) != len(mapping):
        raise ValueError("a DESNZ mapping entry matches more than one factor row")
    curated["region"] = "GB"
    curated["region_level"] = "national"
    gross = curated["uom"].eq("kWh (Gross CV)")
    curated.loc[gross, "notes"] = (curated.loc[gross, "notes"] + "; " + _GROSS_CV_NOTE).str.strip("; ")

    # Waste disposal: every material x method row with a factor, per tonne.
    waste = table[table["level_1"].eq("Waste disposal")].copy()
    material = waste["level_3"].map(DESNZ_WASTE_MATERIALS)
    method = waste["column_text"].map(DESNZ_WASTE_METHODS)
    _require_mapped(material.set_axis(waste["level_3"]), "DESNZ waste material")
    _require_mapped(method.set_axis(waste["column_text"]), "DESNZ waste method")
    waste["activity_type"] = "waste_" + material + "_" + method
    waste = waste.assign(
        scope=3,
        category=5,
        method="",
        unit=waste["uom"].map(DESNZ_UNITS),
        region="GB",
        region_level="national",
        notes="kg CO2e per tonne of waste",
    )

    # Hotel stays: one factor per country with a value (UK (London) is sub-national: skipped).
    hotel = table[table["level_1"].eq("Hotel stay") & table["level_3"].ne("UK (London)")].copy()
    countries = hotel["level_3"].drop_duplicates()
    iso = {
        name: DESNZ_HOTEL_COUNTRIES.get(name) or pycountry.countries.lookup(name).alpha_2
        for name in countries
    }
    hotel = hotel.assign(
        activity_type="hotel_stay",
        scope=3,
        category=6,
        method="",
        unit="room_night",
        region=hotel["level_3"].map(iso),
        region_level="national",
        notes="per room per night",
    )

    rows = pd.concat([curated.drop(columns=["_merge"]), waste, hotel], ignore_index=True)
    declared = rows["desnz_scope"].str.extract(r"Scope (\d)")[0].astype(int)
    if (declared != rows["scope"]).any():
        bad = rows.loc[declared != rows["scope"], "table_ref"].tolist()
        raise ValueError(f"DESNZ rows mapped to a scope other than the one published: {bad}")
    rows["factor_id"] = "desnz-2024/" + rows["table_ref"]
    return _frame(
        rows,
        edition_key="DESNZ-2024",
        source="UK Government GHG Conversion Factors for Company Reporting (DESNZ)",
        edition="2024 v1.1",
        gwp_set="AR5",
        valid_from="2024-01-01",
        valid_to="",
        source_rank=0,
    )


# --------------------------------------------------------------------------------------------
# EPA Supply Chain GHG Emission Factors v1.3 (spend-based)
# --------------------------------------------------------------------------------------------


def build_supply_chain() -> pd.DataFrame:
    raw = pd.read_csv(SUPPLY_CHAIN_CSV, dtype=str, keep_default_na=False)
    if not raw["Unit"].eq("kg CO2e/2022 USD, purchaser price").all():
        raise ValueError("supply chain factors: unexpected unit")
    if not raw["GHG"].eq("All GHGs").all():
        raise ValueError("supply chain factors: expected the CO2e (All GHGs) file")
    naics = raw["2017 NAICS Code"].str.strip()
    rows = pd.DataFrame(
        {
            "factor_id": "epa-sc-1.3/purchased_goods/" + naics,
            "naics_code": naics,
            "source_label": raw["2017 NAICS Title"].str.strip(),
            "table_ref": "NAICS " + naics + " (USEEIO " + raw["Reference USEEIO Code"].str.strip() + ")",
            "co2e_kg": pd.to_numeric(raw["Supply Chain Emission Factors with Margins"]).astype(float),
        }
    )
    return _frame(
        rows,
        edition_key="EPA-SC-1.3",
        source="US EPA Supply Chain GHG Emission Factors for US Commodities (USEEIO)",
        edition="v1.3.0",
        activity_type="purchased_goods",
        scope=3,
        category=1,
        region="US",
        region_level="national",
        unit="USD",
        gwp_set="AR5",
        valid_from="2022-01-01",
        valid_to="",
        source_rank=0,
        notes="kg CO2e per 2022 USD, purchaser price, with margins; GWP set not stated in the file: "
        "AR5-100 per the USEEIO v3.0 GHG model spec in USEPA/supply-chain-factors",
    )


# --------------------------------------------------------------------------------------------
# OWID / Ember country intensity and hourly UK grid intensity
# --------------------------------------------------------------------------------------------


def build_owid() -> pd.DataFrame:
    raw = pd.read_csv(OWID_CSV, dtype={"Entity": str, "Code": str}, keep_default_na=False)
    codes = raw["Code"].str.strip()
    alpha2 = {code: pycountry.countries.get(alpha_3=code) for code in codes.drop_duplicates() if code}
    alpha2 = {code: country.alpha_2 for code, country in alpha2.items() if country is not None}
    alpha2["OWID_WRL"] = "GLOBAL"
    region = codes.map(alpha2)
    keep = region.notna()
    raw, region = raw[keep], region[keep]
    year = raw["Year"].astype(int)
    rows = pd.DataFrame(
        {
            "region": region,
            "region_level": region.eq("GLOBAL").map({True: "global", False: "national"}),
            "source_label": raw["Entity"].str.strip() + " " + year.astype(str),
            "table_ref": "carbon-intensity-electricity " + codes[keep] + " " + year.astype(str),
            "co2e_kg": raw["carbon_intensity"].astype(float) / 1000.0,
            "valid_from": year.astype(str) + "-01-01",
            "valid_to": (year + 1).astype(str) + "-01-01",
        }
    )
    rows["factor_id"] = "owid-2025/electricity/" + rows["region"] + "/" + year.astype(str)
    return _frame(
        rows,
        edition_key="OWID-2025",
        source="Our World in Data, Carbon intensity of electricity (Ember)",
        edition="OWID grapher download (Ember)",
        activity_type="electricity",
        scope=2,
        unit="kWh",
        gwp_set="AR5",
        method="location",
        source_rank=1,
        notes="g CO2e/kWh of generation from the OWID grapher (Ember, life-cycle basis); "
        "GWP set not stated by OWID",
    )


def build_neso_hourly() -> pd.DataFrame:
    raw = pd.read_csv(HOURLY_CSV, usecols=["datetime_utc", "uk_grid_carbon_intensity_kgco2_per_kwh"])
    start = pd.to_datetime(raw["datetime_utc"], format="%Y-%m-%d %H:%M:%S")
    value = raw["uk_grid_carbon_intensity_kgco2_per_kwh"].astype(float)
    keep = value.notna()
    start, value = start[keep], value[keep]
    rows = pd.DataFrame(
        {
            "factor_id": "neso-hourly/electricity/GB/" + start.dt.strftime("%Y-%m-%dT%H"),
            "table_ref": "uk_grid_carbon_intensity_kgco2_per_kwh " + start.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "co2_kg": value,
            "valid_from": start.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "valid_to": (start + pd.Timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    return _frame(
        rows,
        edition_key="NESO-HOURLY",
        source="National Grid ESO historic carbon intensity (via EECi Cambridge Estates archive)",
        edition="2019-2020",
        source_label="UK national grid carbon intensity, hourly",
        activity_type="electricity",
        scope=2,
        region="GB",
        region_level="hourly",
        unit="kWh",
        gwp_set="AR5",
        method="location",
        source_rank=0,
        notes="CO2 only, generation-based",
    )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

_INT_COLUMNS = ["scope", "category", "source_rank"]
_FLOAT_COLUMNS = ["co2_kg", "ch4_kg", "n2o_kg", "co2e_kg"]


def _finalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in _INT_COLUMNS:
        out[column] = pd.to_numeric(out[column]).astype("Int64")
    for column in _FLOAT_COLUMNS:
        out[column] = pd.to_numeric(out[column]).astype("float64")
    text_columns = [c for c in FACTOR_COLUMNS if c not in _INT_COLUMNS + _FLOAT_COLUMNS]
    for column in text_columns:
        out[column] = out[column].fillna("").astype(str)
    out = out.sort_values("factor_id", kind="mergesort").reset_index(drop=True)
    if out["factor_id"].duplicated().any():
        dupes = out.loc[out["factor_id"].duplicated(keep=False), "factor_id"].tolist()
        raise ValueError(f"duplicate factor_id: {dupes[:10]}")
    return out[FACTOR_COLUMNS]


def build_factors() -> pd.DataFrame:
    """All factors of the library, columns FACTOR_COLUMNS, sorted by (unique) factor_id."""
    frames = [
        build_epa_hub_2025(),
        build_epa_hub_2021(),
        build_desnz_2024(),
        build_supply_chain(),
        build_owid(),
        build_neso_hourly(),
    ]
    return _finalise(pd.concat(frames, ignore_index=True))


def build_gwp() -> pd.DataFrame:
    """GWP100 sets: AR5 (EPA Hub 2025 Tables 11-12) and AR4 (EPA Hub 2021 Tables 11-12)."""
    frames = []
    t25 = _hub_2025_tables()
    t21, gwp_set_2021, _ = _hub_2021_tables()
    for tables, gwp_set, source in (
        (t25, "AR5", "US EPA GHG Emission Factors Hub 2025, Tables 11-12 (IPCC AR5)"),
        (t21, gwp_set_2021, f"US EPA GHG Emission Factors Hub 2021, Tables 11-12 (IPCC {gwp_set_2021})"),
    ):
        both = pd.concat([tables["t11"], tables["t12"]], ignore_index=True)
        frames.append(
            pd.DataFrame(
                {"gwp_set": gwp_set, "gas": both["gas"], "gwp": both["gwp"].astype(float), "source": source}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    if out.duplicated(["gwp_set", "gas"]).any():
        raise ValueError("duplicate gas in a GWP set")
    return out.sort_values(["gwp_set", "gas"], kind="mergesort").reset_index(drop=True)


def _mode(series: pd.Series):
    """Most common value; ties broken by the smallest value (deterministic)."""
    counts = series.value_counts()
    top = counts[counts == counts.max()].index
    return sorted(top)[0]


def build_activity_types(factors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per activity_type of factors.csv: scope/category/default_unit = most common."""
    factors = build_factors() if factors is None else factors
    grouped = factors.groupby("activity_type", sort=True)
    scope = grouped["scope"].agg(_mode).astype("Int64")
    category = (
        grouped["category"].agg(lambda s: _mode(s.dropna()) if s.notna().any() else pd.NA).astype("Int64")
    )
    unit = grouped["unit"].agg(_mode)
    first_label = grouped["source_label"].first()
    out = pd.DataFrame(
        {
            "activity_type": scope.index,
            "scope": scope.values,
            "category": category.values,
            "default_unit": unit.values,
        }
    )
    labels = first_label.reindex(out["activity_type"]).values
    out["description"] = [
        _describe(activity, label) for activity, label in zip(out["activity_type"], labels, strict=True)
    ]
    return out


def _describe(activity_type: str, label: str) -> str:
    if activity_type in ACTIVITY_DESCRIPTIONS:
        return ACTIVITY_DESCRIPTIONS[activity_type]
    if activity_type.startswith("refrigerant_"):
        return f"Fugitive release of {label} (kg of gas released)"
    if activity_type.startswith("waste_"):
        return f"Waste treatment: {label.removeprefix('Waste disposal > ').replace(' > ', ', ')}"
    return f"Stationary combustion: {label}"


def to_csv_text(frame: pd.DataFrame) -> str:
    """The exact text written for a frame (floats at full repr precision, NA as empty)."""
    return frame.to_csv(index=False, lineterminator="\n")


def write_all(output_dir: Path = OUTPUT_DIR) -> dict[str, int]:
    output_dir.mkdir(parents=True, exist_ok=True)
    factors = build_factors()
    outputs = {
        "factors.csv": factors,
        "gwp.csv": build_gwp(),
        "activity_types.csv": build_activity_types(factors),
    }
    for name, frame in outputs.items():
        (output_dir / name).write_text(to_csv_text(frame), encoding="utf-8")
    return {name: len(frame) for name, frame in outputs.items()}


if __name__ == "__main__":
    for name, count in write_all().items():
        print(f"wrote data/factors/{name}: {count} rows")
