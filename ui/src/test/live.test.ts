import { describe, expect, it, vi } from "vitest";
import { LiveChannel, type ConnectionState, type Envelope } from "../live";

class FakeSocket {
  static all: FakeSocket[] = [];
  url: string;
  sent: string[] = [];
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(url: string) { this.url = url; FakeSocket.all.push(this); }
  send(s: string) { this.sent.push(s); }
  close() { /* the test closes from the server side */ }
  emit(e: Partial<Envelope>) { this.onmessage?.({ data: JSON.stringify({ channel: "alerts", ts: "", payload: {}, ...e }) }); }
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function channel() {
  const events: Envelope[] = [];
  const states: ConnectionState[] = [];
  const resyncs: number[] = [];
  const ch = new LiveChannel("alerts", {
    onEvent: (e) => events.push(e), onState: (s) => states.push(s), onResync: () => resyncs.push(1),
    socketFactory: (u) => new FakeSocket(u) as unknown as WebSocket, ticket: async () => "t1", maxBackoffMs: 10,
  });
  return { ch, events, states, resyncs };
}

describe("LiveChannel", () => {
  it("goes live on hello, answers pings and delivers each event once", async () => {
    FakeSocket.all = [];
    const { ch, events, states } = channel();
    ch.start();
    await flush();
    const ws = FakeSocket.all[0];
    expect(ws.url).toContain("/ws/alerts?ticket=t1");
    expect(ws.url).not.toContain("last_seq");
    ws.emit({ type: "hello", seq: 10, epoch: "E", id: "h" });
    expect(states.at(-1)).toBe("live");
    ws.emit({ type: "ping", seq: 10, epoch: "E", id: "p" });
    expect(ws.sent).toEqual([JSON.stringify({ type: "pong" })]);
    ws.emit({ type: "alert.raised", seq: 11, epoch: "E", id: "a:11" });
    ws.emit({ type: "alert.raised", seq: 11, epoch: "E", id: "a:11" });
    expect(events.map((e) => e.seq)).toEqual([11]);
    ch.stop();
  });

  it("resumes from the last seq and epoch after the connection drops", async () => {
    FakeSocket.all = [];
    vi.useFakeTimers();
    const { ch, events, states } = channel();
    ch.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeSocket.all[0];
    first.emit({ type: "hello", seq: 3, epoch: "E1", id: "h" });
    first.emit({ type: "alert.raised", seq: 4, epoch: "E1", id: "a4" });
    first.onclose?.({ code: 1012, reason: "restart" });
    expect(states.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(50);
    const second = FakeSocket.all[1];
    expect(second.url).toContain("last_seq=4");
    expect(second.url).toContain("epoch=E1");
    second.emit({ type: "hello", seq: 4, epoch: "E1", id: "h2" });
    second.emit({ type: "alert.acknowledged", seq: 5, epoch: "E1", id: "a5" });
    expect(events.map((e) => e.id)).toEqual(["a4", "a5"]);
    ch.stop();
    vi.useRealTimers();
  });

  it("asks the page to reload when the server cannot resume", async () => {
    FakeSocket.all = [];
    const { ch, resyncs } = channel();
    ch.start();
    await flush();
    FakeSocket.all[0].emit({ type: "resync", seq: 0, epoch: "E2", id: "r", payload: { last_seq: 7 } });
    expect(resyncs).toHaveLength(1);
    expect(ch.lastSeq).toBe(7);
    expect(ch.epoch).toBe("E2");
    ch.stop();
  });

  it("stays signed out without a token instead of hammering the server", async () => {
    FakeSocket.all = [];
    localStorage.clear();
    const states: ConnectionState[] = [];
    const ch = new LiveChannel("recs", { onEvent: () => undefined, onState: (s) => states.push(s),
      socketFactory: (u) => new FakeSocket(u) as unknown as WebSocket });
    ch.start();
    await flush();
    expect(states).toEqual(["signed-out"]);
    expect(FakeSocket.all).toHaveLength(0);
  });
});
