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


class _SlowDataCore:
    """A data core whose first sync answers at once and whose second one waits until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def sync_hotspots(self, hotspots, scope, scan_id, rules):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls > 1:
            await self.release.wait()
        seq = self.calls
        return {"scan_id": scan_id, "counts": {"created": 1}, "results": [{"id": f"h{seq}", "action": "created"}],
                "events": [], "alerts": {"results": [{"action": "created"}], "events": [_env(seq)]}}


def test_a_slow_durable_write_does_not_delay_the_previous_alert() -> None:
    from services.common.alert_rules import AlertRules
    from services.common.contracts import ScanResult
    from services.orchestration.results import store_scan

    async def scenario() -> tuple[list[list[int]], bool, list[list[int]]]:
        hub = Hub(history_size=100, queue_size=8)
        hub.channels["alerts"].reset("e1", 0, [])
        sinks = [Sink() for _ in range(120)]
        writers = []
        for sink in sinks:
            client, first = hub.attach(sink, "alerts", last_seq=None, epoch=None)
            writers.append(asyncio.create_task(client.run_writer(first)))
        dc = _SlowDataCore()
        await store_scan(dc, hub, AlertRules(), ScanResult())  # type: ignore[arg-type]
        second = asyncio.create_task(store_scan(dc, hub, AlertRules(), ScanResult()))  # type: ignore[arg-type]
        for _ in range(200):  # until every client has alert 1, the second write still pending
            await asyncio.sleep(0)
            if all(any(f["seq"] == 1 for f in s.frames) for s in sinks):
                break
        during = [[f["seq"] for f in s.frames if f["type"] == "alert.raised"] for s in sinks]
        pending = not second.done()
        dc.release.set()
        await second
        for _ in range(200):
            await asyncio.sleep(0)
        after = [[f["seq"] for f in s.frames if f["type"] == "alert.raised"] for s in sinks]
        for task in writers:
            task.cancel()
        await hub.close_all()
        return during, pending, after

    during, pending, after = asyncio.run(scenario())
    assert pending  # the next alert's write had not been answered ...
    assert all(seqs == [1] for seqs in during)  # ... and every client already had the previous alert
    assert all(seqs == [1, 2] for seqs in after)


def test_order_and_seq_stay_exact_under_concurrent_publishes_and_attaches() -> None:
    import random

    rng = random.Random(16)
    total = 300

    async def scenario() -> tuple[list[tuple[int, list[int]]], Hub]:
        hub = Hub(history_size=1000, queue_size=1000)
        hub.channels["alerts"].reset("e1", 0, [])
        order = list(range(1, total + 1))
        rng.shuffle(order)  # envelopes arrive out of order (other replicas, the tail), some twice
        batches = [order[i:i + 7] for i in range(0, total, 7)]
        clients: list[tuple[int, Sink]] = []
        writers = []

        async def publisher(part: list[list[int]]) -> None:
            for batch in part:
                hub.publish([_env(s) for s in batch] + [_env(rng.randint(1, total))])
                await asyncio.sleep(0)

        async def joiner() -> None:
            for _ in range(40):  # clients connect (fresh or resuming) while the fan-out runs
                sink = Sink()
                last = hub.channels["alerts"].last_seq
                resume = rng.choice([None, max(0, last - rng.randint(0, 5))])
                client, first = hub.attach(sink, "alerts", last_seq=resume, epoch="e1" if resume is not None else None)
                clients.append((resume if resume is not None else last, sink))
                writers.append(asyncio.create_task(client.run_writer(first)))
                await asyncio.sleep(0)

        await asyncio.gather(*(publisher(batches[i::3]) for i in range(3)), joiner())
        while hub.channels["alerts"].last_seq < total:
            await asyncio.sleep(0)
        for _ in range(500):
            await asyncio.sleep(0)
        for task in writers:
            task.cancel()
        await hub.close_all()
        return [(start, [f["seq"] for f in sink.frames if f["type"] == "alert.raised"]) for start, sink in clients], hub

    seen, hub = asyncio.run(scenario())
    assert hub.channels["alerts"].last_seq == total and not hub.channels["alerts"].held
    for start, seqs in seen:  # each client: every seq after its start, once, in order
        assert seqs == list(range(start + 1, total + 1)), (start, seqs[:10])


class Stalling(Sink):
    """A socket whose sends wait ``pause`` seconds on every ``every``-th frame (a full transport buffer that
    drains later), and finish at once otherwise; it records the order frames left in."""

    def __init__(self, every: int, pause: float = 0.005) -> None:
        super().__init__()
        self.every, self.pause, self.calls = every, pause, 0

    async def send_text(self, data: str) -> None:
        self.calls += 1
        if self.calls % self.every == 0:
            await asyncio.sleep(self.pause)
        self.frames.append(json.loads(data))


def test_an_idle_client_gets_the_event_within_publish_and_order_survives_sends_that_wait() -> None:
    """The fan-out sends to an idle client at once (no writer wake-up per client); a send that has to wait
    is finished by a task while later events queue behind it, so every client still gets 1..N in order."""

    async def scenario() -> tuple[Sink, list[Stalling], int]:
        hub = Hub(history_size=500, queue_size=400)
        hub.channels["alerts"].reset("e1", 0, [])
        quick = Sink()
        stalling = [Stalling(every=k) for k in (1, 2, 3, 7)]
        tasks = []
        for sink in (quick, *stalling):
            client, first = hub.attach(sink, "alerts", last_seq=None, epoch=None)
            tasks.append(asyncio.create_task(client.run_writer(first)))
        await asyncio.sleep(0.01)  # hello sent; the writers are idle
        hub.publish([_env(1)])
        got_within_publish = len([f for f in quick.frames if f["type"] == "alert.raised"])
        for seq in range(2, 121):
            hub.publish([_env(seq)])
            if seq % 10 == 0:
                await asyncio.sleep(0)
        for _ in range(400):
            await asyncio.sleep(0.005)
            if all(len(s.frames) >= 121 for s in (quick, *stalling)):
                break
        for task in tasks:
            task.cancel()
        return quick, stalling, got_within_publish

    quick, stalling, got_within_publish = asyncio.run(scenario())
    assert got_within_publish == 1
    for sink in (quick, *stalling):
        assert [f["seq"] for f in sink.frames if f["type"] == "alert.raised"] == list(range(1, 121))
