"""Short-lived, single-use WebSocket tickets: a browser never carries the long-lived token in a URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

ROLES = ("read", "write")


class Tickets:
    """Tickets signed with the API token (HMAC). A ticket records the role of the token that asked for it
    and can be redeemed once, before it expires."""

    def __init__(self, secret: str, ttl: int) -> None:
        self.key = hashlib.sha256(b"ws-ticket:" + secret.encode()).digest()
        self.ttl = ttl
        self.used: OrderedDict[str, float] = OrderedDict()

    def _sign(self, body: str) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, body.encode(), hashlib.sha256).digest()[:18]).decode()

    def issue(self, role: str = "write") -> tuple[str, int]:
        expires = int(time.time()) + self.ttl
        body = f"{expires}.{role}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}", expires

    def redeem(self, ticket: str) -> str | None:
        """The role the ticket was issued for, once; None if it is forged, expired or already used."""
        try:
            expires_s, role, nonce, sig = ticket.split(".")
            expires = int(expires_s)
        except ValueError:
            return None
        good = self._sign(f"{expires_s}.{role}.{nonce}")
        now = time.time()
        while self.used and next(iter(self.used.values())) < now:
            self.used.popitem(last=False)
        if not hmac.compare_digest(sig.encode(), good.encode()) or expires < now or nonce in self.used \
                or role not in ROLES:
            return None
        self.used[nonce] = expires
        return role
