"""The ML engine's client address behind its load balancer: X-Forwarded-For believed from TRUSTED_PROXIES only,
so the per-client rate limit keys on the client behind the LB, and a client cannot buy budgets with the header."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from services.ml_engine.proxies import ForwardedForMiddleware, parse_trusted
from tests.security.test_limits import READ, ml_engine

pytestmark = pytest.mark.unit
PREDICT = {"site": "b1", "activity_type": "electricity", "timestamps": ["2020-01-01T00:00:00Z"]}
LB = "10.89.0.7"


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["client"][0].encode()})


def _seen(trusted: str, peer: str, forwarded: str | None) -> str:
    client = TestClient(ForwardedForMiddleware(_echo, trusted), client=(peer, 40000))
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return client.get("/", headers=headers).text


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "seen"), [
    ("10.89.0.0/24", LB, "203.0.113.5", "203.0.113.5"),            # the LB's header believed
    (LB, LB, "198.51.100.1, 203.0.113.5", "203.0.113.5"),          # the right-most: what the LB itself saw
    (f"{LB},10.89.0.8", LB, "203.0.113.5, 10.89.0.8", "203.0.113.5"),  # a chain of trusted proxies skipped
    (LB, "192.0.2.9", "203.0.113.5", "192.0.2.9"),                 # anyone else's header ignored
    ("", LB, "203.0.113.5", LB),                                   # no trusted proxy: never believed
    (LB, LB, None, LB),                                            # no header: the LB's address
    (LB, LB, "not-an-address", LB),                                # garbage: the LB's address
    ("localhost", "127.0.0.1", "203.0.113.5", "203.0.113.5"),      # a host name, resolved
    ("no-such-host.invalid", "127.0.0.1", "203.0.113.5", "127.0.0.1"),
])
def test_the_client_address_comes_from_a_trusted_proxy_only(trusted: str, peer: str, forwarded: str | None,
                                                             seen: str) -> None:
    assert _seen(trusted, peer, forwarded) == seen


def test_trusted_proxies_parse_addresses_networks_and_names() -> None:
    networks, names = parse_trusted(" ml-engine-lb, 10.0.0.0/8,::1 ,, 192.0.2.1")
    assert [str(n) for n in networks] == ["10.0.0.0/8", "::1/128", "192.0.2.1/32"] and names == ["ml-engine-lb"]


def _budget_left(client: TestClient, forwarded: str) -> bool:
    return client.post("/api/v1/predict", json=PREDICT, headers={**READ, "X-Forwarded-For": forwarded}).status_code != 429


def test_the_rate_limit_keys_on_the_client_behind_the_trusted_lb() -> None:
    app: Any = ml_engine(rate_limit_per_minute=2, trusted_proxies=LB)
    behind_lb = TestClient(app, raise_server_exceptions=False, client=(LB, 40000))
    assert _budget_left(behind_lb, "203.0.113.1") and _budget_left(behind_lb, "203.0.113.1")
    assert not _budget_left(behind_lb, "203.0.113.1")
    assert _budget_left(behind_lb, "203.0.113.2")  # another client behind the same LB: its own budget
    # a client that is not the LB gets no fresh budget by sending the header
    direct = TestClient(app, raise_server_exceptions=False, client=("192.0.2.9", 40000))
    assert _budget_left(direct, "203.0.113.3") and _budget_left(direct, "203.0.113.4")
    assert not _budget_left(direct, "203.0.113.5")
