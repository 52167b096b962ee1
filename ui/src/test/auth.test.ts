import { afterEach, describe, expect, it, vi } from "vitest";
import { authHeaders, getRole, oe, refreshRole, setToken } from "../api";
import { writeHint } from "../context";

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("tokens and roles", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    localStorage.clear();
  });

  it("asks whoami which role the token has, and knows when there is none or it is refused", async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get("Authorization");
      if (auth === "Bearer reader") return answer(200, { role: "read" });
      if (auth === "Bearer writer") return answer(200, { role: "write" });
      return answer(401, { title: "Unauthorized", detail: "no" });
    });
    vi.stubGlobal("fetch", fetch);
    setToken("reader");
    expect(await refreshRole()).toBe("read");
    expect(String(fetch.mock.calls.at(-1)?.[0])).toMatch(/\/api\/v1\/whoami$/);
    setToken("writer");
    expect(await refreshRole()).toBe("write");
    setToken("wrong");
    expect(await refreshRole()).toBe("invalid");
    setToken(null);
    expect(getRole()).toBe("none");
    expect(authHeaders()).toEqual({});
  });

  it("sends the token on every read as well as on writes", async () => {
    const seen: (string | null)[] = [];
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get("Authorization"));
      return answer(200, {});
    }));
    localStorage.setItem("carbon-nexus.token", "reader");
    await oe.get("/alerts");
    await oe.post("/ws-tickets");
    expect(seen).toEqual(["Bearer reader", "Bearer reader"]);
  });

  it("explains why a write control is disabled", () => {
    expect(writeHint("write", "uploading")).toBeNull();
    expect(writeHint("read", "uploading")).toMatch(/Read-only.*write token/);
    expect(writeHint("none", "uploading")).toMatch(/^Uploading needs the write token/);
  });
});
