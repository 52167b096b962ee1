import { Link, useParams } from "react-router-dom";
import { oe } from "../api";
import { BillsChart, type Bill } from "../components/BillsChart";
import { ExpectedChart, type HotspotMark } from "../components/ExpectedChart";
import { AuditTrail } from "../components/Detail";
import { EXPECTATIONS, expectationOf, faultName, faultOf } from "../components/HotspotEvidence";
import { Async, Loading } from "../components/States";
import { usePeriod } from "../context";
import { co2e, label, nf0, when } from "../format";
import { useAsync } from "../hooks";
import type { Site } from "./Sites";

interface Totals { total_kg_co2e: number; rows: { activity_type: string; scope: number; kg_co2e: number; rows: number }[] }

export function SitePage() {
  const { id = "" } = useParams();
  const { range, method, year } = usePeriod();
  const site = useAsync(() => oe.get<Site>(`/sites/${encodeURIComponent(id)}`), [id]);
  const totals = useAsync(() => oe.get<Totals>("/emissions/totals", { ...range, method, site: id, group_by: "scope,activity_type" }), [id, range?.start, method], !!range);
  const hotspots = useAsync(() => oe.get<{ hotspots: (HotspotMark & { status: string; excess_kg: number | null })[] }>("/hotspots", { site: id, limit: 500 }), [id]);
  // every bill of the site (a degree-day judgement needs the year before), whatever the period shown
  const bills = useAsync(() => oe.get<{ bills: Bill[] }>("/bills", { site: id }), [id]);
  if (!range) return <Loading />;
  return (
    <div className="page">
      <nav className="crumbs" aria-label="Breadcrumb"><Link to="/sites">Sites</Link> › {id}</nav>
      <Async state={site} what="Loading the site">
        {(s) => (
          <header className="page-head">
            <h1>{s.name} <span className="muted">({s.id}) · {year}</span></h1>
            <p className="muted">{s.country}{s.floor_area_m2 ? ` · ${nf0.format(s.floor_area_m2)} m²` : ""}{s.renewable_share ? ` · ${Math.round(s.renewable_share * 100)} % renewable supply` : ""}{s.tags.length ? ` · ${s.tags.join(", ")}` : ""}</p>
          </header>
        )}
      </Async>
      <section className="panel">
        <h2>Actual against expected</h2>
        <ExpectedChart params={{ site: id, start: range.start, end: range.end }} hotspots={hotspots.data?.hotspots ?? []}
                       title={`${id}, daily`} height={300} />
      </section>
      {bills.data?.bills.length ? (
        <section className="panel">
          <h2>Bills against expected</h2>
          <p className="muted">Meters billed monthly: each bill against the degree-day model (ASHRAE Guideline 14 / IPMVP Option C) fitted on the bills of the year before it, with the site's weather.</p>
          <BillsChart bills={bills.data.bills} />
        </section>
      ) : null}
      <div className="grid two">
        <section className="panel">
          <h2>Emissions by activity</h2>
          <Async state={totals} what="Loading totals" empty={(d) => d.rows.length === 0}>
            {(d) => (
              <div className="table-wrap">
              <table className="data">
                <thead><tr><th>Scope</th><th>Activity</th><th className="num">Rows</th><th className="num">Emissions</th></tr></thead>
                <tbody>
                  {d.rows.map((r) => <tr key={`${r.scope}-${r.activity_type}`}><td>{r.scope}</td><td>{label(r.activity_type)}</td><td className="num">{r.rows.toLocaleString()}</td><td className="num">{co2e(r.kg_co2e)}</td></tr>)}
                  <tr className="total"><td colSpan={3}>Total ({method}-based)</td><td className="num">{co2e(d.total_kg_co2e)}</td></tr>
                </tbody>
              </table>
              </div>
            )}
          </Async>
        </section>
        <section className="panel">
          <h2>Hotspots</h2>
          <Async state={hotspots} what="Loading hotspots" empty={(d) => d.hotspots.length === 0}>
            {(d) => (
              <ul className="list">
                {d.hotspots.map((h) => (
                  <li key={h.id}>
                    <span className={`sev sev-${h.severity}`}>{h.severity}</span> {faultName(faultOf(h))} <span className="muted">({EXPECTATIONS[expectationOf(h)].name.toLowerCase()})</span> · {label(h.activity_type)} · {when(h.period_start)}
                    {h.excess_kg ? ` · ${co2e(h.excess_kg)} above expected` : ""} <span className="muted">({h.status})</span>
                  </li>
                ))}
              </ul>
            )}
          </Async>
        </section>
      </div>
      <section className="panel">
        <h2>Audit trail</h2>
        <AuditTrail target={{ title: id, params: { ...range, method, site: id } }} limit={20} />
      </section>
    </div>
  );
}
