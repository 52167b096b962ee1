"""Validity windows of editions of one publication: a factor is valid until a newer edition has it.

Every edition of a publication (DESNZ 2019 .. 2024; EPA Hub 2021, 2023, 2024, 2025) is valid from
1 January of its year. A factor of one edition stays valid until the next newer edition *that has a
factor for the same selection key* (activity type, NAICS code, unit dimension, region, region level,
source rank: what :mod:`services.data_core.factors.selection` matches on) starts; with no newer one it
is open-ended ("until superseded"). So the newest edition serves later years until a newer one joins the
library, and a factor a newer edition leaves out (e.g. EPA Hub 2024 rows withdrawn as revised) is still
served by the newest edition that has it.
"""

from __future__ import annotations

import pandas as pd

from services.data_core.units import dimensionality

SELECTION_KEY = ["activity_type", "naics_code", "unit_dim", "region", "region_level", "source_rank"]


def close_superseded(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (editions of one publication, ``valid_to`` empty) with ``valid_to`` = the next newer
    ``valid_from`` of the same selection key, or empty when no newer edition has that key."""
    out = rows.copy()
    dims = {unit: dimensionality(unit) for unit in out["unit"].dropna().unique()}
    keyed = out.assign(unit_dim=out["unit"].map(dims)).fillna({"naics_code": "", "source_rank": 0})
    keyed[SELECTION_KEY] = keyed[SELECTION_KEY].astype(str)
    starts = keyed[[*SELECTION_KEY, "valid_from"]].drop_duplicates()
    starts = starts.sort_values([*SELECTION_KEY, "valid_from"], kind="mergesort")
    starts["next_from"] = starts.groupby(SELECTION_KEY, sort=False)["valid_from"].shift(-1)
    merged = keyed[[*SELECTION_KEY, "valid_from"]].merge(
        starts, on=[*SELECTION_KEY, "valid_from"], how="left", validate="many_to_one"
    )
    out["valid_to"] = merged["next_from"].fillna("").to_numpy()
    return out
