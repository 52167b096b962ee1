"""The client's address behind the ML engine's load balancer (compose: ml-engine-lb, nginx).

Behind the LB every request comes from the LB's address, so a per-client limit (``RATE_LIMIT_PER_MINUTE``)
would be one budget shared by every client. The LB sends the address it saw in ``X-Forwarded-For``; this
middleware believes that header only from the proxies of ``TRUSTED_PROXIES`` (IP addresses, networks in CIDR
form, or host names such as ``ml-engine-lb``, which are resolved, again at most every ``ttl`` seconds, since
a container's address changes when it is recreated). From anyone else the header is ignored: a client could
otherwise claim any address and get a fresh budget with every request. The address taken is the
right-most one in the header that is not itself a trusted proxy (uvicorn's ``--forwarded-allow-ips`` rule);
one that is not an IP address leaves the request's address as it is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def parse_trusted(value: str | Iterable[str]) -> tuple[list[Network], list[str]]:
    """``"ml-engine-lb, 10.0.0.0/8"`` -> (networks, host names)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    networks: list[Network] = []
    names: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.append(item)
    return networks, names


class TrustedProxies:
    """Is an address one of the trusted proxies? Host names resolved with a time-to-live."""

    def __init__(self, trusted: str | Iterable[str], ttl: float = 10.0, min_interval: float = 1.0) -> None:
        self.networks, self.names = parse_trusted(trusted)
        self.ttl, self.min_interval = ttl, min_interval
        self.resolved: set[Address] = set()
        self.resolved_at = float("-inf")

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)

    async def _resolve(self) -> None:
        loop = asyncio.get_running_loop()
        found: set[Address] = set()
        for name in self.names:
            try:
                infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
            except OSError:  # not (yet) there: e.g. the LB starts only once the engine is healthy
                continue
            found.update(a for a in (_address(str(info[4][0])) for info in infos) if a is not None)
        self.resolved, self.resolved_at = found, time.monotonic()

    def known(self, address: Address) -> bool:
        return any(address in n for n in self.networks) or address in self.resolved

    async def contains(self, host: str) -> bool:
        address = _address(host)
        if address is None:
            return False
        if self.known(address):
            return True
        # an unknown peer re-resolves the names when the last answer is older than min_interval (the LB
        # recreated with a new address is believed within a second); a known one when it is older than ttl
        age = time.monotonic() - self.resolved_at
        if self.names and age >= self.min_interval:
            await self._resolve()
            return self.known(address)
        return False

    async def refresh_if_stale(self) -> None:
        if self.names and time.monotonic() - self.resolved_at >= self.ttl:
            await self._resolve()


class ForwardedForMiddleware:
    """Pure ASGI: ``scope["client"]`` becomes the forwarded client's address, for requests of a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: str | Iterable[str], ttl: float = 10.0) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted, ttl=ttl)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and self.trusted and client:
            await self.trusted.refresh_if_stale()
            if await self.trusted.contains(client[0]):
                forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
                hosts = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
                chosen = self._client(hosts)
                if chosen is not None:
                    scope["client"] = (str(chosen), 0)  # in place, as uvicorn does: its access log shows it
        await self.app(scope, receive, send)

    def _client(self, hosts: list[str]) -> Address | None:
        for host in reversed(hosts):
            address = _address(host)
            if address is None or not self.trusted.known(address):
                return address
        return _address(hosts[0]) if hosts else None
