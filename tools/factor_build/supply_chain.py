"""US EPA Supply Chain GHG Emission Factors v1.3 (USEEIO): spend-based factors per NAICS-6 code."""

from __future__ import annotations

import pandas as pd

from tools.factor_build.common import SUPPLY_CHAIN_CSV, frame


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
    return frame(
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
