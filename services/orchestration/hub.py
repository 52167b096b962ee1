"""WebSocket fan-out: per-channel ``seq``/``epoch``, bounded history for resume, bounded queues per client.

Publishing is synchronous and never awaits: an envelope the data core logged is put in ``seq`` order
(duplicates ignored; one that skips ahead is held until the gap is filled, the tail poller fetches what is
missing), serialised once, appended to the channel's history and offered to every client's bounded queue
(a deque append per client), or, when the client's writer is idle, sent at once: one call into the ASGI
server's ``send``, which completes without waiting while the socket is writable (a send that has to wait is
finished by a task, and later events queue behind it). A writer task per client sends what its queue holds,
everything waiting in one wake-up, in later turns of the event loop; so the request that stored an event answers at once, and
the next request (the durable write of the next alert) and the writers of the previous one share the loop
without either waiting for the other. A client whose queue is full is closed with a reason (it reconnects
with its last ``seq`` and resumes from history) and never stalls the others. A writer skips anything at or
below what it already sent, so a client gets each event exactly once (from its replay or from its queue).

Measured in bench/ws.py (bench/RESULTS.md): moving the offers to a task per channel, with or without
giving the loop back between slices of clients, made the tail worse on 2 shared cores (one more turn of
the loop per event; slices let requests in faster than the alerts went out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from services.common.contracts import CHANNELS, Channel

log = logging.getLogger(__name__)
RELOAD: dict[str, str] = {Channel.HOTSPOTS: "/api/v1/hotspots", Channel.ALERTS: "/api/v1/alerts",
          Channel.RECS: "/api/v1/recommendations"}

# close codes (4000-4999 are the application's)
CLOSE_SLOW = 4008
CLOSE_NO_PONG = 4000
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_SHUTDOWN = 1001
CLOSE_RECONNECT = 1012  # service restart: reconnect
CLOSE_NOT_READY = 1013  # try again later
CLOSE_TOO_BIG = 1009  # a frame over ws_max_bytes


class Connections:
    """WebSocket connections open at once, in total and per client address. ``reserve`` is called before
    the handshake is accepted; over a cap the caller refuses it (HTTP 429/503), so a flood of sockets
    costs no accepted connection, queue or writer task."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self.open: dict[str, int] = {}
        self.count = 0

    def reserve(self, client: str) -> tuple[int, str] | None:
        """None when a connection for ``client`` is counted, else (HTTP status, reason) to refuse it."""
        if self.count >= self.total:
            return 503, f"the engine has {self.total} WebSocket connections open, its limit; try again later"
        if self.open.get(client, 0) >= self.per_client:
            return 429, f"this client has {self.per_client} WebSocket connections open, the limit per client"
        self.open[client] = self.open.get(client, 0) + 1
        self.count += 1
        return None

    def release(self, client: str) -> None:
        left = self.open.get(client, 0) - 1
        if left > 0:
            self.open[client] = left
        else:
            self.open.pop(client, None)
        self.count = max(0, self.count - 1)


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(eq=False)
class Client:
    """One connection's bounded queue and its writer. The queue is a deque with one waiter (cheaper than an
    ``asyncio.Queue`` per client: the fan-out offers each frame to every client)."""

    socket: Socket
    channel: str
    queue_size: int
    pending: deque[tuple[int | None, str]] = field(default_factory=deque)
    waiter: asyncio.Future[None] | None = None
    sent_seq: int = 0
    closed: str | None = None
    last_seen: float = field(default_factory=time.monotonic)
    answers_pings: bool = False
    on_close: Callable[[Client], None] | None = None
    close_args: tuple[int, str] = (1000, "bye")
    inflight: asyncio.Task[None] | None = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def offer(self, seq: int | None, frame: str) -> bool:
        if self.closed:
            return False
        if not self.pending and self.inflight is None and self.waiter is not None and not self.waiter.done():
            self._send_now(seq, frame)  # the writer is idle: send at once, no task wake-up per client
            return True
        if len(self.pending) >= self.queue_size:
            self.close_soon(CLOSE_SLOW, f"too slow: more than {self.queue_size} messages waiting; reconnect "
                                        f"with last_seq={self.sent_seq} to resume")
            return False
        self.pending.append((seq, frame))
        self._wake()
        return True

    def _sent(self, seq: int | None) -> None:
        if seq is not None:
            self.sent_seq = seq

    def _send_now(self, seq: int | None, frame: str) -> None:
        """Run the socket's send until it completes or would wait. A send on a writable socket never waits
        (the frame goes to the transport's buffer), so the fan-out costs one call per client; one that would
        wait (a full buffer: a slow reader) is finished by a task, and the writer sends nothing else until
        it is done, so order is kept."""
        coro = self.socket.send_text(frame)
        try:
            step = coro.send(None)
        except StopIteration:
            self._sent(seq)
            return
        except Exception as exc:  # noqa: BLE001 - a broken socket ends this client only
            self.close_soon(1011, f"send failed: {type(exc).__name__}")
            return
        self.inflight = asyncio.get_running_loop().create_task(self._finish(coro, step, seq))

    async def _finish(self, coro: Any, step: Any, seq: int | None) -> None:
        """Drive a send that waited (``step``: what it waits for) to its end, as the event loop's task would."""
        try:
            while True:
                try:
                    if step is None:  # a bare yield: give the loop one turn
                        await asyncio.sleep(0)
                    else:  # a future: the send resumes when it is done (as Task.__step would arrange)
                        step._asyncio_future_blocking = False
                        await step
                except BaseException as exc:  # noqa: BLE001 - passed into the send, as a task would
                    step = coro.throw(exc)
                else:
                    step = coro.send(None)
        except StopIteration:
            self._sent(seq)
        except Exception as exc:  # noqa: BLE001 - a broken socket ends this client only
            self.close_soon(1011, f"send failed: {type(exc).__name__}")
        finally:
            self.inflight = None
            if self.pending or self.closed:
                self._wake()

    def close_soon(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = reason
        self.close_args = (code, reason)
        if self.on_close:
            self.on_close(self)
        self._wake()  # the writer closes the socket

    async def _next_batch(self) -> deque[tuple[int | None, str]]:
        """Everything waiting, in one wake-up."""
        while not self.pending and not self.closed:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        batch, self.pending = self.pending, deque()
        return batch

    async def run_writer(self, first: list[tuple[int | None, str]]) -> None:
        """Send the first messages (hello, replay), then the live queue, skipping anything already sent."""
        try:
            for seq, frame in first:
                if self.closed:
                    break
                await self.socket.send_text(frame)
                if seq is not None:
                    self.sent_seq = seq
            while not self.closed:
                batch = await self._next_batch()
                if self.inflight is not None:  # a send started by the fan-out finishes first: order
                    await asyncio.wait([self.inflight])
                for seq, frame in batch:
                    if self.closed:
                        break
                    if seq is not None and seq <= self.sent_seq:
                        continue
                    await self.socket.send_text(frame)
                    if seq is not None:
                        self.sent_seq = seq
        except Exception as exc:  # noqa: BLE001 - a broken socket ends this client only
            self.close_soon(1011, f"send failed: {type(exc).__name__}")
        code, reason = self.close_args
        if self.inflight is not None:
            await asyncio.wait([self.inflight], timeout=2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code=code, reason=reason[:120]), timeout=2.0)


