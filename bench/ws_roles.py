"""The processes bench/ws.py starts besides the services (each as ``python bench/ws.py --_role <role>``): the
naive broadcast server (``--_role naive``: a list of sockets, ``await ws.send_text`` to each in turn) and the
WebSocket client processes (``--_role clients``: asyncio clients that record when each frame arrives)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

CONTROL = ("hello", "ping", "pong", "resync")


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# =========================================================================== role: naive server
def run_naive(port: int, ws_impl: str) -> None:
    """A naive broadcast loop: a list of sockets, ``await ws.send_text`` to each in turn, no queues."""
    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    clients: list[WebSocket] = []
    state = {"seq": 0}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # the auth message (not checked: this is the anchor, not a product)
        await ws.send_text(orjson.dumps({"channel": "alerts", "seq": state["seq"], "epoch": "naive",
                                         "id": "hello", "type": "hello", "ts": "", "payload": {}}).decode())
        clients.append(ws)
        try:
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            with contextlib.suppress(ValueError):
                clients.remove(ws)

    async def publish(request: Request) -> JSONResponse:
        payloads = orjson.loads(await request.body())
        for payload in payloads:
            state["seq"] += 1
            frame = orjson.dumps({"channel": "alerts", "seq": state["seq"], "epoch": "naive",
                                  "id": f"alert:{state['seq']}:raised", "type": "alert.raised",
                                  "ts": "", "payload": payload}).decode()
            for ws in list(clients):
                with contextlib.suppress(Exception):  # a gone client is skipped
                    await ws.send_text(frame)
        return JSONResponse({"sent": len(payloads), "clients": len(clients)})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "clients": len(clients)})

    app = Starlette(routes=[Route("/publish", publish, methods=["POST"]), Route("/health", health),
                            WebSocketRoute("/ws/alerts", endpoint)])
    # the same WebSocket settings as the engine (services.common.app.serve): no permessage-deflate
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, ws=ws_impl,  # type: ignore[arg-type]
                ws_per_message_deflate=False)


# =========================================================================== role: clients
async def clients_main(url: str, token: str, count: int, slow_idx: set[int], deflate: bool, slow_rcvbuf: int,
                       out_path: str) -> None:
    """Connect ``count`` clients, say ready, wait for ``collect <expected> <seconds>`` on stdin, write figures."""
    import orjson
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    received: list[list[tuple[float, int, str, int]]] = [[] for _ in range(count)]  # (t, seq, type, alert idx)
    counts = [0] * count
    closes: dict[int, Any] = {}
    conns: dict[int, Any] = {}
    connect_errors: list[str] = []
    hello = [asyncio.Event() for _ in range(count)]
    everyone = asyncio.Event()
    expected = {"n": 1 << 30}
    healthy_done = {"n": 0}
    healthy = count - len(slow_idx)
    sem = asyncio.Semaphore(64)

    def alert_index(message: dict[str, Any]) -> int:
        payload = message.get("payload") or {}
        site = (payload.get("hotspot") or {}).get("site") or payload.get("site") or ""
        return int(site.rsplit("-", 1)[1]) if site.startswith("bench-") else -1

    async def one(i: int) -> None:
        slow = i in slow_idx
        kwargs: dict[str, Any] = {"compression": "deflate" if deflate else None, "proxy": None,
                                  "open_timeout": 60, "ping_interval": None, "max_size": 1 << 24}
        if slow:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, slow_rcvbuf)
            sock.setblocking(False)
            host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
            await loop.sock_connect(sock, (host, int(port)))
            kwargs.update(sock=sock, max_queue=1)
        try:
            async with sem:
                ws = await connect(url, **kwargs)
                conns[i] = ws
                await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
                first = orjson.loads(await ws.recv())
                if first.get("type") != "hello":
                    raise RuntimeError(f"expected hello, got {first.get('type')}")
            hello[i].set()
            if slow:
                return  # stops reading: frames pile up in its (small) buffers and then the server's
            mine = received[i]
            async for raw in ws:
                t = time.time()
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if kind in CONTROL:
                    continue
                mine.append((t, message.get("seq", -1), kind, alert_index(message)))
                counts[i] += 1
                if counts[i] == expected["n"]:
                    healthy_done["n"] += 1
                    if healthy_done["n"] >= healthy:
                        everyone.set()
        except Exception as exc:  # noqa: BLE001 - counted, reported
            connect_errors.append(f"{i}: {type(exc).__name__}: {exc}"[:200])
            hello[i].set()
        finally:
            ws_ = conns.get(i)
            if ws_ is not None and not slow:
                closes[i] = (ws_.close_code, ws_.close_reason)

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    t0 = time.perf_counter()
    await asyncio.gather(*(h.wait() for h in hello))
    print(json.dumps({"ready": count - len(connect_errors), "errors": connect_errors[:5],
                      "connect_s": round(time.perf_counter() - t0, 2)}), flush=True)

    line = await loop.run_in_executor(None, sys.stdin.readline)
    _, n, seconds = line.split()
    expected["n"] = int(n)
    healthy_done["n"] = sum(1 for i in range(count) if i not in slow_idx and counts[i] >= expected["n"])
    if healthy_done["n"] < healthy:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), timeout=float(seconds))
    # the slow clients read again: what did they get, were they closed (and how)?
    slow_report: dict[int, Any] = {}

    async def drain(i: int) -> None:
        ws = conns.get(i)
        if ws is None:
            slow_report[i] = {"error": "not connected"}
            return
        got, code = 0, None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                async for raw in ws:
                    message = orjson.loads(raw)
                    if message.get("type") not in CONTROL:
                        got += 1
        code = ws.close_code
        slow_report[i] = {"received": got, "close_code": code, "close_reason": ws.close_reason}

    await asyncio.gather(*(drain(i) for i in slow_idx))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    result = {"received": {str(i): received[i] for i in range(count) if i not in slow_idx},
              "closed_early": {str(i): c for i, c in closes.items() if c[0] is not None},
              "slow": {str(i): r for i, r in slow_report.items()}, "errors": connect_errors}
    Path(out_path).write_bytes(orjson.dumps(result))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in conns.values()), return_exceptions=True), 5)
    print(json.dumps({"done": out_path}), flush=True)
