"""The contract of the factor library: one row per published factor, normalised from its source.

The build (``python -m tools.factor_build``) writes ``data/factors/factors.csv`` with exactly
these columns; the data core loads that file into its ``emission_factors`` table. Factors are
immutable: a new edition adds rows, it never edits old ones.
"""

from __future__ import annotations

FACTOR_COLUMNS: list[str] = [
    "factor_id",      # stable, unique, e.g. "epa-hub-2025/t1/natural_gas/mmBtu"
    "edition_key",    # what a user applies on purpose: EPA-HUB-2021|2023|2024|2025, DESNZ-2019 .. DESNZ-2024, EPA-SC-1.3, OWID-2025, NESO-HOURLY
    "source",         # publisher and publication, e.g. "US EPA GHG Emission Factors Hub"
    "edition",        # as published: "2025", "2021", "2024 v1.1", "v1.3.0", ...
    "table_ref",      # table or row id in the source, e.g. "Table 1 Stationary Combustion", DESNZ id "1_100_1004_7_1"
    "source_label",   # the source's own wording of the row (fuel type, DESNZ level path, NAICS title)
    "activity_type",  # canonical activity type (data/factors/activity_types.csv)
    "naics_code",     # 6-digit NAICS for spend-based factors, else empty
    "scope",          # 1, 2 or 3
    "category",       # GHG Protocol Scope 3 category 1..15 (empty for scope 1/2); scope 3 cat 3 for T&D losses
    "region",         # ISO 3166-1 alpha-2 ("US", "GB"), eGRID subregion ("CAMX"), or "GLOBAL"
    "region_level",   # hourly | subnational | national | global
    "unit",           # denominator as a pint expression understood by services.data_core.units ("mmBtu", "kWh", "passenger * mile")
    "co2_kg",         # kg CO2 per unit (mass of the gas), empty when not published
    "ch4_kg",         # kg CH4 per unit (mass of the gas)
    "n2o_kg",         # kg N2O per unit (mass of the gas)
    "co2e_kg",        # kg CO2e per unit as published; empty when CO2e is computed from the gases with gwp_set
    "gwp_set",        # AR4 | AR5: the GWP set of co2e_kg, or the one to use with the per-gas values
    "valid_from",     # ISO date or datetime (UTC), inclusive
    "valid_to",       # ISO date or datetime (UTC), exclusive; empty = until superseded
    "method",         # scope 2: "location" (grid average) or "market"; empty otherwise
    "source_rank",    # 0 = official government publication, 1 = secondary dataset (OWID/Ember): tie-break within a level
    "notes",          # anything a reviewer must know (e.g. "CO2 only", "2022 USD purchaser price")
]

REGION_LEVELS = ("hourly", "subnational", "national", "global")
