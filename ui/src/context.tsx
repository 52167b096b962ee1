import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { getRole, getToken, oe, onRoleChange, onTokenChange, type Role } from "./api";
import { LiveChannel, type ConnectionState, type Envelope } from "./live";
import { yearRange } from "./format";

// ------------------------------------------------------------------ the period every page looks at
export type Method = "location" | "market";

interface PeriodValue {
  year: number | null;
  years: number[];
  method: Method;
  setYear: (y: number) => void;
  setMethod: (m: Method) => void;
  range: { start: string; end: string } | null;
  previous: { start: string; end: string } | null;
  error: unknown;
}

const PeriodContext = createContext<PeriodValue | null>(null);

export function PeriodProvider({ children }: { children: ReactNode }) {
  const [years, setYears] = useState<number[]>([]);
  const [year, setYear] = useState<number | null>(null);
  const [method, setMethod] = useState<Method>(() => (localStorage.getItem("carbon-nexus.method") as Method) || "location");
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    oe.get<{ rows: { period: string; kg_co2e: number }[] }>("/emissions/timeseries", { interval: "year" })
      .then((r) => {
        const ys = [...new Set(r.rows.map((x) => Number(x.period.slice(0, 4))))].sort((a, b) => b - a);
        setYears(ys);
        const saved = Number(localStorage.getItem("carbon-nexus.year"));
        setYear(ys.includes(saved) ? saved : (ys[0] ?? new Date().getUTCFullYear()));
      })
      .catch((e) => {
        setError(e);
        setYear(new Date().getUTCFullYear());
      });
  }, []);
  const value = useMemo<PeriodValue>(() => ({
    year, years, method, error,
    setYear: (y) => { localStorage.setItem("carbon-nexus.year", String(y)); setYear(y); },
    setMethod: (m) => { localStorage.setItem("carbon-nexus.method", m); setMethod(m); },
    range: year ? yearRange(year) : null,
    previous: year ? yearRange(year - 1) : null,
  }), [year, years, method, error]);
  return <PeriodContext.Provider value={value}>{children}</PeriodContext.Provider>;
}

export function usePeriod(): PeriodValue {
  const v = useContext(PeriodContext);
  if (!v) throw new Error("usePeriod outside PeriodProvider");
  return v;
}

// ------------------------------------------------------------------ live channels (one connection each for the app)
type Channel = "alerts" | "recs" | "hotspots";
interface LiveValue {
  states: Record<Channel, ConnectionState>;
  detail: Record<Channel, string | undefined>;
  subscribe: (fn: (e: Envelope) => void) => () => void;
  resyncs: number;
  retry: () => void;
}

const LiveContext = createContext<LiveValue | null>(null);
const CHANNELS: Channel[] = ["alerts", "recs", "hotspots"];

export function LiveProvider({ children }: { children: ReactNode }) {
  const subs = useRef(new Set<(e: Envelope) => void>());
  const channels = useRef<Record<string, LiveChannel>>({});
  const [states, setStates] = useState<Record<Channel, ConnectionState>>({ alerts: "idle", recs: "idle", hotspots: "idle" });
  const [detail, setDetail] = useState<Record<Channel, string | undefined>>({ alerts: undefined, recs: undefined, hotspots: undefined });
  const [resyncs, setResyncs] = useState(0);
  useEffect(() => {
    for (const name of CHANNELS) {
      const ch = new LiveChannel(name, {
        onEvent: (e) => subs.current.forEach((fn) => fn(e)),
        onState: (s, d) => {
          setStates((prev) => ({ ...prev, [name]: s }));
          setDetail((prev) => ({ ...prev, [name]: d }));
        },
        onResync: () => setResyncs((n) => n + 1),
      });
      channels.current[name] = ch;
      ch.start();
    }
    const off = onTokenChange(() => Object.values(channels.current).forEach((c) => c.retry()));
    return () => {
      off();
      Object.values(channels.current).forEach((c) => c.stop());
    };
  }, []);
  const subscribe = useCallback((fn: (e: Envelope) => void) => {
    subs.current.add(fn);
    return () => { subs.current.delete(fn); };
  }, []);
  const retry = useCallback(() => Object.values(channels.current).forEach((c) => c.retry()), []);
  const value = useMemo(() => ({ states, detail, subscribe, resyncs, retry }), [states, detail, subscribe, resyncs, retry]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveValue {
  const v = useContext(LiveContext);
  if (!v) throw new Error("useLive outside LiveProvider");
  return v;
}

export function useLiveEvents(fn: (e: Envelope) => void): void {
  const { subscribe } = useLive();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((e) => ref.current(e)), [subscribe]);
}

// ------------------------------------------------------------------ drawers: audit trail, KB document, cited query
export interface AuditTarget {
  title: string;
  params: Record<string, string | number | (string | number)[] | undefined>;
}
export type DrawerContent =
  | { kind: "audit"; target: AuditTarget }
  | { kind: "kb"; id: string }
  | { kind: "query"; citation: { ref?: string; endpoint: string; params?: Record<string, unknown>; result?: unknown } };

interface DrawerValue {
  content: DrawerContent | null;
  open: (c: DrawerContent) => void;
  close: () => void;
}
const DrawerContext = createContext<DrawerValue | null>(null);

export function DrawerProvider({ children }: { children: ReactNode }) {
  const [content, setContent] = useState<DrawerContent | null>(null);
  const value = useMemo(() => ({ content, open: setContent, close: () => setContent(null) }), [content]);
  return <DrawerContext.Provider value={value}>{children}</DrawerContext.Provider>;
}

export function useDrawer(): DrawerValue {
  const v = useContext(DrawerContext);
  if (!v) throw new Error("useDrawer outside DrawerProvider");
  return v;
}

export function useToken(): string | null {
  const [token, set] = useState(getToken());
  useEffect(() => onTokenChange(() => set(getToken())), []);
  return token;
}

/** The role of the stored token: "write" may change things, "read" only look. */
export function useRole(): Role {
  const [role, set] = useState(getRole());
  useEffect(() => onRoleChange(() => set(getRole())), []);
  return role;
}

/** Why a write control is disabled, or null when the token may write. */
export function writeHint(role: Role, what: string): string | null {
  if (role === "write") return null;
  if (role === "read") return `Read-only: ${what} needs the write token (API_TOKEN). Sign in, top right.`;
  if (role === "unknown") return `Checking the token… ${what} needs the write token.`;
  return `${what[0].toUpperCase()}${what.slice(1)} needs the write token (API_TOKEN). Sign in, top right.`;
}
