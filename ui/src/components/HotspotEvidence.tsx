// A hotspot in an operator's words (issue #18): the fault it is (evidence.fault, else the stored kind, so
// both `level_shift` and `level_shift_up`/`level_shift_down` read right), which expectation flagged it (the
// day-ahead forecast or the meter's reference baseline), its magnitude, window and the detections merged into
// it; people's verdicts on it (false alarm, confirmed, the new normal) and their counts.
import { useState } from "react";
import { oe } from "../api";
import { co2e, day, label, nf0, nf1, when } from "../format";
import { useAsync } from "../hooks";
import { ErrorBox } from "./States";

export interface HotspotFacts {
  kind: string; period_start: string; period_end: string | null; excess_kwh: number | null; excess_kg: number | null;
  evidence: Record<string, unknown> | null;
}

export const FAULTS: Record<string, { name: string; what: string }> = {
  above_expected: { name: "Above expected (sustained)", what: "consumption stayed above what was expected for hours or days" },
  spike: { name: "Spike", what: "a short burst far above what was expected" },
  level_shift: { name: "Level shift", what: "the consumption level changed and stayed there" },
  level_shift_up: { name: "Level shift up", what: "the consumption level stepped up and stayed there" },
  level_shift_down: { name: "Level shift down", what: "the consumption level stepped down and stayed there: a load lost, a meter or wiring fault, or a saving" },
  drift: { name: "Drift", what: "consumption moved away from the baseline slowly, day after day" },
  stuck: { name: "Stuck or flat meter", what: "the meter sent the same value hour after hour" },
  stuck_meter: { name: "Stuck or flat meter", what: "the meter sent the same value hour after hour" },
  zero_missing: { name: "Zero or missing data", what: "the meter read zero or sent nothing while consumption was expected" },
  silent_meter: { name: "Zero or missing data", what: "the meter sent no readings" },
  baseload_creep: { name: "Out-of-hours base-load creep", what: "night and weekend load rose above the baseline" },
  warm_weather_heating: { name: "Heating in warm weather", what: "gas use above the baseline on warm days" },
  pareto: { name: "Among the top emitters", what: "a large share of the emissions" },
  growth: { name: "Emissions grew most", what: "the largest growth against the previous period" },
};

export const EXPECTATIONS = {
  day_ahead: { name: "Day-ahead forecast", what: "the ML model's forecast from the days before: it finds short anomalies, and learns a lasting change within a day or two" },
  reference: { name: "Reference baseline", what: "the meter's M&V baseline (weather and calendar, no recent readings): it does not learn from a fault, and changes only when a change is accepted as the new normal" },
} as const;
export type Expectation = keyof typeof EXPECTATIONS;

