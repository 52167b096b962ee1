import type { ReactNode } from "react";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="state loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const e = error as { title?: string; message?: string; status?: number };
  return (
    <div className="state error" role="alert">
      <strong>{e.title ?? "Something went wrong"}</strong>
      {e.status ? <span className="muted"> ({e.status})</span> : null}
      <div>{e.message ?? String(error)}</div>
      {retry ? <button type="button" onClick={retry}>Try again</button> : null}
    </div>
  );
}

/** Loading / error / empty / content for one async value. */
export function Async<T>({ state, empty, children, what }: {
  state: { data?: T; error?: unknown; loading: boolean; reload: () => void };
  empty?: (d: T) => boolean;
  children: (d: T) => ReactNode;
  what?: string;
}) {
  if (state.error) return <ErrorBox error={state.error} retry={state.reload} />;
  if (state.data === undefined) return <Loading what={what} />;
  if (empty && empty(state.data)) return <Empty>Nothing here yet for this selection.</Empty>;
  return <>{children(state.data)}</>;
}
