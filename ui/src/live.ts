// A live channel of the orchestration engine (/ws/hotspots, /ws/alerts, /ws/recs): authenticates with a
// short-lived ticket, remembers the last seq and epoch it saw, and on every reconnect asks to resume from
// there, so nothing is missed and nothing is shown twice. When the server cannot resume (epoch changed,
// history gone) it says `resync` and the page reloads its list over REST.

import { getConfig, getToken, oe } from "./api";

export type ConnectionState = "idle" | "connecting" | "live" | "reconnecting" | "offline" | "signed-out";

export interface Envelope<T = Record<string, unknown>> {
  channel: string;
  seq: number;
  epoch: string;
  id: string;
  type: string;
  ts: string;
  payload: T;
}

export interface ChannelOptions {
  onEvent: (e: Envelope) => void;
  onState?: (s: ConnectionState, detail?: string) => void;
  onResync?: () => void;
  /** tests replace the WebSocket and the ticket source */
  socketFactory?: (url: string) => WebSocket;
  ticket?: () => Promise<string>;
  maxBackoffMs?: number;
}

const CONTROL = new Set(["hello", "ping", "pong", "resync"]);

export class LiveChannel {
  state: ConnectionState = "idle";
  lastSeq: number | null = null;
  epoch: string | null = null;
  attempts = 0;
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private seen = new Set<string>();
  private readonly name: string;
  private readonly opts: ChannelOptions;

  constructor(name: "hotspots" | "alerts" | "recs", opts: ChannelOptions) {
    this.name = name;
    this.opts = opts;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "page closed");
    this.ws = null;
    this.set("idle");
  }

  /** Reconnect now (e.g. after the token was set), keeping the resume position. */
  retry(): void {
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "retry");
    this.ws = null;
    this.attempts = 0;
    void this.connect();
  }

  private set(state: ConnectionState, detail?: string): void {
    this.state = state;
    this.opts.onState?.(state, detail);
  }

  private async ticket(): Promise<string> {
    if (this.opts.ticket) return this.opts.ticket();
    return (await oe.post<{ ticket: string }>("/ws-tickets")).ticket;
  }

  url(ticket: string): string {
    const base = getConfig().orchestrationUrl.replace(/^http/, "ws");
    const q = new URLSearchParams({ ticket });
    if (this.lastSeq !== null && this.epoch) {
      q.set("last_seq", String(this.lastSeq));
      q.set("epoch", this.epoch);
    }
    return `${base}/ws/${this.name}?${q.toString()}`;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    if (!this.opts.ticket && !getToken()) {
      this.set("signed-out", "sign in with a token (read or write) to receive live updates");
      return;
    }
    this.set(this.attempts === 0 && this.lastSeq === null ? "connecting" : "reconnecting");
    let ticket: string;
    try {
      ticket = await this.ticket();
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401) {
        this.set("signed-out", "the token was refused");
        return;
      }
      this.schedule(`no ticket: ${(e as Error).message}`);
      return;
    }
    if (this.stopped) return;
    const ws = (this.opts.socketFactory ?? ((u: string) => new WebSocket(u)))(this.url(ticket));
    this.ws = ws;
    ws.onmessage = (m) => this.receive(ws, String(m.data));
    ws.onclose = (e) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      if (e.code === 4401 || e.code === 1008) this.set("signed-out", e.reason || "refused");
      else this.schedule(e.reason || `closed (${e.code})`);
    };
    ws.onerror = () => undefined; // onclose follows and reconnects
  }

  private schedule(detail: string): void {
    if (this.stopped) return;
    this.attempts += 1;
    const max = this.opts.maxBackoffMs ?? 15000;
    const delay = Math.min(max, 500 * 2 ** Math.min(this.attempts - 1, 6)) * (0.75 + Math.random() * 0.5);
    this.set(this.attempts > 3 ? "offline" : "reconnecting", `${detail}; retrying in ${Math.round(delay / 1000)} s`);
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private receive(ws: WebSocket, text: string): void {
    let e: Envelope;
    try {
      e = JSON.parse(text);
    } catch {
      return;
    }
    if (e.type === "ping") {
      ws.send(JSON.stringify({ type: "pong" }));
      return;
    }
    if (e.type === "hello") {
      this.attempts = 0;
      this.epoch = e.epoch;
      this.lastSeq = e.seq;
      this.set("live");
      return;
    }
    if (e.type === "resync") {
      this.epoch = e.epoch;
      this.lastSeq = Number((e.payload as { last_seq?: number }).last_seq ?? e.seq);
      this.opts.onResync?.();
      return;
    }
    if (CONTROL.has(e.type)) return;
    if (this.epoch && e.epoch !== this.epoch) {
      this.epoch = e.epoch;
      this.opts.onResync?.();
    }
    if (this.lastSeq !== null && e.seq <= this.lastSeq && this.seen.has(e.id)) return;
    this.lastSeq = e.seq;
    this.seen.add(e.id);
    if (this.seen.size > 5000) this.seen = new Set([...this.seen].slice(-2500));
    this.opts.onEvent(e);
  }
}