/** The fault an operator would name: ``evidence.fault`` when the scan set it, else the stored kind. */
export function faultOf(h: { kind: string; evidence?: Record<string, unknown> | null }): string {
  const f = h.evidence?.fault;
  return typeof f === "string" && f ? f : h.kind;
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function faultName(fault: string): string {
  return FAULTS[fault]?.name ?? sentence(label(fault));
}

export function expectationOf(h: { evidence?: Record<string, unknown> | null }): Expectation {
  return h.evidence?.expectation === "reference" ? "reference" : "day_ahead";
}

function num(ev: Record<string, unknown>, key: string): number | null {
  const v = ev[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** How far the hotspot's readings were from its expectation: the share above (+) or below (−) and the kWh. */
export function magnitude(h: HotspotFacts): { share: number | null; actual: number | null; expected: number | null } {
  const ev = h.evidence ?? {};
  const actual = num(ev, "actual_kwh");
  const expected = num(ev, "reference_kwh") ?? num(ev, "expected_kwh");
  let share = actual !== null && expected !== null && expected > 0 ? actual / expected - 1 : null;
  if (share === null) share = num(ev, "excess_ratio") ?? num(ev, "shift_ratio");
  if (share === null && (faultOf(h) === "zero_missing" || faultOf(h) === "silent_meter")) share = -1;
  return { share, actual, expected };
}

export function hoursBetween(start: string, end: string | null): number | null {
  if (!end) return null;
  const h = (Date.parse(end) - Date.parse(start)) / 3600e3;
  return Number.isFinite(h) ? h : null;
}

export function duration(hours: number | null): string {
  if (hours === null) return "ongoing";
  if (hours < 48) return `${nf0.format(hours)} h`;
  return `${nf1.format(hours / 24)} days`;
}

function signed(share: number): string {
  return `${share > 0 ? "+" : share < 0 ? "−" : ""}${nf0.format(Math.abs(share) * 100)} %`;
}

interface Merged { fault?: string; expectation?: string; start?: string; end?: string }
const SHOWN = new Set(["fault", "expectation", "also"]);

/** The facts of a hotspot, in words first and every figure of its evidence after. */
export function HotspotEvidence({ h }: { h: HotspotFacts }) {
  const fault = faultOf(h);
  const expectation = expectationOf(h);
  const ev = h.evidence ?? {};
  const m = magnitude(h);
  const against = expectation === "reference" ? "the reference baseline" : "the day-ahead forecast";
  const peak = num(ev, "peak_actual_kwh");
  const peakExpected = num(ev, "peak_reference_kwh") ?? num(ev, "peak_expected_kwh");
  const also = (Array.isArray(ev.also) ? ev.also : []) as Merged[];
  const rest = Object.entries(ev).filter(([k]) => !SHOWN.has(k) && !k.startsWith("_"));
  return (
    <div data-testid="hotspot-evidence">
      <p className="fault-line">
        <strong data-testid="fault" data-fault={fault}>{faultName(fault)}</strong>
        <span className={`tag expectation-${expectation}`} data-testid="expectation" data-expectation={expectation}
              title={EXPECTATIONS[expectation].what}>flagged by the {EXPECTATIONS[expectation].name.toLowerCase()}</span>
        <br /><span className="muted small">{FAULTS[fault] ? `${sentence(FAULTS[fault].what)}. ` : ""}{EXPECTATIONS[expectation].name}: {EXPECTATIONS[expectation].what}.</span>
      </p>
      <dl className="facts">
        <dt>Magnitude</dt>
        <dd data-testid="magnitude">
          {m.share !== null ? <><strong>{signed(m.share)}</strong> against {against}</> : "–"}
          {m.actual !== null && m.expected !== null ? ` (${nf0.format(m.actual)} kWh metered, ${nf0.format(m.expected)} kWh expected)` : ""}
          {peak !== null && peakExpected !== null ? `; peak hour ${nf1.format(peak)} kWh against ${nf1.format(peakExpected)} kWh` : ""}
        </dd>
        <dt>Window</dt>
        <dd data-testid="window">{when(h.period_start)} – {h.period_end ? when(h.period_end) : "ongoing"} ({duration(hoursBetween(h.period_start, h.period_end))})</dd>
        {h.excess_kwh ? <><dt>Excess</dt><dd>{nf0.format(h.excess_kwh)} kWh · {co2e(h.excess_kg)} CO2e</dd></> : null}
        <dt>Merged detections</dt>
        <dd data-testid="merged">
          {also.length === 0 ? <span className="muted">none: one detection</span> : (
            <ul className="list">
              {also.map((a, i) => (
                <li key={i}>{faultName(a.fault ?? "")}{a.expectation ? ` (${EXPECTATIONS[a.expectation === "reference" ? "reference" : "day_ahead"].name.toLowerCase()})` : ""}
                  {a.start ? `, ${when(a.start)} – ${a.end ? when(a.end) : "ongoing"}` : ""}</li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
      {rest.length ? (
        <details className="small">
          <summary>All {rest.length} figures of the evidence</summary>
          <dl className="facts">{rest.map(([k, v]) => <FactRow key={k} k={k} v={v} />)}</dl>
        </details>
      ) : null}
    </div>
  );
}

function FactRow({ k, v }: { k: string; v: unknown }) {
  const text = v === null ? "–" : typeof v === "number" ? (Math.abs(v) < 10 ? v.toFixed(3) : nf0.format(v))
    : typeof v === "object" ? JSON.stringify(v) : String(v);
  return <><dt>{label(k)}</dt><dd>{text}</dd></>;
}

// ------------------------------------------------------------------ verdicts
export type VerdictName = "false_alarm" | "confirmed" | "new_normal";
export interface Verdict { verdict: VerdictName; by: string | null; note: string | null; created_at: string; rebaseline_from?: string | null }

export const VERDICTS: Record<VerdictName, { button: string; text: string; help: string }> = {
  false_alarm: { button: "False alarm", text: "a false alarm", help: "Nothing was wrong: the alert is resolved, and the evaluation of the detector counts it." },
  confirmed: { button: "Confirmed", text: "a confirmed fault", help: "A real fault: the alert stays until it is resolved." },
  new_normal: { button: "Accept as new normal", text: "the new normal", help: "A change meant to stay: the meter is re-baselined." },
};

/** What a verdict says, and for a user with the write token the three actions (the new normal asks first). */
export function VerdictPanel({ hotspotId, since, verdict, canWrite, onVerdict }: {
  hotspotId: string; since: string; verdict: Verdict | null; canWrite: boolean; onVerdict: (v: Verdict) => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function mark(v: VerdictName) {
    setBusy(true);
    setError(null);
    try {
      onVerdict(await oe.post<Verdict>(`/hotspots/${encodeURIComponent(hotspotId)}/verdict`, { verdict: v, by: "dashboard" }));
      setConfirming(false);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="verdict" aria-label="Verdict" data-testid="verdict">
      <h3>Verdict</h3>
      {verdict ? (
        <p data-testid="verdict-current" data-verdict={verdict.verdict}>
          Marked <strong>{VERDICTS[verdict.verdict]?.text ?? label(verdict.verdict)}</strong>
          {verdict.by ? ` by ${verdict.by}` : ""} on {when(verdict.created_at)}{verdict.note ? `: ${verdict.note}` : ""}.
          {verdict.verdict === "new_normal" ? " The meter's reference baseline is refit from this hotspot's start by the next fit-reference run." : ""}
        </p>
      ) : <p className="muted" data-testid="verdict-current" data-verdict="">No verdict yet.{canWrite ? "" : " A user with the write token can mark it a false alarm, a confirmed fault or the new normal."}</p>}
      {canWrite ? (
        <>
          <div className="actions" role="group" aria-label="Mark this hotspot">
            <button type="button" className="secondary" disabled={busy} onClick={() => void mark("false_alarm")} title={VERDICTS.false_alarm.help}>{VERDICTS.false_alarm.button}</button>
            <button type="button" className="secondary" disabled={busy} onClick={() => void mark("confirmed")} title={VERDICTS.confirmed.help}>{VERDICTS.confirmed.button}</button>
            <button type="button" className="secondary" disabled={busy} aria-expanded={confirming} onClick={() => setConfirming(true)} title={VERDICTS.new_normal.help}>{VERDICTS.new_normal.button}</button>
          </div>
          {confirming ? (
            <div className="state info stack" data-testid="new-normal-confirm" role="group" aria-label="Accept as new normal">
              <p>Accepting this as the new normal <strong>re-baselines the meter</strong>: its reference baseline is fit again on
                the readings from {day(since)} on (by the next <code>fit-reference</code> run, daily at 04:00 UTC), so this level
                stops counting as a fault. Use it for a change meant to stay (new equipment, longer hours), not for a fault.</p>
              <div className="actions">
                <button type="button" disabled={busy} onClick={() => void mark("new_normal")}>Accept and re-baseline</button>
                <button type="button" className="secondary" disabled={busy} onClick={() => setConfirming(false)}>Cancel</button>
              </div>
            </div>
          ) : null}
        </>
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
    </section>
  );
}

interface VerdictCount { verdict: VerdictName; kind: string; fault: string; expectation: string; count: number }
export interface VerdictCounts { judged: number; false_alarms: number; false_alarm_share: number | null; counts: VerdictCount[] }

/** Totals per verdict, and per fault and expectation, of the verdicts people gave. */
export function verdictTable(c: VerdictCounts): { totals: Record<VerdictName, number>; rows: { fault: string; expectation: string; n: Record<VerdictName, number> }[] } {
  const zero = () => ({ false_alarm: 0, confirmed: 0, new_normal: 0 });
  const totals = zero();
  const rows = new Map<string, { fault: string; expectation: string; n: Record<VerdictName, number> }>();
  for (const r of c.counts) {
    totals[r.verdict] = (totals[r.verdict] ?? 0) + r.count;
    const key = `${r.fault}|${r.expectation}`;
    const row = rows.get(key) ?? { fault: r.fault, expectation: r.expectation, n: zero() };
    row.n[r.verdict] = (row.n[r.verdict] ?? 0) + r.count;
    rows.set(key, row);
  }
  return { totals, rows: [...rows.values()].sort((a, b) => faultName(a.fault).localeCompare(faultName(b.fault)) || a.expectation.localeCompare(b.expectation)) };
}

export function VerdictSummary({ version, enabled }: { version: number; enabled: boolean }) {
  const state = useAsync(() => oe.get<VerdictCounts>("/hotspots/verdicts"), [version], enabled);
  if (!enabled || state.data === undefined) return null;
  const c = state.data;
  const { totals, rows } = verdictTable(c);
  return (
    <details className="verdict-summary small" data-testid="verdict-counts">
      <summary>
        Verdicts: <strong data-testid="verdict-judged">{c.judged}</strong> hotspots judged · {totals.false_alarm} false alarm{totals.false_alarm === 1 ? "" : "s"}
        {c.false_alarm_share !== null ? ` (${nf0.format(c.false_alarm_share * 100)} %)` : ""} · {totals.confirmed} confirmed · {totals.new_normal} new normal
      </summary>
      {rows.length ? (
        <table className="data">
          <thead><tr><th>Fault</th><th>Flagged by</th><th className="num">False alarm</th><th className="num">Confirmed</th><th className="num">New normal</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.fault}|${r.expectation}`}>
                <td>{faultName(r.fault)}</td><td>{EXPECTATIONS[r.expectation === "reference" ? "reference" : "day_ahead"].name}</td>
                <td className="num">{r.n.false_alarm}</td><td className="num">{r.n.confirmed}</td><td className="num">{r.n.new_normal}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : <p className="muted">No verdicts yet: mark a hotspot below.</p>}
    </details>
  );
}
