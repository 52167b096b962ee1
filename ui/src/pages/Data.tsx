import { useRef, useState, type DragEvent } from "react";
import { ApiError, oe, upload } from "../api";
import { DownloadLink } from "../components/DownloadLink";
import { Async, ErrorBox } from "../components/States";
import { usePeriod, useRole, writeHint } from "../context";
import { co2e, when } from "../format";
import { useAsync } from "../hooks";

export interface Reject { row: number; column: string; reason: string; value: string }
export interface IngestReport {
  batch_id: string; status: string; received: number; accepted: number; duplicates: number; rejected: number;
  rejects: Reject[]; rejects_total: number; rejects_truncated: boolean; kg_co2e: number; sites: string[];
  period_start: string | null; period_end: string | null; ledger_version: number;
}
interface Batch { id?: string; batch_id?: string; source_name?: string; filename?: string; status?: string; accepted?: number; rejected?: number; duplicates?: number; received?: number; received_at?: string }

const ACCEPT = ".csv,.xlsx,.xlsm,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

export function ReportView({ report, replayed }: { report: IngestReport; replayed: boolean }) {
  return (
    <div className="report" data-testid="ingest-report" data-status={report.status}>
      <div className="cards small">
        <div className="card"><span className="kpi-title">Received</span><span className="kpi-value">{report.received.toLocaleString()}</span></div>
        <div className="card ok"><span className="kpi-title">Accepted</span><span className="kpi-value" data-testid="accepted">{report.accepted.toLocaleString()}</span></div>
        <div className="card"><span className="kpi-title">Already stored</span><span className="kpi-value">{report.duplicates.toLocaleString()}</span></div>
        <div className={`card${report.rejected ? " bad" : ""}`}><span className="kpi-title">Rejected</span><span className="kpi-value" data-testid="rejected">{report.rejected.toLocaleString()}</span></div>
      </div>
      <p className="muted small">
        Batch <code>{report.batch_id}</code> · {report.status}{replayed ? " · this exact file was sent before: nothing changed" : ""}
        {report.accepted ? ` · ${co2e(report.kg_co2e)} CO2e for ${report.sites.join(", ")}` : ""}
        {report.period_start ? ` · ${when(report.period_start)} – ${when(report.period_end)}` : ""}
      </p>
      {report.rejects.length ? (
        <>
          <h3>Rejected rows: {report.rejected.toLocaleString()} <span className="muted small">({report.rejects_total.toLocaleString()} problems; kept for review, the good rows were stored)</span></h3>
          <div className="table-wrap">
            <table className="data" data-testid="rejects">
              <thead><tr><th className="num">Row</th><th>Column</th><th>Value</th><th>Reason</th></tr></thead>
              <tbody>{report.rejects.map((r, i) => <tr key={i}><td className="num">{r.row}</td><td>{r.column}</td><td><code>{r.value}</code></td><td>{r.reason}</td></tr>)}</tbody>
            </table>
          </div>
          {report.rejects_truncated ? <DownloadLink href={oe.url(`/ingest/batches/${report.batch_id}/rejects`, { limit: 100000 })} fallback="rejects.json">All rejected rows (JSON)</DownloadLink> : null}
        </>
      ) : null}
    </div>
  );
}

