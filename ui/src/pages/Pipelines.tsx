import { Fragment, useEffect, useRef, useState } from "react";
import { ApiError, oe } from "../api";
import { Async, Empty, ErrorBox } from "../components/States";
import { useRole, writeHint } from "../context";
import { nf2, when } from "../format";
import { useAsync } from "../hooks";

interface Schedule { active: boolean; cron?: string; interval?: number; rrule?: string; timezone?: string }
interface Deployment { id: string; name: string; flow: string; deployment: string; description: string | null; paused: boolean; schedules: Schedule[]; status: string | null; ui: string }
export interface FlowRun { id: string; name: string; deployment: string | null; state: string | null; state_type: string | null;
  expected_start_time: string | null; start_time: string | null; end_time: string | null; duration_s: number | null; ui: string }
interface Version { version: string; aliases: string[]; run_id: string | null; trained_at: string; metrics: Record<string, number> }
interface Models { registered: { name: string; alias: string; served: { version: string; loaded_at: string; activity_types: string[] } | null; versions: Version[]; registry: { reachable: boolean; uri?: string } }; serving?: unknown }

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);
const STEPS = ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"];

export function scheduleText(s: Schedule): string {
  const what = s.cron ? `cron ${s.cron}` : s.interval ? `every ${s.interval >= 3600 ? `${s.interval / 3600} h` : `${s.interval / 60} min`}` : s.rrule ? `rrule ${s.rrule}` : "manual";
  return `${what}${s.timezone && s.cron ? ` (${s.timezone})` : ""}${s.active ? "" : " · inactive"}`;
}

export function RunProgress({ run }: { run: FlowRun }) {
  const type = run.state_type ?? "SCHEDULED";
  const failed = ["FAILED", "CRASHED", "CANCELLED"].includes(type);
  const reached = failed ? 2 : type === "COMPLETED" ? STEPS.length : Math.max(0, STEPS.indexOf(type));
  return (
    <div className="run-progress" data-testid="run-progress" data-state={type}>
      <ol className="steps" aria-label={`Run ${run.name}: ${run.state}`}>
        {STEPS.map((s, i) => <li key={s} className={i < reached ? "done" : i === reached ? (failed ? "failed" : "current") : ""}>{s.toLowerCase()}</li>)}
      </ol>
      <span className={`status state-${type.toLowerCase()}`}>{run.state}</span>
      {run.duration_s ? <span className="muted small"> · {nf2.format(run.duration_s)} s</span> : null}
      {" "}<a href={run.ui} target="_blank" rel="noreferrer">open in Prefect</a>
    </div>
  );
}

