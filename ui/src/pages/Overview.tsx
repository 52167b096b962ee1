import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Link } from "react-router-dom";
import { oe } from "../api";
import { ExpectedChart, type HotspotMark } from "../components/ExpectedChart";
import { Async, Loading } from "../components/States";
import { useDrawer, usePeriod } from "../context";
import { co2e, nf0, pct } from "../format";
import { useAsync } from "../hooks";

interface Totals { total_kg_co2e: number; ledger_version: number; rows: { scope: number; kg_co2e: number; rows: number }[] }
interface Series { rows: { period: string; scope: number; kg_co2e: number }[] }
export interface TopRow { site: string; kg_co2e: number; share: number; cumulative_share: number; pareto: boolean; kg_prev: number | null; change_pct: number | null }
interface Top { total_kg_co2e: number; pareto_count: number; contributors: number; rows: TopRow[] }

const SCOPE_COLOURS = ["#0f766e", "#2563eb", "#a855f7"];

export function Overview() {
  const { range, previous, method, year } = usePeriod();
  const { open } = useDrawer();
  const key = [range?.start, method];
  const totals = useAsync(() => oe.get<Totals>("/emissions/totals", { ...range, method, group_by: "scope" }), key, !!range);
  const before = useAsync(() => oe.get<Totals>("/emissions/totals", { ...previous, method, group_by: "scope" }), key, !!previous);
  const series = useAsync(() => oe.get<Series>("/emissions/timeseries", { ...range, method, interval: "month", group_by: "scope" }), key, !!range);
  const top = useAsync(() => oe.get<Top>("/emissions/top", { ...range, method, by: "site", limit: 10 }), key, !!range);
  const hotspots = useAsync(() => oe.get<{ hotspots: HotspotMark[] }>("/hotspots", { status: "open", limit: 500 }), []);
  if (!range) return <Loading what="Finding your data" />;

  const scopeKg = (rows: Totals["rows"] | undefined, s: number) => rows?.find((r) => r.scope === s)?.kg_co2e ?? 0;
  const cards = [
    { title: "Total", scope: undefined as number | undefined },
    { title: "Scope 1", scope: 1 }, { title: `Scope 2 (${method}-based)`, scope: 2 }, { title: "Scope 3", scope: 3 },
  ];
  const months = new Map<string, Record<string, number | string>>();
  for (const r of series.data?.rows ?? []) {
    const m = months.get(r.period) ?? { month: r.period.slice(0, 7) };
    m[`Scope ${r.scope}`] = (Number(m[`Scope ${r.scope}`]) || 0) + r.kg_co2e / 1000;
    months.set(r.period, m);
  }
  return (
    <div className="page">
      <header className="page-head">
        <h1>Overview <span className="muted">· {year}</span></h1>
        <p className="muted">Emissions of the year by scope, the monthly trend, metered energy against what the model expected, and the biggest contributors.</p>
      </header>
      <section className="cards" aria-label="Emissions by scope">
        {cards.map((c) => {
          const now = c.scope ? scopeKg(totals.data?.rows, c.scope) : totals.data?.total_kg_co2e;
          const then = c.scope ? scopeKg(before.data?.rows, c.scope) : before.data?.total_kg_co2e;
          const change = now !== undefined && then ? (now - then) / then : null;
          return (
            <button key={c.title} type="button" className="card kpi" data-testid={`kpi-${c.scope ?? "total"}`}
                    onClick={() => open({ kind: "audit", target: { title: `${c.title}, ${year}`, params: { ...range, method, scope: c.scope } } })}
                    aria-label={`${c.title}: open the audit trail`}>
              <span className="kpi-title">{c.title}</span>
              <span className="kpi-value">{totals.error ? "error" : totals.data ? co2e(now) : "…"}</span>
              <span className={`kpi-change ${change !== null && change > 0 ? "up" : "down"}`}>
                {!before.data ? "…" : change !== null ? `${pct(change)} vs ${Number(year) - 1}` : "no previous year"}
              </span>
            </button>
          );
        })}
      </section>
      <div className="grid two">
        <section className="panel">
          <h2>Monthly emissions by scope (t CO2e)</h2>
          <Async state={series} what="Loading the trend" empty={(d) => d.rows.length === 0}>
            {() => (
              <ResponsiveContainer width="100%" height={280}>
                <BarChart data={[...months.values()]} margin={{ top: 8, right: 8, bottom: 4, left: 8 }}>
                  <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
                  <XAxis dataKey="month" />
                  <YAxis tickFormatter={(v) => nf0.format(v)} width={56} />
                  <Tooltip formatter={(v: unknown) => `${nf0.format(Number(v))} t`} />
                  <Legend />
                  {[1, 2, 3].map((s) => <Bar key={s} dataKey={`Scope ${s}`} stackId="s" fill={SCOPE_COLOURS[s - 1]} isAnimationActive={false} />)}
                </BarChart>
              </ResponsiveContainer>
            )}
          </Async>
        </section>
        <section className="panel">
          <h2>Metered energy against expected</h2>
          <ExpectedChart params={{ start: range.start, end: range.end }} hotspots={hotspots.data?.hotspots ?? []}
                         title="All metered sites, daily" />
        </section>
      </div>
      <section className="panel">
        <h2>Top contributors</h2>
        <Async state={top} what="Loading contributors" empty={(d) => d.rows.length === 0}>
          {(d) => (
            <>
              <p className="muted small">{d.pareto_count} of {d.contributors} sites make 80 % of {co2e(d.total_kg_co2e)}.</p>
              <div className="table-wrap">
              <table className="data" data-testid="top-contributors">
                <thead><tr><th>Site</th><th className="num">Emissions</th><th>Share</th><th className="num">vs previous year</th></tr></thead>
                <tbody>
                  {d.rows.map((r) => (
                    <tr key={r.site}>
                      <td><Link to={`/sites/${encodeURIComponent(r.site)}`}>{r.site}</Link>{r.pareto ? <span className="tag">80 %</span> : null}</td>
                      <td className="num">
                        <button type="button" className="link" onClick={() => open({ kind: "audit", target: { title: `${r.site}, ${year}`, params: { ...range, method, site: r.site } } })}>
                          {co2e(r.kg_co2e)}
                        </button>
                      </td>
                      <td><span className="share"><span style={{ width: `${(r.share * 100).toFixed(1)}%` }} /></span> {(r.share * 100).toFixed(1)} %</td>
                      <td className="num">{r.change_pct === null ? "–" : pct(r.change_pct / 100)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </div>
            </>
          )}
        </Async>
      </section>
    </div>
  );
}
