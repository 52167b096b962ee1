"""Emissions of a period with the readings longer than it prorated by time (issue #19).

The ledger counts an activity in the period it starts (``/emissions/totals``, ``/timeseries``): an annual
purchased-goods row falls whole into Q1, a quarterly fleet row whole into its first month. Asked about a
quarter or a month, the chatbot gives the part of such rows inside the period instead: the ledger's total,
minus the rows that start in the period but end after it, plus their share by time (and the share of rows
that started before it). Only rows that cross the period's edges change anything; they are found in the
ledger's own audit trail, cited:

* readings in energy units longer than a day (bills) through ``GET /api/v1/bills`` (site, start, end), then
  each crossing bill's ledger row through ``GET /api/v1/emissions/audit`` (its location- and market-based kg);
* activities in other units (litres, passenger-km, room nights, spend: never hourly meter readings) through
  ``GET /api/v1/emissions/audit`` over the year before the period and the period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.rag.datacore import DataCoreClient

CONSUMPTION = ("electricity", "natural_gas")
ISO = "%Y-%m-%dT%H:%M:%S"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "")[:19])


def edges_of(start: datetime, end: datetime, interval: str | None = None) -> list[datetime]:
    """The period's start and end, and with ``interval`` (month, quarter) every bucket start inside it."""
    edges = [start, end]
    if interval in ("month", "quarter"):
        step = 3 if interval == "quarter" else 1
        t = _add_months(_bucket_start(start, step), step)
        while t < end:
            edges.append(t)
            t = _add_months(t, step)
    return edges


def crossing_rows(dc: DataCoreClient, params: dict[str, Any], interval: str | None = None
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ledger rows of the selection ``params`` (start, end, scope, site, activity_type, category) that cross the
    period's start or end (with ``interval``: or a bucket's), and the citations of the queries that found them."""
    start, end = parse_time(params["start"]), parse_time(params["end"])
    edges = edges_of(start, end, interval)
    wanted = params.get("activity_type") or dc.activity_types()
    if params.get("scope"):  # only the activity types of the scopes asked (no bill lookup for scope 3)
        scopes = dc.activity_scopes()
        wanted = [a for a in wanted if scopes.get(a) in params["scope"] or a not in scopes]
    filters = {k: params.get(k) for k in ("scope", "site", "category")}
    rows: list[dict[str, Any]] = []
    citations: list[dict[str, Any]] = []
    other = [a for a in wanted if a not in CONSUMPTION]
    if other:
        body, citation = dc.get("/api/v1/emissions/audit", {**filters, "activity_type": other, "limit": 10_000,
                                                             "start": (start - timedelta(days=366)).strftime(ISO),
                                                             "end": end.strftime(ISO)})
        citations.append(citation)
        rows += [r for r in body.get("rows", []) if _crosses(r, edges)]
    energy = [a for a in wanted if a in CONSUMPTION]
    if energy:
        bills, citation = dc.get("/api/v1/bills", {"site": params.get("site"), "activity_type": energy, "min_days": 1,
                                                   "start": start.strftime(ISO), "end": end.strftime(ISO)})
        citations.append(citation)
        for b in bills.get("bills", []):
            if not _crosses(b, edges):
                continue
            b_start = parse_time(b["period_start"])
            body, citation = dc.get("/api/v1/emissions/audit", {
                **filters, "site": [b["site"]], "activity_type": [b["activity_type"]], "limit": 100,
                "start": b_start.strftime(ISO), "end": (b_start + timedelta(seconds=1)).strftime(ISO)})
            found = [r for r in body.get("rows", []) if parse_time(r["period_end"]) == parse_time(b["period_end"])]
            if found:
                citations.append(citation)
                rows += found
    return rows, citations


def _crosses(row: dict[str, Any], edges: list[datetime]) -> bool:
    a, b = parse_time(row["period_start"]), parse_time(row["period_end"])
    return any(a < e < b for e in edges)


def share(row: dict[str, Any], start: datetime, end: datetime) -> float:
    """The part of ``row`` inside [start, end), by time."""
    a, b = parse_time(row["period_start"]), parse_time(row["period_end"])
    inside = (min(b, end) - max(a, start)).total_seconds()
    return max(inside, 0.0) / (b - a).total_seconds()


def deltas(rows: list[dict[str, Any]], start: datetime, end: datetime, method: str) -> list[tuple[dict[str, Any], float]]:
    """Each crossing row with what proration changes in the period's total (its share minus what the ledger
    counted: the whole row if it starts in the period, else nothing)."""
    key = "kg_co2e_market" if method == "market" else "kg_co2e"
    out = []
    for r in rows:
        kg = _kg(r, key)
        counted = 1.0 if start <= parse_time(r["period_start"]) < end else 0.0
        out.append((r, kg * (share(r, start, end) - counted)))
    return out


def prorate_totals(body: dict[str, Any], rows: list[dict[str, Any]], start: datetime, end: datetime,
                   method: str) -> dict[str, Any]:
    """A ``/emissions/totals`` answer with the crossing rows prorated: the total and each group's row."""
    changes = deltas(rows, start, end, method)
    out = {**body, "rows": [dict(r) for r in body.get("rows", [])]}
    groups = list(body.get("group_by") or [])
    for row, delta in changes:
        if not delta:
            continue
        key = {g: {"site": row.get("site_id")}.get(g, row.get(g)) for g in groups}
        target = next((r for r in out["rows"] if all(str(r.get(g)) == str(v) for g, v in key.items())), None)
        if target is None:
            target = {**key, "kg_co2e": 0.0, "rows": 0}
            out["rows"].append(target)
        target["kg_co2e"] = float(target["kg_co2e"]) + delta
    out["rows"] = [r for r in out["rows"] if abs(float(r["kg_co2e"])) > 1e-9 or int(r.get("rows") or 0)]
    out["total_kg_co2e"] = float(body["total_kg_co2e"]) + sum(d for _r, d in changes)
    out["prorated"] = {"rows": len(changes), "kg_co2e_change": sum(d for _r, d in changes)}
    return out