class ChannelState:
    """One channel: its identity in the data core's log (``epoch``, ``last_seq``), the history held for
    resume, and the clients."""

    def __init__(self, name: str, *, history_size: int) -> None:
        self.name = name
        self.epoch = ""
        self.last_seq = 0
        self.history: deque[tuple[int, str]] = deque(maxlen=history_size)
        self.clients: set[Client] = set()
        self.held: dict[int, tuple[str, dict[str, Any]]] = {}
        self.delivered = 0

    def reset(self, epoch: str, last_seq: int, events: list[dict[str, Any]]) -> None:
        """Load identity and history from the durable log (at start, or when the epoch changed)."""
        changed = epoch != self.epoch
        self.epoch, self.last_seq = epoch, last_seq
        self.history.clear()
        self.held.clear()
        for env in events:
            self.history.append((env["seq"], dumps(env)))
        if changed:  # a new history: connected clients reconnect (and get resync for the old epoch)
            for client in list(self.clients):
                client.close_soon(CLOSE_RECONNECT, "the channel's history was reset (new epoch); reconnect")

    def control(self, kind: str, payload: dict[str, Any], seq: int | None = None) -> str:
        return dumps({"channel": self.name, "seq": self.last_seq if seq is None else seq, "epoch": self.epoch,
                      "id": f"{kind}-{uuid.uuid4().hex[:12]}", "type": kind, "ts": _now_iso(), "payload": payload})

    def publish(self, envelopes: list[dict[str, Any]]) -> int:
        """Put envelopes in seq order (duplicates ignored, gaps held) and offer them to every client's queue.
        Returns how many were put in order. Never awaits: the writers send in later turns of the loop."""
        for env in envelopes:
            if env["epoch"] != self.epoch or env["seq"] <= self.last_seq:
                continue
            self.held[env["seq"]] = (dumps(env), env)
        ready: list[tuple[int, str]] = []
        while self.last_seq + 1 in self.held:
            frame, _ = self.held.pop(self.last_seq + 1)
            self.last_seq += 1
            self.history.append((self.last_seq, frame))
            ready.append((self.last_seq, frame))
        if ready:
            self.offer_all(ready, list(self.clients))
        return len(ready)

    def offer_all(self, frames: list[tuple[int, str]], clients: list[Client]) -> None:
        for client in clients:
            for seq, frame in frames:
                if client.offer(seq, frame):
                    self.delivered += 1

    @property
    def has_gap(self) -> bool:
        return bool(self.held)

    def replay_after(self, last_seq: int) -> list[tuple[int, str]] | None:
        """History after ``last_seq``, or None when it is no longer held (the client must resync)."""
        if last_seq >= self.last_seq:
            return []
        oldest = self.history[0][0] if self.history else self.last_seq + 1
        if last_seq + 1 < oldest:
            return None
        return [(s, f) for s, f in self.history if s > last_seq]


