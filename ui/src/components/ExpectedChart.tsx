import { useMemo, useState } from "react";
import { Area, CartesianGrid, ComposedChart, Legend, Line, ReferenceArea, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { oe } from "../api";
import { day, label, nf0 } from "../format";
import { useAsync } from "../hooks";
import { faultName, faultOf } from "./HotspotEvidence";
import { Async, Empty } from "./States";

export interface ExpectedRow {
  period_start: string; activity_type: string; unit: string; actual: number; expected: number;
  lower: number | null; upper: number | null; hours: number; hours_above: number; hours_below: number;
}
export interface Expected { interval: string; rows: ExpectedRow[]; sites: string[]; model_versions: string[] }
export interface HotspotMark { id: string; period_start: string; period_end: string | null; severity: string; kind: string; activity_type: string; evidence?: Record<string, unknown> | null }

/** Points of one activity type for the chart: time as a number, the band as [lower, upper]. */
export function chartPoints(rows: ExpectedRow[], activity: string) {
  return rows.filter((r) => r.activity_type === activity).map((r) => ({
    t: Date.parse(r.period_start.endsWith("Z") ? r.period_start : `${r.period_start}Z`),
    actual: r.actual, expected: r.expected,
    band: r.lower !== null && r.upper !== null ? [r.lower, r.upper] : null,
    above: r.hours_above,
  }));
}

const SEVERITY_COLOUR: Record<string, string> = { critical: "#b91c1c", high: "#dc2626", medium: "#f59e0b", low: "#facc15" };

export function ExpectedChart({ params, hotspots = [], interval = "day", height = 280, title }: {
  params: Record<string, string | string[] | undefined>;
  hotspots?: HotspotMark[];
  interval?: "hour" | "day" | "week" | "month";
  height?: number;
  title?: string;
}) {
  const state = useAsync(() => oe.get<Expected>("/expected", { ...params, interval }), [JSON.stringify(params), interval]);
  const [chosen, setChosen] = useState<string | null>(null);
  return (
    <Async state={state} what="Loading actual against expected">
      {(d) => {
        const types = [...new Set(d.rows.map((r) => r.activity_type))];
        if (!types.length) {
          return <Empty>No hourly expected values for this selection yet: the <code>fill-expected</code> flow writes them for meters read hourly or more often (sub-hourly readings summed into their hour). Bills are judged by the <code>monthly-bills</code> flow.</Empty>;
        }
        const activity = chosen && types.includes(chosen) ? chosen : types[0];
        return <Chart rows={d.rows} activity={activity} types={types} setActivity={setChosen} hotspots={hotspots}
                      height={height} title={title} versions={d.model_versions} />;
      }}
    </Async>
  );
}

function Chart({ rows, activity, types, setActivity, hotspots, height, title, versions }: {
  rows: ExpectedRow[]; activity: string; types: string[]; setActivity: (a: string) => void; hotspots: HotspotMark[];
  height: number; title?: string; versions: string[];
}) {
  const points = useMemo(() => chartPoints(rows, activity), [rows, activity]);
  const unit = rows.find((r) => r.activity_type === activity)?.unit ?? "kWh";
  const above = points.reduce((s, p) => s + p.above, 0);
  const marks = hotspots.filter((h) => h.activity_type === activity);
  const lo = points[0]?.t ?? 0;
  const hi = points[points.length - 1]?.t ?? 0;
  return (
    <figure className="chart" aria-label={title ?? "Actual against expected"}>
      <figcaption>
        <span>{title ?? "Actual against expected"} ({unit}) · {above} hours above the band{versions.length ? ` · model v${versions.join(", v")}` : ""}</span>
        {types.length > 1 ? (
          <span className="segmented" role="group" aria-label="Activity type">
            {types.map((t) => (
              <button key={t} type="button" aria-pressed={t === activity} onClick={() => setActivity(t)}>{label(t)}</button>
            ))}
          </span>
        ) : null}
      </figcaption>
      <ResponsiveContainer width="100%" height={height}>
        <ComposedChart data={points} margin={{ top: 8, right: 12, bottom: 4, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis dataKey="t" type="number" scale="time" domain={[lo, hi]} tickFormatter={(t) => day(new Date(t).toISOString())} minTickGap={40} />
          <YAxis tickFormatter={(v) => nf0.format(v)} width={64} />
          <Tooltip labelFormatter={(t) => new Date(Number(t)).toISOString().slice(0, 16).replace("T", " ") + " UTC"}
                   formatter={(v: unknown) => (Array.isArray(v) ? `${nf0.format(v[0])} – ${nf0.format(v[1])}` : nf0.format(Number(v)))} />
          <Legend />
          {marks.map((h) => {
            const x1 = Math.max(lo, Date.parse(h.period_start));
            const x2 = Math.min(hi, h.period_end ? Date.parse(h.period_end) : hi);
            return x2 > x1 ? <ReferenceArea key={h.id} x1={x1} x2={x2} fill={SEVERITY_COLOUR[h.severity] ?? "#dc2626"} fillOpacity={0.12}
                                              ifOverflow="hidden" label={{ value: faultName(faultOf(h)), position: "insideTop", fontSize: 11 }} /> : null;
          })}
          <Area dataKey="band" name="Expected interval" stroke="none" fill="var(--band)" fillOpacity={0.5} isAnimationActive={false} />
          <Line dataKey="expected" name="Expected" stroke="var(--expected)" strokeDasharray="5 4" dot={false} isAnimationActive={false} />
          <Line dataKey="actual" name="Actual" stroke="var(--actual)" dot={false} strokeWidth={1.6} isAnimationActive={false} />
        </ComposedChart>
      </ResponsiveContainer>
    </figure>
  );
}
