"""The chatbot's read-only view of the data core, over the shared client
(:class:`services.common.datacore.DataCoreClient`: the token on every request and one error mapping: a
4xx problem of the data core passed on as the same problem, 5xx, a refused token or no answer a 503).
Every answer comes with a citation of the query that produced it (endpoint, parameters, URL, ledger
version), so that each number in a chat answer can be traced to the ledger and its audit trail. The
reference data the question reader needs (sites, activity types, months with data) is cached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from services.common import datacore

T = TypeVar("T")
Cited = tuple[Any, dict[str, Any]]
"""A data-core answer and the citation of its query."""


class DataCoreClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, cache_seconds: float = 60.0,
                 http: httpx.Client | None = None, token: str | None = None) -> None:
        self.core = datacore.DataCoreClient(base_url, token, timeout=timeout, http=http)
        self.base_url = self.core.base_url
        self.http = self.core.http
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.core.close()

    # ------------------------------------------------------------------ raw
    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> Cited:
        """GET ``endpoint`` with ``params`` (empty ones dropped, lists repeat); returns (json, citation)."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "", [])}
        body = self.core.get(endpoint, clean)
        citation = {"type": "query", "endpoint": endpoint, "params": clean,
                    "url": f"{self.base_url}{endpoint}" + (f"?{urlencode(clean, doseq=True)}" if clean else "")}
        if isinstance(body, dict) and "ledger_version" in body:
            citation["ledger_version"] = body["ledger_version"]
        return body, citation

    def _cached(self, key: str, load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.cache_seconds:
                return hit[1]  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    # ------------------------------------------------------------------ reference data (cached)
    def sites(self) -> dict[str, dict[str, Any]]:
        return self._cached("sites", lambda: {s["id"]: s for s in self.get("/api/v1/sites")[0]})

    def activity_types(self) -> list[str]:
        """Activity types that have ledger rows (what the organisation reports)."""
        def load() -> list[str]:
            body, _ = self.totals(group_by="activity_type")
            return sorted(str(r["activity_type"]) for r in body["rows"])
        return list(self._cached("activity_types", load))

    def year_months(self) -> list[tuple[int, int]]:
        """(year, month) pairs that have ledger rows, oldest first."""
        def load() -> list[tuple[int, int]]:
            body, _ = self.timeseries(interval="month")
            return sorted({(int(str(r["period"])[:4]), int(str(r["period"])[5:7])) for r in body["rows"]})
        return list(self._cached("year_months", load))

    # ------------------------------------------------------------------ queries
    def totals(self, **params: Any) -> Cited:
        return self.get("/api/v1/emissions/totals", params)

    def timeseries(self, **params: Any) -> Cited:
        return self.get("/api/v1/emissions/timeseries", params)

    def top(self, **params: Any) -> Cited:
        return self.get("/api/v1/emissions/top", params)

    def consumption(self, **params: Any) -> Cited:
        """Energy (kWh) and demand (kW) from the readings (``/api/v1/consumption``)."""
        return self.get("/api/v1/consumption", params)

    def resolve_factor(self, **params: Any) -> Cited:
        return self.get("/api/v1/factors/resolve", params)

    def factor_units(self) -> dict[str, list[str]]:
        """The units the factor library has for each activity type (cached)."""
        def load() -> dict[str, list[str]]:
            body, _ = self.get("/api/v1/factors/activity-types")
            return {str(r["activity_type"]): [str(u) for u in r.get("units") or []] for r in body}
        return dict(self._cached("factor_units", load))

    def activity_scopes(self) -> dict[str, int]:
        """The GHG Protocol scope of each activity type of the factor library (cached)."""
        def load() -> dict[str, int]:
            body, _ = self.get("/api/v1/factors/activity-types")
            return {str(r["activity_type"]): int(r["scope"]) for r in body if r.get("scope") is not None}
        return dict(self._cached("activity_scopes", load))

    def alerts(self, **params: Any) -> Cited:
        return self.get("/api/v1/alerts", params)

    def hotspot(self, hotspot_id: str) -> Cited:
        return self.get(f"/api/v1/hotspots/{datacore.seg(hotspot_id)}")

    def site(self, site_id: str) -> Cited:
        return self.get(f"/api/v1/sites/{datacore.seg(site_id)}")