async function sha256(file: File): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function Data() {
  const hint = writeHint(useRole(), "uploading");
  const { year, method } = usePeriod();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [report, setReport] = useState<{ report: IngestReport; replayed: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [over, setOver] = useState(false);
  const abort = useRef<(() => void) | null>(null);
  const batches = useAsync(() => oe.get<Batch[] | { batches: Batch[] }>("/ingest/batches", { limit: 10 })
    .then((r) => (Array.isArray(r) ? r : r.batches)), [report]);

  async function send() {
    if (!file) return;
    setError(null);
    setReport(null);
    setProgress(0);
    try {
      // the content hash as the idempotency key: sending the same file twice changes nothing
      const key = crypto.subtle ? `ui-${await sha256(file)}` : undefined;
      const job = upload<IngestReport & { _replayed?: boolean }>(file, {}, setProgress, key);
      abort.current = job.abort;
      const r = await job.promise;
      setReport({ report: r, replayed: Boolean(r._replayed) });
    } catch (e) {
      setError(e as ApiError);
    } finally {
      abort.current = null;
      setProgress(null);
    }
  }

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const f = e.dataTransfer.files?.[0];
    if (f) setFile(f);
  };

  return (
    <div className="page">
      <header className="page-head">
        <h1>Data</h1>
        <p className="muted">Load activity data (CSV or XLSX: site, activity_type, quantity, unit, period or timestamp). Good rows are stored, bad rows come back with their reasons and wait for review.</p>
      </header>
      <section className="panel">
        <h2>Upload</h2>
        <div className={`dropzone${over ? " over" : ""}`} onDragOver={(e) => { e.preventDefault(); setOver(true); }}
             onDragLeave={() => setOver(false)} onDrop={onDrop}>
          <label htmlFor="upload-file">Choose a file or drop it here</label>
          <input id="upload-file" type="file" accept={ACCEPT} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          {file ? <span className="muted small">{file.name} · {(file.size / 1024).toFixed(1)} KiB</span> : null}
        </div>
        <div className="actions">
          <button type="button" disabled={!file || progress !== null || !!hint} onClick={() => void send()}
                  title={hint ?? undefined}>Upload</button>
          {progress !== null ? <button type="button" className="secondary" onClick={() => abort.current?.()}>Cancel</button> : null}
          {hint ? <span className="muted small" data-testid="write-hint">{hint}</span> : null}
        </div>
        {progress !== null ? (
          <div className="progress" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100}
               aria-valuenow={Math.round(progress * 100)} data-testid="upload-progress">
            <span style={{ width: `${Math.round(progress * 100)}%` }} />
            <em>{progress < 1 ? `uploading ${Math.round(progress * 100)} %` : "checking and storing rows…"}</em>
          </div>
        ) : null}
        {error ? <ErrorBox error={error} /> : null}
        {report ? <ReportView report={report.report} replayed={report.replayed} /> : null}
      </section>
      <div className="grid two">
        <section className="panel">
          <h2>Exports</h2>
          <p className="muted small">For {year}, {method}-based scope 2.</p>
          {year ? (
            <ul className="exports">
              <li>Emissions by site and scope: <DownloadLink href={oe.url("/emissions/totals", { start: `${year}-01-01T00:00:00Z`, end: `${year + 1}-01-01T00:00:00Z`, method, group_by: "site,scope", format: "csv" })}>CSV</DownloadLink> · <DownloadLink href={oe.url("/emissions/totals", { start: `${year}-01-01T00:00:00Z`, end: `${year + 1}-01-01T00:00:00Z`, method, group_by: "site,scope", format: "xlsx" })}>XLSX</DownloadLink></li>
              <li>Monthly time series by scope: <DownloadLink href={oe.url("/emissions/timeseries", { start: `${year}-01-01T00:00:00Z`, end: `${year + 1}-01-01T00:00:00Z`, method, interval: "month", group_by: "scope", format: "csv" })}>CSV</DownloadLink> · <DownloadLink href={oe.url("/emissions/timeseries", { start: `${year}-01-01T00:00:00Z`, end: `${year + 1}-01-01T00:00:00Z`, method, interval: "month", group_by: "scope", format: "xlsx" })}>XLSX</DownloadLink></li>
              <li>GHG inventory summary {year}: <DownloadLink href={oe.url("/emissions/inventory", { year, format: "csv" })} testId="export-inventory">CSV</DownloadLink> · <DownloadLink href={oe.url("/emissions/inventory", { year, format: "xlsx" })}>XLSX</DownloadLink></li>
            </ul>
          ) : null}
        </section>
        <section className="panel">
          <h2>Recent batches</h2>
          <Async state={batches} what="Loading batches" empty={(d) => d.length === 0}>
            {(items) => (
              <div className="table-wrap">
              <table className="data">
                <thead><tr><th>File</th><th>When</th><th className="num">Accepted</th><th className="num">Rejected</th></tr></thead>
                <tbody>{items.map((b, i) => <tr key={b.id ?? b.batch_id ?? i}><td>{b.source_name ?? b.filename ?? b.id}</td><td className="nowrap">{b.received_at ? new Date(b.received_at).toISOString().slice(0, 16).replace("T", " ") : "–"}</td><td className="num">{b.accepted ?? "–"}</td><td className="num">{b.rejected ?? "–"}</td></tr>)}</tbody>
              </table>
              </div>
            )}
          </Async>
        </section>
      </div>
    </div>
  );
}
