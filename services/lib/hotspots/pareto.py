"""Emission-total hotspots: the Pareto set of (site, category) and the ones that grew most."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from services.lib.hotspots.config import TOTALS_COLUMNS, Hotspot
from services.lib.hotspots.grid import _r, _severity


def _utc(value: datetime | pd.Timestamp, name: str) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return stamp.tz_convert("UTC").to_pydatetime()


def _totals(frame: pd.DataFrame, name: str) -> pd.Series:
    missing = [c for c in TOTALS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s): {', '.join(missing)}")
    kg = pd.to_numeric(frame["kg"], errors="raise").astype(float)
    keyed = pd.DataFrame({"site": frame["site"].astype(str), "category": frame["category"].astype(str), "kg": kg})
    return keyed.groupby(["site", "category"], sort=True)["kg"].sum()


def pareto(current: pd.DataFrame, previous: pd.DataFrame | None = None, *, period_start: datetime | pd.Timestamp,
           period_end: datetime | pd.Timestamp, share: float = 0.8, top_growth: int = 5) -> list[Hotspot]:
    """Emission-total hotspots of a period: ``pareto`` = the smallest set of (site, category) making up at
    least ``share`` of the current positive emissions (largest first); ``growth`` = the ``top_growth``
    (site, category) whose kg grew most vs ``previous`` (positive growth only; absent before = 0 kg).

    ``current``/``previous``: columns site, category, kg (several rows of a key are summed). The category
    is reported in ``activity_type``; ``period_start``/``period_end`` (UTC) are the current period."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    cur = _totals(current, "current")
    prev = _totals(previous, "previous") if previous is not None else None
    start, end = _utc(period_start, "period_start"), _utc(period_end, "period_end")
    out: list[Hotspot] = []
    positive = cur[cur > 0].sort_values(ascending=False, kind="stable")
    total = float(positive.sum())
    if total > 0:
        cum = positive.cumsum() / total
        n_top = int(np.searchsorted(cum.to_numpy(), share - 1e-12, side="left")) + 1
        top = positive.iloc[:n_top]
        sites, cats = top.index.get_level_values(0), top.index.get_level_values(1)
        for rank, (site, category, kg) in enumerate(zip(sites, cats, top.to_numpy(), strict=True), start=1):
            out.append(Hotspot("pareto", str(site), "", str(category), start, end, False, "low",
                               0.0, None, None, {"kg": _r(kg, 3), "share": _r(kg / total), "rank": rank,
                                                 "cumulative_share": _r(cum.iloc[rank - 1]),
                                                 "total_kg": _r(total, 3), "target_share": share,
                                                 "items": n_top, "category": str(category)}))
    if prev is not None and top_growth > 0:
        both = pd.concat({"current": cur, "previous": prev}, axis=1).fillna(0.0)
        both["growth"] = both["current"] - both["previous"]
        grew = both[both["growth"] > 0].sort_values("growth", ascending=False, kind="stable").head(top_growth)
        rows = zip(grew.index.get_level_values(0), grew.index.get_level_values(1), grew["previous"].to_numpy(),
                   grew["current"].to_numpy(), grew["growth"].to_numpy(), strict=True)
        for rank, (site, category, before, now, growth) in enumerate(rows, start=1):
            out.append(Hotspot("growth", str(site), "", str(category), start, end, False,
                               _severity(growth / before if before > 0 else math.inf, (0.25, 0.5, 1.0)),
                               0.0, round(growth, 3), None,
                               {"current_kg": _r(now, 3), "previous_kg": _r(before, 3), "growth_kg": _r(growth, 3),
                                "growth_ratio": _r(growth / before) if before > 0 else None, "rank": rank,
                                "category": str(category)}))
    return out
