"""The transactional outbox: ingestion events reach a real HTTP receiver on 127.0.0.1, retried
until it accepts them, kept while it is down, and never sent for an ingest that accepted nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.data_core.app import create_app
from tests.conftest import AUTH, TOKEN
from tests.services.data_core.helpers import ingest, make_site, record

pytestmark = pytest.mark.integration

WAIT_S = 30.0  # an upper bound for waiting on a background delivery, not a performance goal


class Receiver:
    """An orchestration stand-in: answers 503 to the first ``fail_first`` requests, then 202."""

    def __init__(self, port: int, fail_first: int = 0) -> None:
        self.port = port
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    failing = len(receiver.requests) < receiver.fail_first
                    receiver.requests.append({"path": self.path, "body": body, "ok": not failing,
                                              "auth": self.headers.get("Authorization"),
                                              "key": self.headers.get("Idempotency-Key")})
                self.send_response(503 if failing else 202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["ok"]]


@contextmanager
def receiver_on(port: int, fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(port, fail_first)
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pending(client: TestClient) -> int:
    return client.get("/health").json()["checks"]["database"]["detail"]["events_pending"]


@pytest.fixture
def app_with_outbox(make_settings):
    port = free_port()

    @contextmanager
    def start() -> Iterator[TestClient]:
        settings = make_settings(orchestration_url=f"http://127.0.0.1:{port}", event_retry_seconds=0.2,
                                 event_max_backoff_seconds=0.5)
        with TestClient(create_app(settings), headers=AUTH) as client:
            make_site(client, "s1", country="GB")
            make_site(client, "s2", country="GB")
            yield client

    return port, start


def test_an_ingest_event_is_delivered_once_after_failures(app_with_outbox):
    port, start = app_with_outbox
    with receiver_on(port, fail_first=2) as receiver, start() as client:
        report = ingest(client, [record("s1", timestamp="2019-06-01T10:00:00Z"),
                                 record("s2", timestamp="2019-06-01T11:00:00Z"),
                                 record("ghost", timestamp="2019-06-01T11:00:00Z")])
        wait_for(lambda: receiver.accepted(), "the event to be accepted")
        wait_for(lambda: pending(client) == 0, "the outbox to mark the event delivered")
        (delivered,) = receiver.accepted()
        assert len(receiver.requests) == 3  # two 503s, then accepted
        assert len({r["body"]["event_id"] for r in receiver.requests}) == 1
        event = delivered["body"]
        assert delivered["path"] == "/api/v1/events" and delivered["auth"] == f"Bearer {TOKEN}"
        assert delivered["key"] == event["event_id"]
        assert event["type"] == "ingestion.committed" and event["batch_id"] == report["batch_id"]
        assert event["sites"] == ["s1", "s2"] and event["accepted"] == 2
        assert event["activity_types"] == ["electricity"]
        assert event["period_start"].startswith("2019-06-01T10:00") and event["period_end"].startswith("2019-06-01T12:00")


def test_an_event_waits_while_the_receiver_is_down(app_with_outbox):
    port, start = app_with_outbox
    with start() as client:
        report = ingest(client, [record("s1", timestamp="2019-06-01T10:00:00Z")])
        assert pending(client) == 1
        time.sleep(0.5)  # let the outbox try (and fail) a few times; the event must stay
        assert pending(client) == 1
        with receiver_on(port) as receiver:
            wait_for(lambda: receiver.accepted(), "delivery once the receiver is up")
            wait_for(lambda: pending(client) == 0, "the outbox to mark the event delivered")
            assert [r["body"]["batch_id"] for r in receiver.accepted()] == [report["batch_id"]]


def test_no_event_for_an_ingest_that_accepted_nothing(app_with_outbox):
    port, start = app_with_outbox
    with receiver_on(port) as receiver, start() as client:
        first = ingest(client, [record("s1", timestamp="2019-06-01T10:00:00Z")])
        wait_for(lambda: len(receiver.accepted()) == 1, "the first event")
        ingest(client, [record("ghost", timestamp="2019-06-01T10:00:00Z")], expect=422)  # all rejected
        ingest(client, [record("s1", timestamp="2019-06-01T10:00:00Z")])  # only a duplicate
        assert pending(client) == 0
        last = ingest(client, [record("s2", timestamp="2019-06-01T10:00:00Z")])
        # events go out in the order they were written, so once the last is in every earlier one would be
        wait_for(lambda: len(receiver.accepted()) >= 2, "the last event")
        assert [r["body"]["batch_id"] for r in receiver.accepted()] == [first["batch_id"], last["batch_id"]]
