"""The one typed client of the data core (and the same error mapping for any platform service).

Every service and flow that talks to the data core uses :class:`DataCoreClient` (sync: flows, the chatbot,
the ML engine's history) or :class:`AsyncDataCoreClient` (the orchestration engine). Both send the
caller's API token on every request, reads included, and map answers the same way (:func:`check`):

- 2xx: the answer;
- 4xx other than 401/403: :class:`UpstreamProblem`, the data core's problem passed on as the same
  problem (status, title, type, detail and extra members) by the caller's problem handlers;
- 401/403: the data core refused *our* token, a deployment fault: 503;
- 5xx or no answer: 503 (:class:`~services.common.errors.ServiceUnavailable`).

Readings and residuals come back in kWh: the data core converts once (``docs/architecture.md``).
Hourly weather (``weather``, ``station_weather``) comes back as a frame with a UTC ``timestamp`` and the
columns of :data:`WEATHER_COLUMNS`; ``frame.attrs["weather"]`` is ``"hourly"`` or ``"none"`` (the site has no
station, or its station no hour in the window: predict without weather) and ``frame.attrs["station"]`` the
station's id.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd

from services.common.alert_rules import AlertRules
from services.common.contracts import AlertActionName, HotspotIn, RecommendationIn, ScanScope
from services.common.errors import PROBLEM_BASE, DomainError, ServiceUnavailable

# members of an upstream problem that the caller's problem handler writes itself (or that name its arguments)
_NOT_PASSED = {"type", "title", "status", "detail", "instance", "request_id", "type_suffix", "request", "headers"}
Params = Mapping[str, Any] | list[tuple[str, Any]] | None


def seg(path_part: str) -> str:
    """An id as one path segment of a URL (no '..', '/', '?' games)."""
    return quote(path_part, safe="")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _rebuild(cls: type[DomainError], args: tuple[Any, ...], state: dict[str, Any]) -> DomainError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class _Picklable(DomainError):
    """Pickled with its state, not re-built from its arguments (a process task runner sends a task's error
    back to the flow; the constructors here take the response)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


class UpstreamProblem(_Picklable):
    """A 4xx problem of another service, passed on with its status, title, type, detail and extra members."""

    def __init__(self, response: httpx.Response, service: str = "data-core") -> None:
        self.response = response
        body = _json_object(response)
        detail = str(body.get("detail") or response.text[:500] or f"the {service} answered {response.status_code}")
        super().__init__(detail, status=response.status_code,
                         **{k: v for k, v in body.items() if k not in _NOT_PASSED})
        if isinstance(body.get("title"), str) and body["title"]:
            self.title = body["title"]
        kind = body.get("type")
        if isinstance(kind, str) and kind.startswith(PROBLEM_BASE) and len(kind) > len(PROBLEM_BASE):
            self.type_suffix = kind[len(PROBLEM_BASE):]


class TokenRefused(_Picklable, ServiceUnavailable):
    """Another service refused this service's token (401/403): a 503 to our caller, a deployment fault that
    no retry mends (the flows do not retry it). ``response`` is the refusal."""

    def __init__(self, response: httpx.Response, service: str = "data-core") -> None:
        self.response = response
        super().__init__(f"the {service} refused this service's token ({response.status_code}); "
                         "both services need the same API_TOKEN", service=service)


def check(response: httpx.Response, service: str = "data-core") -> httpx.Response:
    """``response`` if it is a success; else the problem to answer with (see the module docstring)."""
    status = response.status_code
    if status < 400:
        return response
    if status in (401, 403):
        raise TokenRefused(response, service)
    if status >= 500:
        raise ServiceUnavailable(f"the {service} failed ({status})", service=service)
    raise UpstreamProblem(response, service)


def unreachable(exc: httpx.HTTPError, service: str = "data-core") -> ServiceUnavailable:
    return ServiceUnavailable(f"the {service} is unreachable: {type(exc).__name__}", service=service)


def clean(params: Params) -> Params:
    """Drop empty values from a mapping of parameters (lists repeat: ``site=a&site=b``)."""
    if params is None or isinstance(params, list):
        return params
    return {k: v for k, v in params.items() if v not in (None, "", [])}


def window_params(sites: Iterable[str] = (), activity_types: Iterable[str] = (), start: Any = None,
                  end: Any = None, **extra: Any) -> list[tuple[str, Any]]:
    """Query parameters of a window of sites and activity types (empty = all)."""
    params: list[tuple[str, Any]] = []
    if start is not None:
        params.append(("start", _iso(start)))
    if end is not None:
        params.append(("end", _iso(end)))
    params.extend(("site", s) for s in sites)
    params.extend(("activity_type", t) for t in activity_types)
    params.extend((k, v) for k, v in extra.items() if v is not None)
    return params


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | pd.Timestamp) else str(value)


def read_frame(content: bytes, **kwargs: Any) -> pd.DataFrame:
    """A CSV answer of the data core as a frame."""
    return pd.read_csv(io.BytesIO(content), **kwargs)


WEATHER_COLUMNS = ("air_temperature_degC", "relative_humidity_pct", "global_irradiance_w_m2")


