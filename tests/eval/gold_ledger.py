"""Gold answers that rest on the ledger (emissions, emission intensity) and on the factor library (factor
questions), for the `want` specs of the chatbot evaluation (tests/eval/freeform/README.md).

The ledger's audited rows are read once through ``GET /api/v1/emissions/audit`` (the trail of a total: every
row with its activity, factor and arithmetic; CSV pages of 10,000 rows, site by site) and summed here with
pandas. Nothing here calls ``/emissions/totals``, ``/timeseries`` or ``/top`` (the chatbot's sources), so a
bug in those queries or in the chatbot cannot move the gold. Factor questions take their gold from
``GET /api/v1/factors/resolve`` (the factor the library selects for the activity, region and period, with the
editions the ledger applied) and, for factors that vary by the hour (the GB grid), also accept the ledger's
effective factor over the period (kg CO2e / kWh of the audited rows).

Conventions (the same as ``freeform/gold_raw.py``):
* Periods are UTC, half-open; a row longer than the period asked (a quarterly or annual sample row) is
  prorated by time, one inside it counts whole.
* ``sites: all`` = every row of the ledger; ``tag:<tag>`` = the sites of the data core with that tag.
* Emissions in t CO2e (``unit: t``, default) or kg CO2e; ``method: market`` sums ``kg_co2e_market``.
* Emission intensity = kg CO2e (location-based) / gross internal area (m2) of the building metadata.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from tests.eval.freeform import gold_raw
from tests.eval.freeform.gold_raw import period_bounds

KEEP = ["site_id", "scope", "category", "activity_type", "period_start", "period_end", "quantity", "unit",
        "quantity_converted", "factor_id", "source", "edition", "edition_key", "region", "co2e_kg", "co2_kg",
        "factor_unit", "kg_co2e", "kg_co2e_market"]
PAGE = 10_000
T_PER_KG = {"t": 1e-3, "kg": 1.0}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class LedgerGold:
    """The audited rows of the current ledger version and the gold answers computed from them."""

    def __init__(self, client: httpx.Client, cache: Path | None = None) -> None:
        self.client = client
        self.sites = client.get("/api/v1/sites").raise_for_status().json()
        self.rows = self._load(cache)
        self._resolved: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------------------------------------ reading
    def _head(self) -> dict[str, Any]:
        return dict(self.client.get("/api/v1/emissions/audit", params={"limit": 1}).raise_for_status().json())

    def _load(self, cache: Path | None) -> pd.DataFrame:
        head = self._head()
        key = f"v{head['ledger_version']}-n{head['row_count']}"
        if cache is not None:
            path = cache.with_name(f"{cache.stem}.{key}.parquet")
            if path.exists():
                return pd.read_parquet(path)
        frames = [self._site_rows(site["id"]) for site in self.sites]
        rows = pd.concat([f for f in frames if not f.empty], ignore_index=True)
        if len(rows) != head["row_count"]:
            raise RuntimeError(f"read {len(rows)} audited rows, the ledger holds {head['row_count']}")
        for col in ("period_start", "period_end"):
            rows[col] = pd.to_datetime(rows[col])
        for col in ("scope", "category"):
            rows[col] = pd.to_numeric(rows[col], errors="coerce")
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(cache.with_name(f"{cache.stem}.{key}.parquet"), index=False)
        return rows

    def _site_rows(self, site: str) -> pd.DataFrame:
        pages = []
        offset = 0
        while True:
            r = self.client.get("/api/v1/emissions/audit", params={"site": site, "limit": PAGE, "offset": offset,
                                                                   "format": "csv"})
            r.raise_for_status()
            if not r.content.strip():
                break
            page = pd.read_csv(io.BytesIO(r.content), usecols=lambda c: c in KEEP, low_memory=False)
            pages.append(page)
            if len(page) < PAGE:
                break
            offset += PAGE
        return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame(columns=KEEP)

    # ---------------------------------------------------------------------------------------- selection
    def site_ids(self, spec: Any) -> list[str] | None:
        """The sites of a ``sites`` spec (None = every row)."""
        if spec in (None, "all"):
            return None
        if isinstance(spec, str) and spec.startswith("tag:"):
            tag = spec.split(":", 1)[1]
            return [s["id"] for s in self.sites if tag in (s.get("tags") or [])]
        return [str(s) for s in _as_list(spec)]

    def select(self, want: dict[str, Any], period: str, sites: Any = None) -> pd.DataFrame:
        """The rows of ``want``'s filters in ``period``, with ``share`` = the part of each row in the period."""
        rows = self.rows
        mask = pd.Series(True, index=rows.index)
        if want.get("activity"):
            mask &= rows["activity_type"].isin(_as_list(want["activity"]))
        if want.get("scope"):
            mask &= rows["scope"].isin([int(s) for s in _as_list(want["scope"])])
        if want.get("category"):
            mask &= rows["category"].isin([int(c) for c in _as_list(want["category"])])
        ids = self.site_ids(want.get("sites") if sites is None else sites)
        if ids is not None:
            mask &= rows["site_id"].isin(ids)
        start, end = period_bounds(str(period))
        mask &= (rows["period_start"] < end) & (rows["period_end"] > start)
        out = rows.loc[mask].copy()
        span = (out["period_end"] - out["period_start"]).dt.total_seconds()
        overlap = (out["period_end"].clip(upper=end) - out["period_start"].clip(lower=start)).dt.total_seconds()
        out["share"] = (overlap / span.where(span > 0)).fillna(1.0).clip(0.0, 1.0)
        return out

    def emissions_by(self, want: dict[str, Any], period: str, by: str | None = None, method: str | None = None,
                     sites: Any = None) -> Any:
        """kg CO2e of the rows of ``want`` in ``period`` (a total, or a Series by site / activity)."""
        rows = self.select(want, period, sites)
        column = "kg_co2e_market" if (method or want.get("method", "location")) == "market" else "kg_co2e"
        kg = rows[column].astype(float) * rows["share"]
        if by is None:
            return float(kg.sum())
        return kg.groupby(rows[{"site": "site_id", "activity": "activity_type"}[by]]).sum()

    # ---------------------------------------------------------------------------------------- the gold
    def gold(self, want: dict[str, Any]) -> Any:
        """The gold of an emissions, emission-intensity or factor question (None for the others)."""
        measure = want.get("measure")
        if measure == "factor":
            return self.factor(want)
        if not (measure == "emissions" or (measure == "intensity" and want.get("of") == "emissions")):
            return None
        answer = want.get("answer", "value")
        scale = T_PER_KG[want.get("unit", "t")] if measure == "emissions" else 1.0
        if measure == "intensity":
            site = self.site_ids(want["sites"])[0]  # type: ignore[index]
            return self.emissions_by(want, want["period"], method="location") / self.area(site)
        if answer == "compare":
            return self._compare(want, scale)
        if answer == "rank":
            ranked = self.emissions_by(want, want["period"], by="site").sort_values(ascending=want["order"] == "bottom")
            return [(s, float(v) * scale) for s, v in ranked.head(want["n"]).items()]
        if answer == "breakdown":
            by = want["by"]
            if by in ("site", "activity"):
                parts = self.emissions_by(want, want["period"], by=by)
                return {str(k): float(v) * scale for k, v in parts.items() if v != 0}
            start, end = period_bounds(want["period"])
            freq = {"month": "M", "quarter": "Q"}[by]
            return {str(p): self.emissions_by(want, str(p)) * scale
                    for p in pd.period_range(start, end - pd.Timedelta(hours=1), freq=freq)}
        return self.emissions_by(want, want["period"]) * scale

    def _compare(self, want: dict[str, Any], scale: float) -> dict[str, Any]:
        periods = _as_list(want["period"])
        methods = _as_list(want.get("method"))
        if len(periods) == 2:
            a, b = (self.emissions_by(want, str(p)) * scale for p in periods)
            return {"values": [a, b], "change_pct": (b - a) / a * 100.0 if a else float("nan")}
        if len(methods) == 2:
            return {"values": [self.emissions_by(want, str(periods[0]), method=m) * scale for m in methods]}
        return {"values": [self.emissions_by(want, str(periods[0]), sites=[s]) * scale for s in want["sites"]]}

    def area(self, site: str) -> float:
        areas = gold_raw.areas()
        if site in areas:
            return float(areas[site])
        return float(next(s["floor_area_m2"] for s in self.sites if s["id"] == site))

    def factor(self, want: dict[str, Any]) -> dict[str, Any]:
        """The factor of an activity in a region and period: ``values`` (kg CO2e per unit) a right answer may
        give, ``unit`` and ``source`` with its ``names`` (words a right answer cites the source by)."""
        activity = str(want["activity"])
        region = str(want.get("region", "GB"))
        rows = self.select({"activity": activity}, str(want["period"]))
        rows = rows[rows["region"] == region] if (rows["region"] == region).any() else rows
        if rows.empty:
            raise LookupError(f"no ledger row of {activity} in {region} for {want['period']}")
        start, _end = period_bounds(str(want["period"]))
        first = rows.iloc[0]
        resolved = self.resolve(str(first["site_id"]), activity, str(first["unit"]), start.isoformat(),
                                sorted(set(rows["edition_key"].dropna())))
        factor = resolved["factor"]
        values = [f for f in (factor.get("co2e_kg"), factor.get("co2_kg")) if f is not None][:1]
        if rows["factor_id"].nunique() > 1:  # a factor by the hour: the ledger's effective one over the period
            values.append(float((rows["kg_co2e"] * rows["share"]).sum()
                                / (rows["quantity_converted"] * rows["share"]).sum()))
        return {"values": [float(v) for v in values], "unit": factor["unit"], "source": factor["source"],
                "edition": factor["edition"], "factor_id": factor["factor_id"],
                "names": source_names(factor["source"], factor["edition_key"])}

    def resolve(self, site: str, activity: str, unit: str, at: str, editions: Iterable[str]) -> dict[str, Any]:
        key = (site, activity, unit, at)
        if key not in self._resolved:
            params: list[tuple[str, str]] = [("site", site), ("activity_type", activity), ("unit", unit), ("at", at)]
            params += [("editions", e) for e in editions if not e.startswith(("NESO", "CUSTOM", "SITE"))]
            r = self.client.get("/api/v1/factors/resolve", params=params)
            if r.status_code == 422:  # an edition the resolver does not apply by name: the library's choice
                r = self.client.get("/api/v1/factors/resolve", params=params[:4])
            self._resolved[key] = dict(r.raise_for_status().json())
        return self._resolved[key]


