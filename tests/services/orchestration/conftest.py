"""The orchestration engine as a real server on 127.0.0.1 in front of a real data core (SQLite and
PostgreSQL), and WebSocket clients from the ``websockets`` library."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH, TOKEN, LiveServer


@dataclass
class Stack:
    dc: LiveServer
    oe: LiveServer
    http: httpx.Client

    def ws_url(self, channel: str, **query: Any) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return self.oe.url.replace("http", "ws") + f"/ws/{channel}" + (f"?{q}" if q else "")


def orchestration_settings(dc_url: str, **overrides: Any) -> Any:
    from services.orchestration.settings import OrchestrationSettings

    values: dict[str, Any] = {"api_token": TOKEN, "environment": "test", "log_json": False, "data_core_url": dc_url,
                              "ws_history": 50, "ws_queue": 64, "stream_poll_seconds": 0.5, "event_scan": False,
                              "prefect_api_url": "http://127.0.0.1:9/api"}
    values.update(overrides)
    return OrchestrationSettings(**values)


@pytest.fixture
def make_stack(make_settings: Callable[..., object]) -> Iterator[Callable[..., Stack]]:
    from services.data_core.app import create_app as data_core_app
    from services.orchestration.app import create_app

    opened: list[Any] = []

    def factory(**overrides: Any) -> Stack:
        dc = LiveServer(data_core_app(make_settings()))
        dc.__enter__()
        opened.append(dc)
        oe = LiveServer(create_app(orchestration_settings(dc.url, **overrides)))
        oe.__enter__()
        opened.append(oe)
        http = httpx.Client(base_url=oe.url, headers=AUTH, timeout=30, trust_env=False)
        opened.append(http)
        return Stack(dc, oe, http)

    yield factory
    for item in reversed(opened):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


def hotspot(site: str = "b1", start: str = "2020-01-10T00:00:00Z", end: str = "2020-01-11T00:00:00Z",
            severity: str = "high", **extra: Any) -> dict[str, Any]:
    return {"kind": "above_expected", "site": site, "meter": "", "activity_type": "electricity",
            "period_start": start, "period_end": end, "ongoing": True, "severity": severity, "excess_kwh": 240.0,
            "excess_kg": 48.0, "model_version": "1", "evidence": {"excess_ratio": 0.5}, **extra}


def recv(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def recv_events(ws: Any, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next ``n`` data events (control messages such as ping are skipped)."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        message = recv(ws, timeout)
        if message["type"] not in ("hello", "ping", "pong", "resync"):
            out.append(message)
    return out


# --------------------------------------------------------------------------- the dashboard's REST through the engine
PROBLEM = "application/problem+json"
GOOD = {"site": "s1", "meter": "main", "activity_type": "electricity", "unit": "kWh"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def dc_client(stack: Stack) -> httpx.Client:
    """A client of the stack's data core itself (to seed it, and to compare answers)."""
    return httpx.Client(base_url=stack.dc.url, headers=AUTH, timeout=30, trust_env=False)


def make_site(dc: httpx.Client, site: str = "s1") -> None:
    assert dc.post("/api/v1/organisations", json={"id": "acme", "name": "Acme"}).status_code == 201
    r = dc.post("/api/v1/sites", json={"id": site, "org_id": "acme", "name": f"Site {site}", "country": "GB"})
    assert r.status_code == 201, r.text


def hour(day: int, hour: int) -> str:
    return f"2019-06-{day:02d}T{hour:02d}:00:00Z"