def prorate_series(body: dict[str, Any], rows: list[dict[str, Any]], start: datetime, end: datetime,
                   method: str, interval: str) -> dict[str, Any]:
    """An ``/emissions/timeseries`` answer (month or quarter buckets) with the crossing rows spread by time."""
    buckets: dict[str, float] = {str(r["period"])[:10]: float(r["kg_co2e"]) for r in body.get("rows", [])}
    key = "kg_co2e_market" if method == "market" else "kg_co2e"
    step = 3 if interval == "quarter" else 1
    for r in rows:
        kg = _kg(r, key)
        first = parse_time(r["period_start"])
        if start <= first < end:  # the ledger put it whole in the bucket it starts in
            label = _bucket_start(first, step).strftime("%Y-%m-%d")
            buckets[label] = buckets.get(label, 0.0) - kg
        t = _bucket_start(max(first, start), step)
        while t < min(parse_time(r["period_end"]), end):
            nxt = _add_months(t, step)
            part = kg * share(r, max(t, start), min(nxt, end))
            buckets[t.strftime("%Y-%m-%d")] = buckets.get(t.strftime("%Y-%m-%d"), 0.0) + part
            t = nxt
    out = {**body, "rows": [{"period": f"{k}T00:00:00", "kg_co2e": v} for k, v in sorted(buckets.items())]}
    out["prorated"] = {"rows": len(rows)}
    return out


def _kg(row: dict[str, Any], key: str) -> float:
    value = row.get(key) if row.get(key) is not None else row.get("kg_co2e")
    return float(value or 0.0)


def _bucket_start(t: datetime, step: int) -> datetime:
    month = (t.month - 1) // step * step + 1
    return datetime(t.year, month, 1)


def _add_months(t: datetime, months: int) -> datetime:
    m = t.month - 1 + months
    return datetime(t.year + m // 12, m % 12 + 1, 1)
