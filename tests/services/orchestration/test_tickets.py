"""WebSocket tickets: signed, single use, short-lived, carrying the role of the token that asked."""

from __future__ import annotations

import time

import pytest

from services.orchestration.tickets import Tickets


def test_a_ticket_is_redeemed_once_with_its_role() -> None:
    tickets = Tickets("secret", ttl=60)
    read, expires = tickets.issue("read")
    write, _ = tickets.issue()
    assert expires >= int(time.time()) + 59
    assert tickets.redeem(read) == "read" and tickets.redeem(write) == "write"
    assert tickets.redeem(read) is None and tickets.redeem(write) is None  # single use


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: t.replace(".read.", ".write."),
                                    lambda t: "not-a-ticket", lambda t: t + ".extra", lambda t: "x.read.n.sig"])
def test_forged_or_malformed_tickets_are_refused(mangle) -> None:
    tickets = Tickets("secret", ttl=60)
    ticket, _ = tickets.issue("read")
    assert tickets.redeem(mangle(ticket)) is None
    assert tickets.redeem(ticket) == "read"  # the genuine one still works


def test_another_secret_or_an_unknown_role_is_refused() -> None:
    ticket, _ = Tickets("secret", ttl=60).issue("read")
    assert Tickets("other", ttl=60).redeem(ticket) is None
    tickets = Tickets("secret", ttl=60)
    admin, _ = tickets.issue("admin")  # signed, but not a role a ticket may carry
    assert tickets.redeem(admin) is None


def test_an_expired_ticket_is_refused_and_used_nonces_are_forgotten_after_expiry() -> None:
    tickets = Tickets("secret", ttl=60)
    old = tickets.ttl
    tickets.ttl = -1
    expired, _ = tickets.issue("read")
    tickets.ttl = old
    assert tickets.redeem(expired) is None
    fresh, _ = tickets.issue("read")
    assert tickets.redeem(fresh) == "read" and len(tickets.used) == 1
    tickets.used[next(iter(tickets.used))] = time.time() - 1  # as if it had expired
    other, _ = tickets.issue("read")
    assert tickets.redeem(other) == "read" and len(tickets.used) == 1  # the expired nonce was dropped
