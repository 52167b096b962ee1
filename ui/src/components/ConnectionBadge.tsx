import type { ConnectionState } from "../live";

const TEXT: Record<ConnectionState, string> = {
  idle: "Not connected",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  "signed-out": "Live updates need a token (sign in)",
};

export function ConnectionBadge({ state, detail, onRetry }: { state: ConnectionState; detail?: string; onRetry?: () => void }) {
  return (
    <span className={`badge conn conn-${state}`} role="status" aria-live="polite" title={detail ?? TEXT[state]}
          data-testid="connection-state" data-state={state}>
      <span className="dot" aria-hidden="true" />
      {TEXT[state]}
      {onRetry && (state === "offline" || state === "reconnecting") ? (
        <button type="button" className="link" onClick={onRetry}>retry now</button>
      ) : null}
    </span>
  );
}
