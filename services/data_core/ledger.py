"""The calculation ledger: emission rows computed from activities and their selected factors.

Arithmetic of one row (all of it is on the row and its factor, so it can be recomputed):

    quantity_converted = quantity [activity unit] x unit conversion to the factor's unit
    kg_co2 = quantity_converted x co2_kg        (likewise kg_ch4, kg_n2o: masses of each gas)
    kg_co2e = quantity_converted x co2e_kg      when the source publishes CO2e
            = kg_co2 + GWP(CH4) x kg_ch4 + GWP(N2O) x kg_n2o   otherwise, with the factor's GWP set
    kg_co2e_market (scope 2) = quantity x (1 - renewable_share) x supplier factor, or the
            location-based figure x (1 - renewable_share) when the site has no supplier factor;
            other scopes: = kg_co2e
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select, update

from services.common.errors import NotFound
from services.data_core import units
from services.data_core.factors.selection import explain_missing, select_factors, select_market_factors
from services.data_core.factors.store import FactorTable, gwp_vector
from services.data_core.models import LedgerVersion

# what a ledger row stores; calculate() also returns site_id, activity_type and period_start (for the rollup)
EMISSION_COLUMNS = [
    "version_id", "activity_id", "scope", "category",
    "factor_id", "selection", "gwp_set", "quantity_converted", "kg_co2", "kg_ch4",
    "kg_n2o", "kg_co2e", "market_factor_id", "renewable_share", "kg_co2e_market",
]


def _conversion(from_units: pd.Series, to_units: pd.Series) -> np.ndarray:
    pairs = pd.DataFrame({"f": from_units.astype(str).to_numpy(), "t": to_units.astype(str).to_numpy()})
    unique = pairs.drop_duplicates()
    unique["m"] = [units.conversion_factor(f, t) for f, t in zip(unique["f"], unique["t"], strict=True)]
    return pairs.merge(unique, on=["f", "t"], how="left")["m"].to_numpy(dtype=float)


def calculate(
    activities: pd.DataFrame,
    table: FactorTable,
    *,
    version_id: int,
    applied_editions: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.Series]:
    """Emission rows for ``activities`` and, for the ones without a factor, the reason.

    ``activities`` needs: activity_id, site_id, org_id, country, grid_region, renewable_share,
    activity_type, naics_code, period_start, period_end, quantity, unit, unit_dim, scope3_category.
    """
    factors = table.frame
    chosen = select_factors(activities, factors, applied_editions=applied_editions)
    missing = chosen["factor_id"].isna()
    reasons = explain_missing(activities[missing], factors) if missing.any() else pd.Series(dtype=object)
    acts = activities[~missing]
    if acts.empty:
        return pd.DataFrame(columns=[*EMISSION_COLUMNS, "site_id", "activity_type", "period_start", "edition_key"]), reasons
    fcols = ["factor_id", "unit", "co2_kg", "ch4_kg", "n2o_kg", "co2e_kg", "gwp_set", "scope", "category", "edition_key"]
    f = factors.set_index("factor_id")[fcols[1:]]
    sel = chosen.loc[acts.index]
    fac = f.reindex(sel["factor_id"].to_numpy())
    qc = acts["quantity"].to_numpy(dtype=float) * _conversion(acts["unit"], fac["unit"])
    co2 = qc * fac["co2_kg"].to_numpy(dtype=float)
    ch4 = qc * fac["ch4_kg"].to_numpy(dtype=float)
    n2o = qc * fac["n2o_kg"].to_numpy(dtype=float)
    gwp_sets = fac["gwp_set"].reset_index(drop=True)
    from_gases = (np.nan_to_num(co2) + gwp_vector(table, gwp_sets, "CH4") * np.nan_to_num(ch4)
                  + gwp_vector(table, gwp_sets, "N2O") * np.nan_to_num(n2o))
    published = fac["co2e_kg"].to_numpy(dtype=float)
    co2e = np.where(np.isnan(published), from_gases, qc * published)

    scope = fac["scope"].to_numpy(dtype=int)
    factor_category = fac["category"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    record_category = acts["scope3_category"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    category = np.where((scope == 3) & ~np.isnan(record_category), record_category, factor_category)

    share = acts["renewable_share"].fillna(0.0).to_numpy(dtype=float)
    is_s2 = scope == 2
    market_id = pd.Series(np.nan, index=acts.index, dtype=object)
    market_co2e = co2e.copy()
    if is_s2.any():
        s2 = acts[is_s2]
        market_id.loc[s2.index] = select_market_factors(s2, factors)
        has = market_id.notna().to_numpy()
        mf = f.reindex(market_id[has].to_numpy())
        if has.any():
            mq = acts.loc[has, "quantity"].to_numpy(dtype=float) * _conversion(acts.loc[has, "unit"], mf["unit"])
            m_pub = mf["co2e_kg"].to_numpy(dtype=float)
            m_gas = np.nan_to_num(mf["co2_kg"].to_numpy(dtype=float))
            market_co2e[has] = mq * np.where(np.isnan(m_pub), m_gas, m_pub)
        market_co2e = np.where(is_s2, market_co2e * (1.0 - share), co2e)
    out = pd.DataFrame({
        "version_id": version_id,
        "activity_id": acts["activity_id"].to_numpy(dtype=np.int64),
        "site_id": acts["site_id"].to_numpy(),
        "scope": scope,
        "category": pd.array(np.where(np.isnan(category), None, category), dtype="Int64"),
        "activity_type": acts["activity_type"].to_numpy(),
        "period_start": acts["period_start"].to_numpy(),
        "factor_id": sel["factor_id"].to_numpy(),
        "selection": sel["selection"].to_numpy(),
        "gwp_set": fac["gwp_set"].to_numpy(),
        "quantity_converted": qc,
        "kg_co2": co2,
        "kg_ch4": ch4,
        "kg_n2o": n2o,
        "kg_co2e": co2e,
        "market_factor_id": market_id.to_numpy(),
        "renewable_share": np.where(is_s2, share, 0.0),
        "kg_co2e_market": market_co2e,
        "edition_key": fac["edition_key"].to_numpy(),  # for the rollup, not stored on the row
    })
    return out, reasons


def current_version(conn: Connection, *, lock: bool = False) -> int:
    stmt = select(LedgerVersion.id).where(LedgerVersion.is_current.is_(True))
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    found = conn.execute(stmt).scalar()
    if found is None:
        conn.execute(LedgerVersion.__table__.insert().values(
            id=1, description="initial ledger: period-correct factors", parent_id=None,
            applied_editions=[], filters={}, is_current=True))
        return 1
    return int(found)


def resolve_version(conn: Connection, version: int | None) -> int:
    if version is None:
        return current_version(conn)
    exists = conn.execute(select(LedgerVersion.id).where(LedgerVersion.id == version)).scalar()
    if exists is None:
        raise NotFound(f"ledger version {version} does not exist", version=version)
    return int(version)


def set_current(conn: Connection, version_id: int) -> None:
    conn.execute(update(LedgerVersion).values(is_current=False).where(LedgerVersion.is_current.is_(True)))
    conn.execute(update(LedgerVersion).values(is_current=True).where(LedgerVersion.id == version_id))
