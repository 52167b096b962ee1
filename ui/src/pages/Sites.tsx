import { useMemo } from "react";
import { Link } from "react-router-dom";
import { oe } from "../api";
import { SortableTable, type Column } from "../components/SortableTable";
import { Async, Loading } from "../components/States";
import { useDrawer, usePeriod } from "../context";
import { co2e, nf1, pct } from "../format";
import { useAsync } from "../hooks";
import type { TopRow } from "./Overview";

export interface Site { id: string; name: string; country: string; floor_area_m2: number | null; renewable_share: number; tags: string[] }
export interface SiteRow { id: string; name: string; country: string; kg: number; intensity: number | null; change: number | null; open: number }

/** One row per site: the period's emissions, intensity per m2, change against the previous period, open hotspots. */
export function siteRows(sites: Site[], top: TopRow[], open: { site: string }[]): SiteRow[] {
  const bySite = new Map(top.map((r) => [r.site, r]));
  const counts = new Map<string, number>();
  open.forEach((h) => counts.set(h.site, (counts.get(h.site) ?? 0) + 1));
  return sites.map((s) => {
    const t = bySite.get(s.id);
    const kg = t?.kg_co2e ?? 0;
    return {
      id: s.id, name: s.name, country: s.country, kg,
      intensity: s.floor_area_m2 ? kg / s.floor_area_m2 : null,
      change: t && t.change_pct !== null && t.change_pct !== undefined ? t.change_pct / 100 : null,
      open: counts.get(s.id) ?? 0,
    };
  });
}

export function Sites() {
  const { range, method, year } = usePeriod();
  const { open: openDrawer } = useDrawer();
  const state = useAsync(async () => {
    const [sites, top, hotspots] = await Promise.all([
      oe.get<Site[]>("/sites"),
      oe.get<{ rows: TopRow[] }>("/emissions/top", { ...range, method, by: "site", limit: 10000 }),
      oe.get<{ hotspots: { site: string }[] }>("/hotspots", { status: "open", limit: 10000 }),
    ]);
    return siteRows(sites, top.rows, hotspots.hotspots);
  }, [range?.start, method], !!range);
  const columns = useMemo<Column<SiteRow>[]>(() => [
    { key: "site", title: "Site", value: (r) => r.id, render: (r) => <Link to={`/sites/${encodeURIComponent(r.id)}`}>{r.id}</Link> },
    { key: "name", title: "Name", value: (r) => r.name },
    { key: "country", title: "Country", value: (r) => r.country },
    { key: "kg", title: "Emissions", numeric: true, value: (r) => r.kg,
      render: (r) => <button type="button" className="link" onClick={() => openDrawer({ kind: "audit", target: { title: `${r.id}, ${year}`, params: { ...range, method, site: r.id } } })}>{co2e(r.kg)}</button> },
    { key: "intensity", title: "kg CO2e / m²", numeric: true, value: (r) => r.intensity, render: (r) => (r.intensity === null ? "–" : nf1.format(r.intensity)) },
    { key: "change", title: "vs previous year", numeric: true, value: (r) => r.change,
      render: (r) => <span className={r.change !== null && r.change > 0 ? "up" : "down"}>{pct(r.change)}</span> },
    { key: "open", title: "Open hotspots", numeric: true, value: (r) => r.open,
      render: (r) => (r.open ? <Link className="tag danger" to={`/alerts?site=${encodeURIComponent(r.id)}`}>{r.open}</Link> : "0") },
  ], [range, method, year, openDrawer]);
  if (!range) return <Loading />;
  return (
    <div className="page">
      <header className="page-head">
        <h1>Sites <span className="muted">· {year}</span></h1>
        <p className="muted">Sort by any column; a site opens its actual-against-expected timeline, hotspots and audit trail.</p>
      </header>
      <section className="panel">
        <Async state={state} what="Loading sites" empty={(d) => d.length === 0}>
          {(rows) => <SortableTable rows={rows} columns={columns} rowKey={(r) => r.id} initial={{ key: "kg", desc: true }} testId="sites-table" />}
        </Async>
      </section>
    </div>
  );
}
