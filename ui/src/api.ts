// Everything the dashboard reads or writes goes through here: the orchestration engine (REST + WebSockets)
// and the chatbot, nothing else. Errors arrive as RFC 9457 problem+json and are surfaced as ApiError.

export interface Config {
  orchestrationUrl: string;
  chatbotUrl: string;
  prefectUiUrl?: string;
  mlflowUiUrl?: string;
}

const DEFAULTS: Config = { orchestrationUrl: "http://127.0.0.1:8003", chatbotUrl: "http://127.0.0.1:8004" };
let config: Config = { ...DEFAULTS };

export async function loadConfig(): Promise<Config> {
  try {
    const r = await fetch("/config.json", { cache: "no-store" });
    if (r.ok) config = { ...DEFAULTS, ...(await r.json()) };
  } catch {
    /* the dev server has no /config.json: the defaults are make up's ports */
  }
  return config;
}

export function getConfig(): Config {
  return config;
}

export function setConfig(c: Partial<Config>): void {
  config = { ...config, ...c };
}

// ------------------------------------------------------------------ the API token (writes only)
const TOKEN_KEY = "carbon-nexus.token";
const listeners = new Set<() => void>();

/** `make up` prints the dashboard URL with `#token=...`: read it once, keep it, and take it out of the URL. */
export function adoptTokenFromHash(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  listeners.forEach((l) => l());
}

export function onTokenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// ------------------------------------------------------------------ requests
export class ApiError extends Error {
  status: number;
  title: string;
  body: Record<string, unknown>;
  constructor(status: number, title: string, detail: string, body: Record<string, unknown> = {}) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.body = body;
  }
}

export type Params = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

export function query(params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function problemFrom(r: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = await r.json();
  } catch {
    /* not JSON */
  }
  const title = String(body.title ?? r.statusText ?? "Request failed");
  let detail = body.detail as unknown;
  if (Array.isArray(detail)) detail = detail.map((d) => (d as { msg?: string }).msg ?? JSON.stringify(d)).join("; ");
  const hint = r.status === 401 ? " (set the API token with Sign in, top right)" : "";
  return new ApiError(r.status, title, `${String(detail ?? title)}${hint}`, body);
}

async function request<T>(base: string, path: string, init: RequestInit & { auth?: boolean } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.auth) {
    const token = getToken();
    if (token) headers.set("Authorization", `Bearer ${token}`);
  }
  if (init.body && typeof init.body === "string" && !headers.has("Content-Type")) {
    headers.set("Content-Type", "application/json");
  }
  let r: Response;
  try {
    r = await fetch(base + path, { ...init, headers });
  } catch (e) {
    throw new ApiError(0, "Service unreachable", `${base} did not answer (${(e as Error).message})`);
  }
  if (!r.ok) throw await problemFrom(r);
  return (await r.json()) as T;
}

/** The orchestration engine's REST API (``/api/v1/...``). */
export const oe = {
  get: <T>(path: string, params?: Params) => request<T>(config.orchestrationUrl, `/api/v1${path}${query(params)}`),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
    request<T>(config.orchestrationUrl, `/api/v1${path}`, {
      method: "POST", body: JSON.stringify(body ?? {}), auth: true, headers,
    }),
  url: (path: string, params?: Params) => `${config.orchestrationUrl}/api/v1${path}${query(params)}`,
};

/** The chatbot (``/api/...``). */
export const rag = {
  get: <T>(path: string, params?: Params) => request<T>(config.chatbotUrl, `/api${path}${query(params)}`),
  post: <T>(path: string, body: unknown) =>
    request<T>(config.chatbotUrl, `/api${path}`, { method: "POST", body: JSON.stringify(body) }),
  url: (path: string) => `${config.chatbotUrl}/api${path}`,
};

/** Upload a file with progress (fetch has no upload progress; XMLHttpRequest does). */
export function upload<T>(file: File, params: Params, onProgress: (fraction: number) => void,
                          idempotencyKey?: string): { promise: Promise<T>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open("POST", oe.url("/ingest", params));
    const token = getToken();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (idempotencyKey) xhr.setRequestHeader("Idempotency-Key", idempotencyKey);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* empty */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve({ ...body, _replayed: xhr.getResponseHeader("Idempotent-Replayed") === "true" } as T);
      } else {
        const hint = xhr.status === 401 ? " (set the API token with Sign in, top right)" : "";
        reject(new ApiError(xhr.status, String(body.title ?? "Upload refused"),
          `${String(body.detail ?? xhr.statusText)}${hint}`, body));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "Service unreachable", "the orchestration engine did not answer"));
    xhr.onabort = () => reject(new ApiError(0, "Cancelled", "the upload was cancelled"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