class Hub:
    def __init__(self, *, history_size: int = 1000, queue_size: int = 256) -> None:
        self.channels = {name: ChannelState(name, history_size=history_size) for name in CHANNELS}
        self.queue_size = queue_size
        self.gap_event = asyncio.Event()

    def publish(self, envelopes: list[dict[str, Any]]) -> int:
        sent = 0
        for name in {e["channel"] for e in envelopes}:
            channel = self.channels[name]
            sent += channel.publish([e for e in envelopes if e["channel"] == name])
            if channel.has_gap:
                self.gap_event.set()
        return sent

    def attach(self, socket: Socket, channel_name: str, *, last_seq: int | None, epoch: str | None
               ) -> tuple[Client, list[tuple[int | None, str]]]:
        """Register a client and compute what it must receive first (hello, then replay or resync).
        Runs without awaiting, so no live event can slip between the replay and the queue."""
        channel = self.channels[channel_name]
        client = Client(socket=socket, channel=channel_name, queue_size=self.queue_size)
        client.on_close = lambda c: channel.clients.discard(c)
        first: list[tuple[int | None, str]] = []
        replay: list[tuple[int, str]] | None = []
        reason = None
        if last_seq is not None:
            if epoch and epoch != channel.epoch:
                replay, reason = None, "epoch changed: the history was reset"
            elif last_seq > channel.last_seq:
                replay, reason = None, "last_seq is ahead of the server"
            else:
                replay = channel.replay_after(last_seq)
                if replay is None:
                    reason = "too far behind: the missed events are no longer held"
        hello = {"resumed": len(replay or []), "history_from": channel.history[0][0] if channel.history else None,
                 "last_seq": channel.last_seq}
        start = last_seq if (last_seq is not None and reason is None and replay is not None) else channel.last_seq
        # control messages do not move a client's position; hello's seq is where this connection starts
        first.append((None, channel.control("hello", hello, seq=start)))
        if replay is None:
            first.append((None, channel.control("resync", {"reason": reason, "last_seq": channel.last_seq,
                                                        "reload": RELOAD[channel_name]})))
            replay = []
        client.sent_seq = last_seq if (last_seq is not None and reason is None) else channel.last_seq
        channel.clients.add(client)
        return client, [*first, *replay]

    def stats(self) -> dict[str, Any]:
        return {name: {"epoch": c.epoch, "last_seq": c.last_seq, "clients": len(c.clients),
                       "history": len(c.history), "delivered": c.delivered, "held": len(c.held)}
                for name, c in self.channels.items()}

    async def close_all(self) -> None:
        for channel in self.channels.values():
            for client in list(channel.clients):
                client.close_soon(CLOSE_SHUTDOWN, "server shutting down; reconnect with last_seq")
