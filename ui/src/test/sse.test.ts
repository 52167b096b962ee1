import { describe, expect, it } from "vitest";
import { SseParser } from "../sse";

describe("SseParser", () => {
  it("joins an event split across chunks and skips comments", () => {
    const p = new SseParser();
    expect(p.push("event: start\ndata: {\"session_id\":")).toEqual([]);
    expect(p.push("\"s1\"}\n\n: keep-alive\n\nevent: delta\r\ndata: {\"text\":\"Hi\"}\r\n\r\n")).toEqual([
      { event: "start", data: "{\"session_id\":\"s1\"}" },
      { event: "delta", data: "{\"text\":\"Hi\"}" },
    ]);
  });

  it("keeps multi-line data and defaults the event name", () => {
    const p = new SseParser();
    expect(p.push("data: a\ndata: b\n\n")).toEqual([{ event: "message", data: "a\nb" }]);
  });
});