def source_names(source: str, edition_key: str) -> list[str]:
    """Words a right answer may name a factor's source by: the edition's publisher (DESNZ, NESO, EPA...),
    the acronyms of the source's name and its leading words."""
    names = {edition_key.split("-")[0]}
    names |= {w.strip("(),") for w in source.split() if len(w.strip("(),")) >= 3 and w.strip("(),").isupper()}
    names.add(" ".join(source.split()[:3]))
    if names & {"DESNZ", "BEIS"}:
        names |= {"DESNZ", "BEIS", "UK Government", "conversion factors"}
    if "NESO" in names or "ESO" in names:
        names |= {"NESO", "National Grid", "grid carbon intensity"}
    return sorted(n for n in names if n)


def gold_of(want: dict[str, Any], ledger: LedgerGold | None) -> Any:
    """The gold of any answerable question: consumption from the raw files, emissions and factors from the
    ledger (None for explain, decline and clarify)."""
    if want.get("answer", "value") in ("explain", "decline", "clarify"):
        return None
    if want.get("answer") == "rank":  # every site in order: the scorer takes the first n and their ties
        want = {**want, "n": 100_000}
    raw = gold_raw.gold(want)
    if raw is not None:
        return raw
    if ledger is None:
        raise ValueError("an emissions or factor question needs the ledger")
    return ledger.gold(want)