export function Pipelines() {
  const hint = writeHint(useRole(), "starting runs");
  const deployments = useAsync(() => oe.get<{ deployments: Deployment[] }>("/deployments").then((r) => r.deployments), []);
  const runs = useAsync(() => oe.get<{ flow_runs: FlowRun[] }>("/flow-runs", { limit: 15 }).then((r) => r.flow_runs), []);
  const models = useAsync(() => oe.get<Models>("/models"), []);
  const links = useAsync(() => oe.get<{ prefect: string; mlflow: string }>("/links"), []);
  const [started, setStarted] = useState<Record<string, FlowRun>>({});
  const [error, setError] = useState<unknown>(null);
  const timer = useRef<ReturnType<typeof setInterval> | null>(null);

  // follow the runs started here until they end; refresh the recent runs meanwhile
  useEffect(() => {
    const active = Object.values(started).filter((r) => !TERMINAL.has(r.state_type ?? ""));
    if (!active.length) return;
    timer.current = setInterval(async () => {
      const updates = await Promise.all(active.map((r) => oe.get<FlowRun>(`/flow-runs/${r.id}`).catch(() => r)));
      setStarted((prev) => {
        const next = { ...prev };
        updates.forEach((u) => { const d = Object.keys(prev).find((k) => prev[k].id === u.id); if (d) next[d] = u; });
        return next;
      });
      runs.reload();
    }, 2000);
    return () => { if (timer.current) clearInterval(timer.current); };
  // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(Object.values(started).map((r) => [r.id, r.state_type]))]);

  async function runNow(d: Deployment) {
    setError(null);
    try {
      const run = await oe.post<FlowRun>(`/deployments/${d.name}/run`, { parameters: {} });
      setStarted((s) => ({ ...s, [d.name]: run }));
      runs.reload();
    } catch (e) {
      setError(e as ApiError);
    }
  }

  return (
    <div className="page">
      <header className="page-head row">
        <div>
          <h1>Pipelines</h1>
          <p className="muted">Prefect deployments and their schedules, recent runs, and the model the ML engine serves.</p>
        </div>
        <span className="links">
          {links.data ? <><a className="button secondary" href={links.data.prefect} target="_blank" rel="noreferrer">Prefect UI ↗</a>
            <a className="button secondary" href={links.data.mlflow} target="_blank" rel="noreferrer">MLflow UI ↗</a></> : null}
        </span>
      </header>
      {error ? <ErrorBox error={error} /> : null}
      <section className="panel">
        <h2>Deployments</h2>
        {hint ? <p className="muted small" data-testid="write-hint">{hint}</p> : null}
        <Async state={deployments} what="Loading deployments" empty={(d) => d.length === 0}>
          {(items) => (
            <div className="table-wrap">
              <table className="data" data-testid="deployments">
                <thead><tr><th>Deployment</th><th>Schedule</th><th>Status</th><th>Run</th></tr></thead>
                <tbody>
                  {items.map((d) => (
                    <tr key={d.id} data-deployment={d.name}>
                      <td><a href={d.ui} target="_blank" rel="noreferrer"><strong>{d.name}</strong></a><div className="muted small">{d.description}</div></td>
                      <td>{d.schedules.length ? d.schedules.map(scheduleText).join("; ") : "manual only"}{d.paused ? " · paused" : ""}</td>
                      <td>{d.status?.toLowerCase() ?? "–"}</td>
                      <td>
                        <button type="button" onClick={() => void runNow(d)} disabled={!!hint}
                                title={hint ?? `Start ${d.name} now`}>Run now</button>
                        {started[d.name] ? <RunProgress run={started[d.name]} /> : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Async>
      </section>
      <div className="grid two">
        <section className="panel">
          <h2>Recent runs <button type="button" className="link small" onClick={runs.reload}>refresh</button></h2>
          <Async state={runs} what="Loading runs" empty={(d) => d.length === 0}>
            {(items) => (
              <div className="table-wrap">
              <table className="data" data-testid="flow-runs">
                <thead><tr><th>Run</th><th>Deployment</th><th>State</th><th>Started</th><th className="num">Seconds</th></tr></thead>
                <tbody>
                  {items.map((r) => (
                    <tr key={r.id}>
                      <td><a href={r.ui} target="_blank" rel="noreferrer">{r.name}</a></td>
                      <td>{r.deployment ?? "–"}</td>
                      <td><span className={`status state-${(r.state_type ?? "").toLowerCase()}`}>{r.state}</span></td>
                      <td>{when(r.start_time ?? r.expected_start_time)}</td>
                      <td className="num">{r.duration_s !== null ? nf2.format(r.duration_s) : "–"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </div>
            )}
          </Async>
        </section>
        <section className="panel">
          <h2>Model in service</h2>
          <Async state={models} what="Asking the ML engine">
            {(m) => {
              const reg = m.registered;
              const served = reg.served;
              const v = reg.versions.find((x) => x.version === served?.version);
              return (
                <div data-testid="model">
                  {served ? (
                    <p className="lead"><strong>{reg.name} v{served.version}</strong> ({reg.alias}) loaded {when(served.loaded_at)} for {served.activity_types.join(", ")}.</p>
                  ) : <Empty>No model is served yet: train one with the <code>train-baseline</code> deployment.</Empty>}
                  {v ? (
                    <dl className="facts">
                      {Object.entries(v.metrics).filter(([k]) => !k.includes("/")).slice(0, 12).map(([k, x]) => <Fragment key={k}><dt>{k}</dt><dd>{nf2.format(x)}</dd></Fragment>)}
                    </dl>
                  ) : null}
                  <h3>Registered versions</h3>
                  {reg.versions.length ? (
                    <ul className="list">{reg.versions.slice(0, 6).map((x) => <li key={x.version}>v{x.version} {x.aliases.map((a) => <span key={a} className="tag">{a}</span>)} <span className="muted small">trained {when(x.trained_at)}</span></li>)}</ul>
                  ) : <p className="muted">{reg.registry.reachable ? "None registered." : "The MLflow registry is unreachable."}</p>}
                </div>
              );
            }}
          </Async>
        </section>
      </div>
    </div>
  );
}
