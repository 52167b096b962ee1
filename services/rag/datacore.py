"""The chatbot's read-only client of the data core. Every answer it returns carries a citation of the query
that produced it (endpoint, parameters, ledger version), so that each number in a chat answer can be traced
to the ledger and its audit trail."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from services.common.errors import DomainError, NotFound, ServiceUnavailable


class DataCoreClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, cache_seconds: float = 60.0,
                 http: httpx.Client | None = None, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # the data core needs a token on reads too: this service's API_TOKEN
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False, headers=headers)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ raw
    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """GET ``endpoint`` with ``params`` (lists repeat); returns (json, citation)."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "", [])}
        try:
            response = self.http.get(endpoint, params=clean)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the data core is unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise NotFound(_detail(response))
        if response.status_code >= 500:
            raise ServiceUnavailable(f"the data core answered {response.status_code}: {_detail(response)}")
        if response.status_code >= 400:
            raise DataCoreRefused(response.status_code, _detail(response))
        body = response.json()
        citation = {"type": "query", "endpoint": endpoint, "params": clean,
                    "url": f"{self.base_url}{endpoint}" + (f"?{urlencode(clean, doseq=True)}" if clean else "")}
        if isinstance(body, dict) and "ledger_version" in body:
            citation["ledger_version"] = body["ledger_version"]
        return body, citation

    def _cached(self, key: str, load: Any) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.cache_seconds:
                return hit[1]
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
            body, _ = self.get("/api/v1/emissions/totals", {"group_by": "activity_type"})
            return sorted(str(r["activity_type"]) for r in body["rows"])
        return list(self._cached("activity_types", load))

    def year_months(self) -> list[tuple[int, int]]:
        """(year, month) pairs that have ledger rows, oldest first."""
        def load() -> list[tuple[int, int]]:
            body, _ = self.get("/api/v1/emissions/timeseries", {"interval": "month"})
            out = []
            for r in body["rows"]:
                period = str(r["period"])
                out.append((int(period[:4]), int(period[5:7])))
            return sorted(set(out))
        return list(self._cached("year_months", load))

    # ------------------------------------------------------------------ queries
    def totals(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.get("/api/v1/emissions/totals", params)  # type: ignore[no-any-return]

    def timeseries(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.get("/api/v1/emissions/timeseries", params)  # type: ignore[no-any-return]

    def top(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.get("/api/v1/emissions/top", params)  # type: ignore[no-any-return]

    def alerts(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.get("/api/v1/alerts", params)  # type: ignore[no-any-return]

    def hotspot(self, hotspot_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.get(f"/api/v1/hotspots/{quote(hotspot_id, safe='')}")  # type: ignore[no-any-return]

    def site(self, site_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.get(f"/api/v1/sites/{quote(site_id, safe='')}")  # type: ignore[no-any-return]


class DataCoreRefused(DomainError):
    """The data core refused a query (4xx other than 404): the chatbot built a bad query."""

    status = 422
    title = "Query refused by the data core"
    type_suffix = "query-refused"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the data core answered {status}: {detail}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("title") or body)[:300]
    except ValueError:
        return response.text[:300]
