"""Period-correct, prioritised factor selection, vectorised with ``merge_asof``.

For every activity the first pass that finds a factor wins:

1. custom factors of the site, then of the organisation (location-based or non-scope-2);
2. editions the user applies on purpose (``applied_editions``), whatever their validity period;
3. hourly grid factors (only for activities of one hour or less), keyed by grid region or country;
4. sub-national factors (e.g. an eGRID subregion) keyed by the site's grid region;
5. national factors of the site's country, official publications before secondary datasets;
6. global factors.

Within a pass the factor must match the activity type, the NAICS code (spend) and the physical
dimension of the activity's unit, and (except for applied editions) be valid at the start of the
activity's period: ``valid_from <= period_start < valid_to``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

BY = ["activity_type", "naics_code", "unit_dim", "region"]
OPEN_END = pd.Timestamp("9999-12-31")
ONE_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Pass:
    name: str
    factor_mask: pd.Series
    region_key: pd.Series  # per activity; NaN = pass not applicable
    check_validity: bool = True
    only_short_periods: bool = False


def _asof(todo: pd.DataFrame, factors: pd.DataFrame, region: pd.Series, *, check_validity: bool,
          direction: str = "backward") -> pd.Series:
    """factor_id per row of ``todo`` (index-aligned, NaN where none)."""
    left = todo[["period_start", "activity_type", "naics_code", "unit_dim"]].copy()
    left["region"] = region.reindex(todo.index)
    left = left[left["region"].notna()]
    if left.empty or factors.empty:
        return pd.Series(np.nan, index=todo.index, dtype=object)
    for col in BY:
        left[col] = left[col].astype(str)
    left["_row"] = left.index
    left = left.sort_values("period_start", kind="stable")
    right = factors[["valid_from", "valid_to", "factor_id", *BY]].copy()
    for col in BY:
        right[col] = right[col].astype(str)
    # deterministic choice when two factors share a key and a start: the smallest factor id wins
    right = right.sort_values(["valid_from", "factor_id"], ascending=[True, False], kind="stable")
    merged = pd.merge_asof(
        left, right, left_on="period_start", right_on="valid_from", by=BY, direction=direction,
        allow_exact_matches=True,
    )
    ok = merged["factor_id"].notna()
    if check_validity:
        ok &= merged["period_start"] < merged["valid_to"]
    found = pd.Series(merged["factor_id"].where(ok).to_numpy(), index=merged["_row"].to_numpy(), dtype=object)
    return found.reindex(todo.index)


def select_factors(
    activities: pd.DataFrame,
    factors: pd.DataFrame,
    *,
    applied_editions: Sequence[str] = (),
) -> pd.DataFrame:
    """Choose one factor per activity.

    ``activities`` needs: activity_type, naics_code, unit_dim, period_start, period_end, site_id,
    org_id, country, grid_region. Returns a frame on the same index with ``factor_id`` (NaN when
    nothing matched) and ``selection`` (the pass that matched).
    """
    acts = activities
    short = (acts["period_end"] - acts["period_start"]) <= ONE_HOUR
    grid_or_country = acts["grid_region"].where(acts["grid_region"].notna() & (acts["grid_region"] != ""), acts["country"])
    subnational = acts["grid_region"].where(
        acts["grid_region"].notna() & (acts["grid_region"] != "") & (acts["grid_region"] != acts["country"])
    )
    location = factors["method"] != "market"
    level = factors["region_level"]
    passes: list[Pass] = [
        Pass("custom-site", location & (level == "custom"), "site:" + acts["site_id"].astype(str)),
        Pass("custom-org", location & (level == "custom"), "org:" + acts["org_id"].astype(str)),
    ]
    if applied_editions:
        applied = factors["edition_key"].isin(list(applied_editions)) & location
        for lvl, region in (
            ("hourly", grid_or_country.where(short)),
            ("subnational", subnational),
            ("national", acts["country"]),
            ("global", pd.Series("GLOBAL", index=acts.index)),
        ):
            passes.append(Pass(f"applied:{lvl}", applied & (level == lvl), region, check_validity=False))
    passes += [
        Pass("hourly", location & (level == "hourly"), grid_or_country.where(short)),
        Pass("subnational", location & (level == "subnational"), subnational),
        Pass("national", location & (level == "national") & (factors["source_rank"] == 0), acts["country"]),
        Pass("national-secondary", location & (level == "national") & (factors["source_rank"] > 0), acts["country"]),
        Pass("global", location & (level == "global"), pd.Series("GLOBAL", index=acts.index)),
    ]
    factor_id = pd.Series(np.nan, index=acts.index, dtype=object)
    selection = pd.Series("", index=acts.index, dtype=object)
    keys = acts[["period_start", "activity_type", "naics_code", "unit_dim"]]  # what _asof needs, once
    for p in passes:
        todo_mask = factor_id.isna()
        if not todo_mask.any():
            break
        cand = factors[p.factor_mask]
        if cand.empty:
            continue
        todo = keys[todo_mask]
        region = p.region_key[todo_mask]
        if p.check_validity:
            found = _asof(todo, cand, region, check_validity=True)
        else:
            found = _asof(todo, cand, region, check_validity=False)
            missing = found.isna()
            if missing.any():  # an applied edition newer than the activity: take its earliest factor
                later = _asof(todo[missing], cand, region[missing], check_validity=False, direction="forward")
                found = found.where(~missing, later)
        hit = found.notna()
        if hit.any():
            idx = found.index[hit]
            factor_id.loc[idx] = found[hit]
            selection.loc[idx] = p.name
    return pd.DataFrame({"factor_id": factor_id, "selection": selection}, index=acts.index)


def select_market_factors(activities: pd.DataFrame, factors: pd.DataFrame) -> pd.Series:
    """Supplier-specific (market-based) factor per scope-2 activity: the site's, else the organisation's."""
    market = factors[(factors["method"] == "market") & (factors["region_level"] == "custom")]
    result = pd.Series(np.nan, index=activities.index, dtype=object)
    if market.empty or activities.empty:
        return result
    for key in ("site:" + activities["site_id"].astype(str), "org:" + activities["org_id"].astype(str)):
        todo = result.isna()
        if not todo.any():
            break
        found = _asof(activities[todo], market, key[todo], check_validity=True)
        result = result.where(~todo, found)
    return result


def _nearest_edition(candidates: pd.DataFrame, start: pd.Timestamp) -> str:
    """The hint for an activity no factor is valid for: the edition whose validity is nearest to its
    start (a tie goes to the later edition), with its period and how to apply it on purpose."""
    valid_to = candidates["valid_to"].fillna(OPEN_END)
    spans = candidates.assign(valid_to=valid_to).groupby("edition_key").agg(
        valid_from=("valid_from", "min"), valid_to=("valid_to", "max"))
    gap = np.where(spans["valid_from"] > start, spans["valid_from"] - start, start - spans["valid_to"])
    spans = spans.assign(gap=pd.to_timedelta(gap)).sort_values(["gap", "valid_from"], ascending=[True, False])
    key, best = spans.index[0], spans.iloc[0]
    until = "open-ended" if best["valid_to"] >= OPEN_END else f"until {best['valid_to']:%Y-%m-%d}"
    others = ", ".join(k for k in sorted(spans.index) if k != key)
    text = (f"; the nearest edition is {key} (valid from {best['valid_from']:%Y-%m-%d}, {until}); "
            f"to use it for this period on purpose, send editions={key}")
    return text + (f" (other editions for this region: {others})" if others else "")


def explain_missing(activities: pd.DataFrame, factors: pd.DataFrame) -> pd.Series:
    """A reason per activity that had no factor, naming activity, unit, region and period, with a
    hint of what the library does have: for a period no edition covers, the nearest edition and the
    ``editions=`` parameter that applies it on purpose. Computed per distinct combination, not per row
    (the nearest edition is judged from the first activity of the combination's year)."""
    keys = ["activity_type", "unit", "unit_dim", "country", "grid_region"]
    acts = activities.reset_index(drop=True)
    acts["grid_region"] = acts["grid_region"].fillna("")
    acts["_year"] = acts["period_start"].dt.year
    combos = acts[keys + ["_year"]].drop_duplicates()
    combos["_start"] = acts.loc[combos.index, "period_start"]
    reasons: dict[tuple, str] = {}
    for row in combos.itertuples(index=False):
        activity_type, unit, dim, country, grid = row[0], row[1], row[2], row[3], row[4]
        year = row[5]
        region = f"{grid}/{country}" if grid and grid != country else country
        text = (f"no emission factor for activity '{activity_type}' in unit '{unit}' for region {region} "
                f"in {year}")
        same = factors[factors["activity_type"] == activity_type]
        if same.empty:
            text += "; the factor library has no factors for this activity type"
        else:
            dims = same[same["unit_dim"] == dim]
            if dims.empty:
                text += "; factors for it exist in units " + ", ".join(sorted(same["unit"].unique())[:6])
            else:
                here = dims[dims["region"].isin([country, grid, "GLOBAL"])]
                if here.empty:
                    text += "; factors for it exist for regions " + ", ".join(sorted(dims["region"].unique())[:8])
                else:
                    text += _nearest_edition(here, row[6])
        reasons[(activity_type, unit, dim, country, grid, year)] = text
    combos = combos.drop(columns="_start")
    combos["reason"] = list(reasons.values())
    merged = acts[keys + ["_year"]].merge(combos, on=keys + ["_year"], how="left")
    return pd.Series(merged["reason"].to_numpy(), index=activities.index, dtype=object)
