import { Fragment, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { authHeaders, rag, problemFrom, ApiError } from "../api";
import { useDrawer } from "../context";
import { streamSse } from "../sse";

export interface Citation {
  ref: string; type: "query" | "kb" | string; id?: string; title?: string; endpoint?: string;
  params?: Record<string, unknown>; result?: unknown; url?: string;
}
interface Turn { role: "user" | "assistant"; text: string; citations?: Citation[]; streaming?: boolean; error?: string; declined?: boolean }

const SUGGESTIONS = [
  "What were our total emissions in 2020?",
  "Which sites emitted the most electricity emissions in 2020?",
  "Are there open alerts at b33?",
  "How can we cut gas use at b2?",
];

/** **bold** spans of the composer's Markdown as <strong> (the rest stays text: no HTML is ever injected). */
export function inlineMarkdown(text: string, key: string | number): ReactNode[] {
  return text.split(/(\*\*[^*]+\*\*)/g).map((part, j) =>
    /^\*\*[^*]+\*\*$/.test(part) ? <strong key={`${key}-${j}`}>{part.slice(2, -2)}</strong> : <Fragment key={`${key}-${j}`}>{part}</Fragment>);
}

/** Split an answer on its citation markers ([Q1], [Q2b], [kb-doc-id]) so each becomes a button. */
export function withCitations(text: string, citations: Citation[], open: (c: Citation) => void): ReactNode[] {
  const byRef = new Map(citations.map((c) => [c.ref, c]));
  const parts = text.split(/(\[[A-Za-z0-9_.:-]{1,80}\])/g);
  return parts.map((part, i) => {
    const m = /^\[([A-Za-z0-9_.:-]+)\]$/.exec(part);
    const c = m ? byRef.get(m[1]) : undefined;
    if (!c) return <Fragment key={i}>{inlineMarkdown(part, i)}</Fragment>;
    return (
      <button key={i} type="button" className="cite" onClick={() => open(c)}
              title={c.type === "kb" ? `Knowledge base: ${c.title ?? c.id}` : `Open the query ${c.endpoint ?? ""}`}>
        {part}
      </button>
    );
  });
}

export function ChatPanel({ compact = false }: { compact?: boolean }) {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const session = useRef<string | null>(sessionStorage.getItem("carbon-nexus.chat-session"));
  const end = useRef<HTMLDivElement>(null);
  const { open } = useDrawer();
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "end" }); // Chromium returns a Promise here: not a cleanup
  }, [turns]);

  const openCitation = (c: Citation) => {
    if (c.type === "kb" && c.id) open({ kind: "kb", id: c.id });
    else if (c.endpoint) open({ kind: "query", citation: { ref: c.ref, endpoint: c.endpoint, params: c.params, result: c.result } });
  };

  const update = (fn: (t: Turn) => Turn) => setTurns((ts) => [...ts.slice(0, -1), fn(ts[ts.length - 1])]);

  async function ask(message: string) {
    if (!message.trim() || busy) return;
    setBusy(true);
    setInput("");
    setTurns((ts) => [...ts, { role: "user", text: message }, { role: "assistant", text: "", streaming: true }]);
    try {
      const r = await fetch(rag.url("/chat/stream"), {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
        body: JSON.stringify({ message, ...(session.current ? { session_id: session.current } : {}) }),
      });
      if (!r.ok) throw await problemFrom(r);
      for await (const e of streamSse(r)) {
        const data = JSON.parse(e.data);
        if (e.event === "start") {
          session.current = data.session_id;
          sessionStorage.setItem("carbon-nexus.chat-session", data.session_id);
        } else if (e.event === "delta") {
          update((t) => ({ ...t, text: t.text + data.text }));
        } else if (e.event === "done") {
          update((t) => ({ ...t, text: data.answer, citations: data.citations, declined: data.declined, streaming: false }));
        } else if (e.event === "error") {
          throw new ApiError(data.status ?? 500, data.title ?? "Chat failed", data.detail ?? "");
        }
      }
    } catch (err) {
      const down = !(err instanceof ApiError) || err.status === 0;
      update((t) => ({ ...t, streaming: false, error: down ? "The chatbot is unreachable; try again when it is back." : err.message }));
    } finally {
      setBusy(false);
    }
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void ask(input);
  };

  return (
    <section className={`chat${compact ? " compact" : ""}`} aria-label="Chat with your emissions data">
      <div className="chat-log" aria-live="polite" data-testid="chat-log">
        {turns.length === 0 ? (
          <div className="chat-empty">
            <p>Ask about your emissions, sites, alerts or how to cut them. Answers cite the query or document behind every figure.</p>
            <div className="suggestions">
              {SUGGESTIONS.map((s) => <button key={s} type="button" className="chip" onClick={() => void ask(s)}>{s}</button>)}
            </div>
          </div>
        ) : null}
        {turns.map((t, i) => (
          <div key={i} className={`turn ${t.role}`} data-testid={t.role === "assistant" ? "chat-answer" : undefined}>
            <div className="bubble">
              {t.role === "assistant" ? withCitations(t.text, t.citations ?? [], openCitation) : t.text}
              {t.streaming ? <span className="caret" aria-label="answering" /> : null}
              {t.error ? <div className="state error" role="alert">{t.error}</div> : null}
            </div>
            {t.citations?.length ? (
              <ul className="citations" aria-label="Citations">
                {t.citations.map((c) => (
                  <li key={c.ref}>
                    <button type="button" className="link" onClick={() => openCitation(c)}>
                      [{c.ref}] {c.type === "kb" ? c.title ?? c.id : c.endpoint}
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ))}
        <div ref={end} />
      </div>
      <form className="chat-input" onSubmit={submit}>
        <label htmlFor={compact ? "chat-q-compact" : "chat-q"} className="sr-only">Your question</label>
        <input id={compact ? "chat-q-compact" : "chat-q"} value={input} onChange={(e) => setInput(e.target.value)}
               placeholder="e.g. total emissions of b33 in 2020" maxLength={4000} autoComplete="off" />
        <button type="submit" disabled={busy || !input.trim()}>{busy ? "Answering…" : "Ask"}</button>
      </form>
    </section>
  );
}
