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

// ------------------------------------------------------------------ the token and its role
// Every request carries the token. READ_TOKEN gives the read role (everything shows, nothing changes);
// API_TOKEN the write role (acknowledge, resolve, run, upload too). The role comes from GET /api/v1/whoami.
const TOKEN_KEY = "carbon-nexus.token";
const listeners = new Set<() => void>();
const roleListeners = new Set<() => void>();

/** "none": no token; "invalid": the engine refused it; "unknown": not asked yet or the engine is unreachable. */
export type Role = "read" | "write" | "none" | "invalid" | "unknown";
let role: Role = "unknown";

/** `make up` prints the dashboard URL with `#token=<READ_TOKEN>`: read it once, keep it, and take it out of the URL. */
export function adoptTokenFromHash(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (m) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1])); // its role is asked once the config is loaded
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
  role = token ? "unknown" : "none";
  listeners.forEach((l) => l());
  roleListeners.forEach((l) => l());
  void refreshRole();
}

export function getRole(): Role {
  return getToken() ? role : "none";
}

function setRole(r: Role): void {
  if (r === role) return;
  role = r;
  roleListeners.forEach((l) => l());
}

export function onRoleChange(listener: () => void): () => void {
  roleListeners.add(listener);
  return () => roleListeners.delete(listener);
}

/** Ask the orchestration engine which role the token has (GET /api/v1/whoami). */
export async function refreshRole(): Promise<Role> {
  const token = getToken();
  if (!token) {
    setRole("none");
    return "none";
  }
  try {
    const r = await fetch(`${config.orchestrationUrl}/api/v1/whoami`, { headers: authHeaders() });
    if (getToken() !== token) return getRole(); // changed meanwhile: that call decides
    if (r.status === 401) setRole("invalid");
    else if (r.ok) setRole(((await r.json()) as { role: Role }).role === "write" ? "write" : "read");
    else setRole("unknown");
  } catch {
    setRole("unknown");
  }
  return getRole();
}

/** The Authorization header of the stored token (none without one). */
export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
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
  const hint = authHint(r.status);
  return new ApiError(r.status, title, `${String(detail ?? title)}${hint}`, body);
}

function authHint(status: number): string {
  if (status === 401) return " (sign in with a token, top right)";
  if (status === 403) return " (read-only: sign in with the write token, top right)";
  return "";
}

async function request<T>(base: string, path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
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
      method: "POST", body: JSON.stringify(body ?? {}), headers,
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
        const hint = authHint(xhr.status);
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

/** Download a file the API serves (an export): a plain link cannot carry the token, so fetch it and save
 * the answer under the name the server gives (Content-Disposition) or ``fallback``. */
export async function download(url: string, fallback = "download"): Promise<void> {
  let r: Response;
  try {
    r = await fetch(url, { headers: authHeaders() });
  } catch (e) {
    throw new ApiError(0, "Service unreachable", `the download did not start (${(e as Error).message})`);
  }
  if (!r.ok) throw await problemFrom(r);
  const disposition = r.headers.get("Content-Disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallback;
  const href = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
