// What the drawer shows: the audit trail of a number, a knowledge-base document, or a cited query.
import { oe, rag } from "../api";
import { useDrawer, type AuditTarget } from "../context";
import { co2e, day, label } from "../format";
import { useAsync } from "../hooks";
import { DownloadLink } from "./DownloadLink";
import { Drawer } from "./Drawer";
import { Async } from "./States";

interface AuditRow {
  activity_id: string; site_id: string; scope: number; activity_type: string; period_start: string; quantity: number;
  unit: string; factor_id: string; source: string; edition: string; edition_key: string; kg_co2e: number;
  kg_co2e_market: number | null; arithmetic: string; selection: string | null; region: string | null;
}
interface Audit { total_kg_co2e: number; row_count: number; ledger_version: number; method: string; rows: AuditRow[] }

export function AuditTrail({ target, limit = 50 }: { target: AuditTarget; limit?: number }) {
  const state = useAsync(() => oe.get<Audit>("/emissions/audit", { ...target.params, limit }), [JSON.stringify(target.params), limit]);
  return (
    <Async state={state} what="Loading the audit trail" empty={(d) => d.row_count === 0}>
      {(d) => (
        <div className="audit">
          <p className="lead">
            <strong>{co2e(d.total_kg_co2e)}</strong> CO2e from <strong>{d.row_count.toLocaleString()}</strong> ledger rows
            (ledger version {d.ledger_version}, {d.method}-based scope 2). Showing the first {d.rows.length}; every row
            names the factor, its source and edition, and the arithmetic.
          </p>
          <DownloadLink className="button secondary" href={oe.url("/emissions/audit", { ...target.params, limit: 10000, format: "csv" })}
                        fallback="audit.csv">Download the trail (CSV)</DownloadLink>
          <div className="table-wrap">
            <table className="data" data-testid="audit-table">
              <thead>
                <tr><th>Period</th><th>Site</th><th>Activity</th><th>Quantity</th><th>Factor</th><th>Source · edition</th><th>kg CO2e</th></tr>
              </thead>
              <tbody>
                {d.rows.map((r) => (
                  <tr key={r.activity_id}>
                    <td>{day(r.period_start)}</td>
                    <td>{r.site_id}</td>
                    <td>S{r.scope} {label(r.activity_type)}</td>
                    <td className="num">{r.quantity.toLocaleString()} {r.unit}</td>
                    <td><code>{r.factor_id}</code></td>
                    <td>{r.source} · {r.edition}</td>
                    <td className="num" title={r.arithmetic}>{r.kg_co2e.toFixed(2)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {d.rows[0] ? <p className="muted small">Arithmetic of the first row: <code>{d.rows[0].arithmetic}</code></p> : null}
        </div>
      )}
    </Async>
  );
}

interface KbDoc { id: string; title: string; topic?: string; markdown?: string; sources?: { title?: string; url?: string; publisher?: string }[] }

function KbDocument({ id }: { id: string }) {
  const state = useAsync(() => rag.get<KbDoc>(`/kb/${encodeURIComponent(id)}`), [id]);
  return (
    <Async state={state} what="Loading the document">
      {(d) => (
        <article className="kb-doc" data-testid="kb-document">
          <h3>{d.title}</h3>
          <p className="muted small">{d.id}{d.topic ? ` · ${d.topic}` : ""}</p>
          <pre className="prose">{d.markdown ?? ""}</pre>
          {d.sources?.length ? (
            <>
              <h4>Sources</h4>
              <ul>{d.sources.map((s, i) => <li key={i}>{s.publisher ? `${s.publisher}: ` : ""}{s.url ? <a href={s.url} target="_blank" rel="noreferrer">{s.title ?? s.url}</a> : s.title}</li>)}</ul>
            </>
          ) : null}
        </article>
      )}
    </Async>
  );
}

interface QueryAnswer { result: unknown; audit?: { rows?: AuditRow[]; row_count?: number; total_kg_co2e?: number } }

function CitedQuery({ citation }: { citation: { ref?: string; endpoint: string; params?: Record<string, unknown> } }) {
  const state = useAsync(() => rag.post<QueryAnswer>("/query", { endpoint: citation.endpoint, params: citation.params ?? {}, audit_limit: 20 }),
    [citation.endpoint, JSON.stringify(citation.params)]);
  return (
    <div data-testid="cited-query">
      <p className="lead">The query behind {citation.ref ? <strong>[{citation.ref}]</strong> : "this number"}:</p>
      <pre className="code">GET {citation.endpoint}{"\n"}{JSON.stringify(citation.params ?? {}, null, 2)}</pre>
      <Async state={state} what="Running the query">
        {(d) => (
          <>
            <h4>Result</h4>
            <pre className="code small">{JSON.stringify(d.result, null, 2).slice(0, 4000)}</pre>
            {d.audit?.rows?.length ? (
              <>
                <h4>Audit trail ({d.audit.row_count?.toLocaleString()} rows)</h4>
                <div className="table-wrap">
                  <table className="data">
                    <thead><tr><th>Period</th><th>Site</th><th>Factor</th><th>Source · edition</th><th>kg CO2e</th></tr></thead>
                    <tbody>
                      {d.audit.rows.map((r) => (
                        <tr key={r.activity_id}><td>{day(r.period_start)}</td><td>{r.site_id}</td><td><code>{r.factor_id}</code></td>
                          <td>{r.source} · {r.edition}</td><td className="num">{r.kg_co2e.toFixed(2)}</td></tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </>
            ) : null}
          </>
        )}
      </Async>
    </div>
  );
}

export function DetailDrawer() {
  const { content, close } = useDrawer();
  if (!content) return null;
  if (content.kind === "audit") return <Drawer title={`Audit trail: ${content.target.title}`} onClose={close} wide><AuditTrail target={content.target} /></Drawer>;
  if (content.kind === "kb") return <Drawer title="Knowledge base" onClose={close}><KbDocument id={content.id} /></Drawer>;
  return <Drawer title="Cited query" onClose={close} wide><CitedQuery citation={content.citation} /></Drawer>;
}
