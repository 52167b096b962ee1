"""The fan-out on its own: a slow client is closed with a reason and never holds up the others; seq order,
duplicates and gaps; replay boundaries."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.orchestration.hub import CLOSE_SLOW, Hub


class Sink:
    """A socket: ``blocked`` ones never finish a send (a client that stopped reading)."""

    def __init__(self, blocked: bool = False) -> None:
        self.blocked = blocked
        self.frames: list[dict] = []
        self.closed: tuple[int, str | None] | None = None

    async def send_text(self, data: str) -> None:
        if self.blocked:
            await asyncio.Event().wait()
        self.frames.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def _env(seq: int, epoch: str = "e1", channel: str = "alerts") -> dict:
    return {"channel": channel, "seq": seq, "epoch": epoch, "id": f"ev{seq}", "type": "alert.raised",
            "ts": "2020-01-01T00:00:00Z", "payload": {"n": seq}}


def test_a_slow_client_is_closed_and_the_others_get_everything() -> None:
    async def scenario() -> tuple[Sink, Sink, Hub]:
        hub = Hub(history_size=100, queue_size=8)
        hub.channels["alerts"].reset("e1", 0, [])
        fast, slow = Sink(), Sink(blocked=True)
        tasks = []
        for sink in (fast, slow):
            client, first = hub.attach(sink, "alerts", last_seq=None, epoch=None)
            tasks.append(asyncio.create_task(client.run_writer(first)))
        await asyncio.sleep(0.01)
        for seq in range(1, 31):
            hub.publish([_env(seq)])
            await asyncio.sleep(0)  # the fast writer keeps up; the slow one is stuck in send
        await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        return fast, slow, hub

    fast, slow, hub = asyncio.run(scenario())
    assert [f["seq"] for f in fast.frames if f["type"] == "alert.raised"] == list(range(1, 31))
    assert hub.channels["alerts"].clients == {c for c in hub.channels["alerts"].clients if c.socket is fast}
    assert len(hub.channels["alerts"].clients) == 1


def test_slow_close_reason_tells_where_to_resume() -> None:
    async def scenario() -> Sink:
        hub = Hub(history_size=100, queue_size=4)
        hub.channels["alerts"].reset("e1", 0, [])
        sink = Sink()
        client, _ = hub.attach(sink, "alerts", last_seq=None, epoch=None)  # no writer: nothing drains
        for seq in range(1, 10):
            hub.publish([_env(seq)])
        await client.run_writer([])
        return sink

    sink = asyncio.run(scenario())
    assert sink.closed is not None and sink.closed[0] == CLOSE_SLOW and "last_seq=0" in (sink.closed[1] or "")


def test_order_duplicates_gaps_and_epochs() -> None:
    hub = Hub(history_size=5, queue_size=8)
    channel = hub.channels["alerts"]
    channel.reset("e1", 0, [])
    assert hub.publish([_env(2)]) == 0 and channel.has_gap and hub.gap_event.is_set()
    assert hub.publish([_env(1), _env(1)]) == 2 and channel.last_seq == 2 and not channel.has_gap
    assert hub.publish([_env(2), _env(3, epoch="other")]) == 0  # duplicate, foreign epoch
    for seq in range(3, 10):
        hub.publish([_env(seq)])
    assert channel.replay_after(9) == [] and [s for s, _ in channel.replay_after(6) or []] == [7, 8, 9]
    assert channel.replay_after(3) is None  # history holds 5..9 only


@pytest.mark.parametrize(("last_seq", "epoch", "expect"), [(None, None, "hello"), (2, "e1", "replay"),
                                                           (0, "e1", "resync"), (2, "e0", "resync"),
                                                           (99, "e1", "resync")])
def test_attach_decides_replay_or_resync(last_seq, epoch, expect) -> None:
    hub = Hub(history_size=3, queue_size=8)
    hub.channels["alerts"].reset("e1", 4, [_env(2), _env(3), _env(4)])
    _, first = hub.attach(Sink(), "alerts", last_seq=last_seq, epoch=epoch)
    kinds = [json.loads(frame)["type"] for _, frame in first]
    assert kinds[0] == "hello"
    if expect == "replay":
        assert [s for s, _ in first[1:]] == [3, 4]
    elif expect == "resync":
        assert kinds[1:] == ["resync"]
    else:
        assert kinds == ["hello"]


def test_a_new_epoch_closes_connected_clients_so_they_reconnect() -> None:
    from services.orchestration.hub import CLOSE_RECONNECT

    async def scenario() -> Sink:
        hub = Hub(history_size=10, queue_size=8)
        hub.channels["alerts"].reset("e1", 5, [_env(5)])
        sink = Sink()
        client, first = hub.attach(sink, "alerts", last_seq=None, epoch=None)
        writer = asyncio.create_task(client.run_writer(first))
        await asyncio.sleep(0.01)
        hub.channels["alerts"].reset("e2", 0, [])  # the data core's history was reset
        await asyncio.wait_for(writer, 1)
        return sink

    sink = asyncio.run(scenario())
    assert sink.closed is not None and sink.closed[0] == CLOSE_RECONNECT


def test_hello_carries_the_resume_point() -> None:
    hub = Hub(history_size=10, queue_size=8)
    hub.channels["alerts"].reset("e1", 4, [_env(2), _env(3), _env(4)])
    _, first = hub.attach(Sink(), "alerts", last_seq=2, epoch="e1")
    hello = json.loads(first[0][1])
    assert hello["type"] == "hello" and hello["seq"] == 2 and hello["payload"]["last_seq"] == 4