def weather_frame(response: httpx.Response) -> pd.DataFrame:
    """A CSV answer of hourly weather: ``timestamp`` (the hour starting then, UTC) and :data:`WEATHER_COLUMNS`
    (NaN where the hour had no value); ``attrs``: ``weather`` ("hourly" or "none") and ``station``."""
    frame = read_frame(response.content, dtype={c: float for c in WEATHER_COLUMNS})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame.attrs["weather"] = response.headers.get("X-Weather", "hourly" if len(frame) else "none")
    frame.attrs["station"] = response.headers.get("X-Weather-Station")
    return frame


class _Paths:
    """Requests of the data core's API: method, path and arguments, shared by both clients."""

    @staticmethod
    def sync_hotspots(hotspots: list[HotspotIn] | list[dict[str, Any]], scope: ScanScope | dict[str, Any],
                      scan_id: str | None, rules: AlertRules | None) -> tuple[str, str, dict[str, Any]]:
        body = {"scan_id": scan_id,
                "scope": scope.model_dump(mode="json") if isinstance(scope, ScanScope) else scope,
                "hotspots": [h.model_dump(mode="json") if isinstance(h, HotspotIn) else h for h in hotspots],
                "alert_rules": rules.model_dump(mode="json") if rules is not None else None}
        return "POST", "/api/v1/hotspots/sync", {"json": body}

    @staticmethod
    def alert_action(alert_id: str, action: AlertActionName, body: dict[str, Any] | None) -> tuple[str, str, dict]:
        return "POST", f"/api/v1/alerts/{seg(alert_id)}/{action}", {"json": body}

    @staticmethod
    def store_recommendation(hotspot_id: str, rec: RecommendationIn) -> tuple[str, str, dict[str, Any]]:
        return "PUT", f"/api/v1/recommendations/{seg(hotspot_id)}", {"json": rec.model_dump(mode="json")}

    @staticmethod
    def weather(site_id: str, start: Any, end: Any) -> tuple[str, str, dict[str, Any]]:
        return "GET", f"/api/v1/sites/{seg(site_id)}/weather", {"params": window_params(start=start, end=end,
                                                                                        format="csv")}

    @staticmethod
    def station_weather(station_id: str, start: Any, end: Any) -> tuple[str, str, dict[str, Any]]:
        return ("GET", f"/api/v1/weather/stations/{seg(station_id)}/observations",
                {"params": window_params(start=start, end=end, format="csv")})


# a pooled keep-alive connection the server had just closed: no answer came, so a read may be sent once more
STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
IDEMPOTENT = ("GET", "HEAD")


