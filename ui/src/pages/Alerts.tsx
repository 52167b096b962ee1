import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { ApiError, oe, rag } from "../api";
import { ConnectionBadge } from "../components/ConnectionBadge";
import { ExpectedChart } from "../components/ExpectedChart";
import { EXPECTATIONS, expectationOf, faultName, faultOf, HotspotEvidence, VerdictPanel, VerdictSummary, type Verdict } from "../components/HotspotEvidence";
import { Async, Empty, ErrorBox } from "../components/States";
import { useDrawer, useLive, useLiveEvents, useRole, useToken, writeHint } from "../context";
import { day, label, when } from "../format";
import { useAsync } from "../hooks";

export interface Hotspot {
  id: string; kind: string; site: string; meter: string; activity_type: string; period_start: string; period_end: string | null;
  status: string; severity: string; excess_kwh: number | null; excess_kg: number | null; model_version: string | null;
  evidence: Record<string, unknown>;
}
export interface Alert {
  id: string; hotspot_id: string; rule: string; severity: string; title: string; status: "open" | "acknowledged" | "resolved";
  created_at: string; updated_at: string; acknowledged_by: string | null; resolved_by: string | null; note: string | null; hotspot?: Hotspot;
}
interface Action { id: string; title: string; rank: number; summary: string; effort?: string; cost?: string;
  abatement_t_co2e_per_year?: { low: number; mid: number; high: number }; citations?: { type: string; id?: string; title?: string; url?: string; publisher?: string }[] }
interface Rec { status: string; attempts: number; last_error: string | null; content: { actions?: Action[]; note?: string; hotspot?: { note?: string } } | null }

const SEVERITY_ORDER: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** Apply one live event to the list: the newest version of an alert replaces the older one. */
export function applyAlertEvent(alerts: Alert[], type: string, payload: Alert): Alert[] {
  if (!type.startsWith("alert.")) return alerts;
  const rest = alerts.filter((a) => a.id !== payload.id);
  return [payload, ...rest].sort((a, b) => b.created_at.localeCompare(a.created_at));
}

