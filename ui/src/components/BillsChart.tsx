import { useMemo, useState } from "react";
import { Bar, CartesianGrid, Cell, ComposedChart, ErrorBar, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { label, nf0, nf2 } from "../format";

/** One bill as the data core answers it (GET /api/v1/bills, through the orchestration engine). */
export interface Bill {
  site: string; meter: string; activity_type: string; period_start: string; period_end: string; days: number;
  kwh: number; kg_co2e: number | null; expected: number | null; lower: number | null; upper: number | null;
  level: number | null; weather: number | null; model_version: string | null; reason: string | null; above_upper: boolean;
  model: { kind: string; baseline_bills: number; cvrmse: number; nmbe: number; meets_ashrae14: boolean; weather: string;
           heating_base_c: number | null; cooling_base_c: number | null } | null;
}

/** The meters (site, meter, activity type) among the bills, in order. */
export function billMeters(bills: Bill[]): string[] {
  return [...new Set(bills.map((b) => `${b.meter}|${b.activity_type}`))];
}

/** Bars of one meter: the bill's kWh, the expected value and the interval as an error bar around it. */
export function billPoints(bills: Bill[], meter: string) {
  return bills.filter((b) => `${b.meter}|${b.activity_type}` === meter).map((b) => ({
    month: b.period_start.slice(0, 7), actual: b.kwh, expected: b.expected,
    interval: b.expected !== null && b.lower !== null && b.upper !== null ? [b.expected - b.lower, b.upper - b.expected] : null,
    flagged: b.above_upper, bill: b,
  }));
}

/** What a bill's model is, in a few words. */
export function modelText(b: Bill): string {
  if (!b.model || !b.model.kind) return b.reason || "not judged yet";
  const m = b.model;
  const base = [m.heating_base_c !== null ? `heating below ${m.heating_base_c} °C` : "", m.cooling_base_c !== null ? `cooling above ${m.cooling_base_c} °C` : ""]
    .filter(Boolean).join(", ");
  return `${m.kind}${base ? ` (${base})` : ""} on ${m.baseline_bills} bills, CV(RMSE) ${nf2.format(m.cvrmse * 100)} %` +
    `${m.meets_ashrae14 ? " (meets ASHRAE 14)" : ""}${m.weather === "none" ? ", no weather" : ""}`;
}

/** A billed site's bills against their degree-day expected values: bars (red: above the interval), the expected
 * value with its interval, and the table of bills with their model. */
export function BillsChart({ bills }: { bills: Bill[] }) {
  const meters = billMeters(bills);
  const [chosen, setChosen] = useState<string | null>(null);
  const meter = chosen && meters.includes(chosen) ? chosen : meters[0];
  const points = useMemo(() => billPoints(bills, meter), [bills, meter]);
  const level = points.find((p) => p.bill.level !== null)?.bill.level ?? null;
  const flagged = points.filter((p) => p.flagged);
  const [name, activity] = meter.split("|");
  return (
    <figure className="chart" aria-label="Bills against expected" data-testid="bills-chart">
      <figcaption>
        <span>{name || "meter"} · {label(activity)} (kWh per bill) · {flagged.length} above the {level !== null ? `${Math.round(level * 100)} % ` : ""}interval</span>
        {meters.length > 1 ? (
          <span className="segmented" role="group" aria-label="Billed meter">
            {meters.map((m) => (
              <button key={m} type="button" aria-pressed={m === meter} onClick={() => setChosen(m)}>{m.replace("|", " · ").replace(/_/g, " ")}</button>
            ))}
          </span>
        ) : null}
      </figcaption>
      <ResponsiveContainer width="100%" height={260}>
        <ComposedChart data={points} margin={{ top: 8, right: 12, bottom: 4, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis dataKey="month" minTickGap={20} />
          <YAxis tickFormatter={(v) => nf0.format(v)} width={72} />
          <Tooltip formatter={(v: unknown) => (Array.isArray(v) ? "" : nf0.format(Number(v)))} />
          <Legend />
          <Bar dataKey="actual" name="Bill" isAnimationActive={false}>
            {points.map((p) => <Cell key={p.month} fill={p.flagged ? "#dc2626" : "var(--actual)"} />)}
          </Bar>
          <Line dataKey="expected" name="Expected (interval)" stroke="var(--expected)" strokeDasharray="5 4" isAnimationActive={false}>
            <ErrorBar dataKey="interval" width={6} stroke="var(--expected)" direction="y" />
          </Line>
        </ComposedChart>
      </ResponsiveContainer>
      <div className="table-wrap">
        <table className="data" data-testid="bills-table">
          <thead><tr><th>Bill</th><th className="num">kWh</th><th className="num">Expected</th><th className="num">Interval</th><th>Model</th><th>Flag</th></tr></thead>
          <tbody>
            {points.slice().reverse().map((p) => (
              <tr key={p.bill.period_start} className={p.flagged ? "flagged" : undefined}>
                <td>{p.bill.period_start.slice(0, 10)} – {p.bill.period_end.slice(0, 10)}</td>
                <td className="num">{nf0.format(p.bill.kwh)}</td>
                <td className="num">{p.bill.expected !== null ? nf0.format(p.bill.expected) : "–"}</td>
                <td className="num">{p.bill.lower !== null && p.bill.upper !== null ? `${nf0.format(p.bill.lower)} – ${nf0.format(p.bill.upper)}` : "–"}</td>
                <td className="muted">{modelText(p.bill)}</td>
                <td>{p.flagged ? <span className="sev sev-high">above expected</span> : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