class DataCoreClient:
    """The data core over HTTP, synchronous (flows, the chatbot, the ML engine's history). With another
    ``service`` name it is the same checked client of any platform service (the ML engine)."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 300.0,
                 http: httpx.Client | None = None, service: str = "data-core") -> None:
        self.service = service
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, trust_env=False)

    def __enter__(self) -> DataCoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ raw
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The checked answer of ``method path`` (problem passed on; 503 when down). A read whose pooled
        connection the server had just closed (keep-alive race: no answer, not a timeout) is sent once more."""
        try:
            try:
                response = self.http.request(method, path, **kwargs)
            except STALE_CONNECTION:
                if method not in IDEMPOTENT:
                    raise
                response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(exc, self.service) from exc
        return check(response, self.service)

    def get(self, path: str, params: Params = None) -> Any:
        return self.request("GET", path, params=clean(params)).json()

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs).json()

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs).json()

    def csv(self, path: str, params: Params = None, **read: Any) -> pd.DataFrame:
        """A CSV export (``format=csv`` added) as a frame."""
        params = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        return read_frame(self.request("GET", path, params=[*params, ("format", "csv")]).content, **read)

    # ------------------------------------------------------------------ typed
    def sites(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/sites")  # type: ignore[no-any-return]

    def site(self, site_id: str) -> dict[str, Any]:
        return self.get(f"/api/v1/sites/{seg(site_id)}")  # type: ignore[no-any-return]

    def extent(self) -> dict[str, Any]:
        """First and last hour of hourly readings and the sites that have them."""
        return self.get("/api/v1/readings/extent")  # type: ignore[no-any-return]

    def emissions(self, kind: str, params: Params = None) -> dict[str, Any]:
        """``GET /emissions/{totals|timeseries|top|inventory|audit}``."""
        return self.get(f"/api/v1/emissions/{seg(kind)}", params)  # type: ignore[no-any-return]

    def hotspot(self, hotspot_id: str) -> dict[str, Any]:
        return self.get(f"/api/v1/hotspots/{seg(hotspot_id)}")  # type: ignore[no-any-return]

    def alerts(self, params: Params = None) -> dict[str, Any]:
        return self.get("/api/v1/alerts", params)  # type: ignore[no-any-return]

    def weather(self, site_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Hourly weather of a site's station in [start, end) (see the module docstring)."""
        method, path, kw = _Paths.weather(site_id, start, end)
        return weather_frame(self.request(method, path, **kw))

    def station_weather(self, station_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Hourly observations of one station in [start, end)."""
        method, path, kw = _Paths.station_weather(station_id, start, end)
        return weather_frame(self.request(method, path, **kw))

    def weather_stations(self) -> list[dict[str, Any]]:
        """Every weather station with the first and last hour it has and how many."""
        return self.get("/api/v1/weather/stations")  # type: ignore[no-any-return]

    def weather_station(self, station_id: str) -> dict[str, Any]:
        return self.get(f"/api/v1/weather/stations/{seg(station_id)}")  # type: ignore[no-any-return]

    def sync_hotspots(self, hotspots: list[HotspotIn] | list[dict[str, Any]],
                      scope: ScanScope | dict[str, Any] | None = None, scan_id: str | None = None,
                      rules: AlertRules | None = None) -> dict[str, Any]:
        method, path, kw = _Paths.sync_hotspots(hotspots, scope or ScanScope(), scan_id, rules)
        return self.request(method, path, **kw).json()  # type: ignore[no-any-return]

    def store_recommendation(self, hotspot_id: str, rec: RecommendationIn) -> dict[str, Any]:
        method, path, kw = _Paths.store_recommendation(hotspot_id, rec)
        return self.request(method, path, **kw).json()  # type: ignore[no-any-return]

    # --- monthly ---
    def bills(self, sites: Iterable[str] = (), activity_types: Iterable[str] = (), start: Any = None,
              end: Any = None, min_days: float | None = None) -> list[dict[str, Any]]:
        """Bills (readings of ``min_days`` or more, default 20) in kWh with their emissions and stored expected
        values, oldest first per meter (``GET /api/v1/bills``)."""
        params = window_params(sites, activity_types, start, end, min_days=min_days, limit=100_000)
        return self.get("/api/v1/bills", params)["bills"]  # type: ignore[no-any-return]

    def put_bill_expected(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store expected values of bills (``PUT /api/v1/bills/expected``: model_version, level, expectations)."""
        return self.put("/api/v1/bills/expected", json=body)  # type: ignore[no-any-return]


class AsyncDataCoreClient:
    """The data core over HTTP, asynchronous (the orchestration engine, the ML engine's history)."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0,
                 http: httpx.AsyncClient | None = None, service: str = "data-core") -> None:
        self.service = service
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout,
                                              trust_env=False)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """As :meth:`DataCoreClient.request`: a read on a connection the server had just closed is sent again."""
        try:
            try:
                response = await self.http.request(method, path, **kwargs)
            except STALE_CONNECTION:
                if method not in IDEMPOTENT:
                    raise
                response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(exc, self.service) from exc
        return check(response, self.service)

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of ``method path``."""
        return (await self.request(method, path, **kwargs)).json()

    async def get(self, path: str, params: Params = None) -> Any:
        return await self.call("GET", path, params=clean(params))

    async def csv(self, path: str, params: Params = None, **read: Any) -> pd.DataFrame:
        """A CSV export (``format=csv`` added) as a frame."""
        params = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        return read_frame((await self.request("GET", path, params=[*params, ("format", "csv")])).content, **read)

    async def sync_hotspots(self, hotspots: list[HotspotIn] | list[dict[str, Any]],
                            scope: ScanScope | dict[str, Any] | None = None, scan_id: str | None = None,
                            rules: AlertRules | None = None) -> dict[str, Any]:
        method, path, kw = _Paths.sync_hotspots(hotspots, scope or ScanScope(), scan_id, rules)
        return await self.call(method, path, **kw)  # type: ignore[no-any-return]

    async def alert_action(self, alert_id: str, action: AlertActionName,
                           body: dict[str, Any] | None = None) -> dict[str, Any]:
        method, path, kw = _Paths.alert_action(alert_id, action, body)
        return await self.call(method, path, **kw)  # type: ignore[no-any-return]

    async def store_recommendation(self, hotspot_id: str, rec: RecommendationIn) -> dict[str, Any]:
        method, path, kw = _Paths.store_recommendation(hotspot_id, rec)
        return await self.call(method, path, **kw)  # type: ignore[no-any-return]

    async def weather(self, site_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Hourly weather of a site's station in [start, end) (see the module docstring)."""
        method, path, kw = _Paths.weather(site_id, start, end)
        return weather_frame(await self.request(method, path, **kw))

    async def station_weather(self, station_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Hourly observations of one station in [start, end)."""
        method, path, kw = _Paths.station_weather(station_id, start, end)
        return weather_frame(await self.request(method, path, **kw))

    async def weather_stations(self) -> list[dict[str, Any]]:
        return await self.get("/api/v1/weather/stations")  # type: ignore[no-any-return]

    async def weather_station(self, station_id: str) -> dict[str, Any]:
        return await self.get(f"/api/v1/weather/stations/{seg(station_id)}")  # type: ignore[no-any-return]

    async def stream(self, channel: str, *, after: int | None = None, limit: int = 1000) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return await self.get(f"/api/v1/streams/{seg(channel)}", params)  # type: ignore[no-any-return]