export function Alerts() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "active";
  const site = params.get("site") ?? "";
  const live = useLive();
  const token = useToken();
  const list = useAsync(() => oe.get<{ alerts: Alert[] }>("/alerts", {
    status: status === "active" ? ["open", "acknowledged"] : status === "all" ? undefined : [status],
    site: site || undefined, limit: 500,
  }).then((r) => r.alerts), [status, site, live.resyncs]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<string | null>(null);
  const [recVersion, setRecVersion] = useState(0);
  const [verdictVersion, setVerdictVersion] = useState(0);

  useLiveEvents((e) => {
    if (e.type.startsWith("alert.")) {
      const a = e.payload as unknown as Alert;
      if (site && a.hotspot?.site !== site) return;
      list.setData((prev) => applyAlertEvent(prev ?? [], e.type, a));
      if (e.type === "alert.raised" || e.type === "alert.escalated") setFresh((f) => new Set(f).add(a.id));
    } else if (e.type === "rec.ready") {
      setRecVersion((n) => n + 1);
    }
  });

  const shown = useMemo(() => (list.data ?? []).filter((a) => status === "all" || (status === "active" ? a.status !== "resolved" : a.status === status)),
    [list.data, status]);
  const current = shown.find((a) => a.id === selected) ?? null;
  useEffect(() => {
    if (!selected && shown.length && window.matchMedia?.("(min-width: 900px)").matches) setSelected(shown[0].id);
  }, [shown, selected]);
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    (list.data ?? []).forEach((a) => { if (a.status !== "resolved") c[a.severity] = (c[a.severity] ?? 0) + 1; });
    return c;
  }, [list.data]);

  return (
    <div className="page">
      <header className="page-head row">
        <div>
          <h1>Hotspots &amp; alerts</h1>
          <p className="muted">New alerts arrive live; the list resumes where it left off after a lost connection.</p>
        </div>
        <ConnectionBadge state={live.states.alerts} detail={live.detail.alerts} onRetry={live.retry} />
      </header>
      {!token ? <div className="state info">Sign in (top right) to see alerts and receive live updates: the read token shows them, the write token also acknowledges and resolves.</div> : null}
      <div className="toolbar">
        <label>Status{" "}
          <select value={status} onChange={(e) => { params.set("status", e.target.value); setParams(params); }}>
            <option value="active">Open and acknowledged</option>
            <option value="open">Open</option>
            <option value="acknowledged">Acknowledged</option>
            <option value="resolved">Resolved</option>
            <option value="all">All</option>
          </select>
        </label>
        {site ? <span className="chip">site {site} <button type="button" className="icon" aria-label="Clear the site filter" onClick={() => { params.delete("site"); setParams(params); }}>✕</button></span> : null}
        <span className="counts" aria-label="Active alerts by severity">
          {["critical", "high", "medium", "low"].map((s) => counts[s] ? <span key={s} className={`sev sev-${s}`}>{counts[s]} {s}</span> : null)}
        </span>
      </div>
      <VerdictSummary version={verdictVersion} enabled={!!token} />
      <div className="split">
        <section className="panel list-panel" aria-label="Alerts">
          <Async state={{ ...list, data: list.data === undefined ? undefined : shown }} what="Loading alerts">
            {(items) => items.length === 0 ? <Empty>No alerts here. New ones appear as soon as a scan finds them.</Empty> : (
              <ul className="alerts" data-testid="alert-list">
                {[...items].sort((a, b) => (fresh.has(b.id) ? 1 : 0) - (fresh.has(a.id) ? 1 : 0) || b.created_at.localeCompare(a.created_at) || (SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity])).map((a) => (
                  <li key={a.id}>
                    <button type="button" className={`alert-item${a.id === selected ? " selected" : ""}${fresh.has(a.id) ? " fresh" : ""}`}
                            onClick={() => setSelected(a.id)} aria-current={a.id === selected} data-testid="alert-item" data-site={a.hotspot?.site} data-status={a.status}>
                      <span className={`sev sev-${a.severity}`}>{a.severity}</span>
                      <span className="alert-title">{a.title}</span>
                      <span className="muted small">{a.hotspot ? <><strong className="fault-name">{faultName(faultOf(a.hotspot))}</strong> · {EXPECTATIONS[expectationOf(a.hotspot)].name.toLowerCase()} · </> : null}{a.hotspot?.site} · {label(a.hotspot?.activity_type)} · from {a.hotspot ? day(a.hotspot.period_start) : "–"} · raised {when(a.created_at)}</span>
                      <span className={`status status-${a.status}`}>{fresh.has(a.id) ? "new · " : ""}{a.status}</span>
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </Async>
        </section>
        <section className="panel detail-panel" aria-label="Alert detail">
          {current ? <AlertDetail key={current.id} alert={current} recVersion={recVersion} onVerdict={() => setVerdictVersion((n) => n + 1)}
                                   onChange={(a) => list.setData((prev) => applyAlertEvent(prev ?? [], "alert.updated", { ...current, ...a }))} />
            : <Empty>Select an alert to see its evidence, act on it and read the recommended actions.</Empty>}
        </section>
      </div>
    </div>
  );
}

interface HotspotDetail { recommendation: Rec | null; verdict: Verdict | null; alert: Alert | null }

function AlertDetail({ alert, onChange, recVersion, onVerdict }: { alert: Alert; onChange: (a: Alert) => void; recVersion: number; onVerdict: () => void }) {
  const h = alert.hotspot;
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const { open } = useDrawer();
  const role = useRole();
  const hint = writeHint(role, "acknowledging and resolving");
  const detail = useAsync(() => oe.get<HotspotDetail>(`/hotspots/${encodeURIComponent(alert.hotspot_id)}`), [alert.hotspot_id, recVersion]);
  const stored = { ...detail, data: detail.data === undefined ? undefined : detail.data.recommendation };
  const [verdict, setVerdict] = useState<Verdict | null | undefined>(undefined);
  async function verdictGiven(v: Verdict) {
    setVerdict(v);
    onVerdict();
    if (v.verdict === "false_alarm") { // the data core resolved the alert with it
      const now = await oe.get<HotspotDetail>(`/hotspots/${encodeURIComponent(alert.hotspot_id)}`).catch(() => null);
      if (now?.alert) onChange({ ...alert, ...now.alert });
    }
  }
  const [asked, setAsked] = useState<{ loading: boolean; content?: Rec["content"]; error?: unknown }>({ loading: false });
  // the queued request is answered by the next hotspot scan; a user need not wait for it
  async function askNow() {
    setAsked({ loading: true });
    try {
      setAsked({ loading: false, content: await rag.post<Rec["content"]>("/recommendations", { hotspot_id: alert.hotspot_id, top_k: 5 }) });
    } catch (e) {
      setAsked({ loading: false, error: e });
    }
  }
  const rec = asked.content ? { ...stored, data: { status: "ready", attempts: 1, last_error: null, content: asked.content } as Rec } : stored;
  async function act(action: "acknowledge" | "resolve") {
    setBusy(true);
    setError(null);
    try {
      onChange(await oe.post<Alert>(`/alerts/${encodeURIComponent(alert.id)}/${action}`, { by: "dashboard", ...(note ? { note } : {}) }));
      setNote("");
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  }
  const start = h ? new Date(Date.parse(h.period_start) - 2 * 86400e3).toISOString() : undefined;
  const end = h ? new Date(Date.parse(h.period_end ?? h.period_start) + 86400e3).toISOString() : undefined;
  return (
    <div data-testid="alert-detail">
      <h2><span className={`sev sev-${alert.severity}`}>{alert.severity}</span> {alert.title}</h2>
      <p className="muted small">Raised {when(alert.created_at)} by rule <code>{alert.rule}</code> · status <strong data-testid="alert-status">{alert.status}</strong>
        {alert.acknowledged_by ? ` · acknowledged by ${alert.acknowledged_by}` : ""}{alert.resolved_by ? ` · resolved by ${alert.resolved_by}` : ""}</p>
      {h ? (
        <>
          <dl className="facts">
            <dt>Site</dt><dd>{h.site}{h.meter ? ` / ${h.meter}` : ""} · {label(h.activity_type)}</dd>
          </dl>
          <HotspotEvidence h={h} />
        </>
      ) : null}
      {h ? <ExpectedChart params={{ site: h.site, activity_type: h.activity_type, start, end }} interval="hour"
                          hotspots={[{ id: h.id, period_start: h.period_start, period_end: h.period_end, severity: h.severity, kind: h.kind, activity_type: h.activity_type, evidence: h.evidence }]}
                          title="Evidence: hourly actual against expected" height={220} /> : null}
      {alert.status !== "resolved" ? (
        <div className="actions">
          <label htmlFor="alert-note" className="sr-only">Note</label>
          <input id="alert-note" placeholder="Note (optional)" value={note} onChange={(e) => setNote(e.target.value)} maxLength={4000} />
          {alert.status === "open" ? <button type="button" disabled={busy || !!hint} title={hint ?? undefined} onClick={() => void act("acknowledge")}>Acknowledge</button> : null}
          <button type="button" className="secondary" disabled={busy || !!hint} title={hint ?? undefined} onClick={() => void act("resolve")}>Resolve</button>
          {hint ? <span className="muted small" data-testid="write-hint">{hint}</span> : null}
        </div>
      ) : <p className="muted">Resolved{alert.note ? `: ${alert.note}` : ""}.</p>}
      {error ? <ErrorBox error={error} /> : null}
      {h && (verdict !== undefined || detail.data) ? (
        <VerdictPanel hotspotId={h.id} since={h.period_start} verdict={verdict !== undefined ? verdict : detail.data?.verdict ?? null}
                      canWrite={role === "write"} onVerdict={(v) => void verdictGiven(v)} />
      ) : null}
      <h3>Recommended actions</h3>
      <Async state={rec} what="Loading recommendations">
        {(r) => !r || r.status !== "ready" ? (
          <div className="stack">
            {!r ? <Empty>No recommendation requested for this hotspot yet.</Empty>
              : r.status === "pending" ? <Empty>Requested from the chatbot by the scan (attempt {r.attempts}); it appears here as soon as it arrives.</Empty>
              : <ErrorBox error={{ title: "The chatbot could not answer", message: r.last_error ?? "" }} />}
            <div><button type="button" className="secondary" disabled={asked.loading} onClick={() => void askNow()}>
              {asked.loading ? "Asking…" : "Ask the chatbot now"}</button></div>
            {asked.error ? <ErrorBox error={asked.error} /> : null}
          </div>
        )
          : (
            <ol className="recs" data-testid="recommendations">
              {r.content?.hotspot?.note ? <p className="muted small">{r.content.hotspot.note}</p> : null}
              {(r.content?.actions ?? []).map((a) => (
                <li key={a.id}>
                  <strong>{a.title}</strong>
                  {a.abatement_t_co2e_per_year ? <span className="tag">{a.abatement_t_co2e_per_year.low}–{a.abatement_t_co2e_per_year.high} t CO2e/yr</span> : null}
                  {a.effort ? <span className="muted small"> · effort {a.effort} · cost {a.cost}</span> : null}
                  <p className="small">{a.summary}</p>
                  <button type="button" className="link small" onClick={() => open({ kind: "kb", id: a.id })}>Read the measure and its sources</button>
                </li>
              ))}
            </ol>
          )}
      </Async>
    </div>
  );
}
