import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ChatPanel } from "../components/Chat";
import { DetailDrawer } from "../components/Detail";
import { DrawerProvider } from "../context";

function sse(events: [string, unknown][]): Response {
  const body = events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join("");
  const stream = new ReadableStream({
    start(c) {
      const bytes = new TextEncoder().encode(body);
      c.enqueue(bytes.slice(0, 17)); // split mid-event on purpose
      c.enqueue(bytes.slice(17));
      c.close();
    },
  });
  return new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

afterEach(() => vi.unstubAllGlobals());

describe("ChatPanel", () => {
  it("streams an answer and opens the query behind a cited number", async () => {
    const citation = { ref: "Q1", type: "query", endpoint: "/api/v1/emissions/totals", params: { site: "b33" } };
    const fetchMock = vi.fn(async (url: string, _init?: RequestInit) => {
      if (url.endsWith("/api/chat/stream")) {
        return sse([["start", { session_id: "s1" }], ["delta", { text: "b33 emitted " }],
          ["done", { answer: "b33 emitted **1.2 t CO2e** [Q1].", citations: [citation], declined: false }]]);
      }
      if (url.endsWith("/api/query")) {
        return new Response(JSON.stringify({ result: { total_kg_co2e: 1200 }, audit: { rows: [], row_count: 0 } }),
          { status: 200, headers: { "Content-Type": "application/json" } });
      }
      throw new Error(`unexpected ${url}`);
    });
    vi.stubGlobal("fetch", fetchMock);
    render(<DrawerProvider><ChatPanel /><DetailDrawer /></DrawerProvider>);
    fireEvent.change(screen.getByLabelText("Your question"), { target: { value: "emissions of b33" } });
    fireEvent.click(screen.getByRole("button", { name: "Ask" }));
    await waitFor(() => expect(screen.getByTestId("chat-answer")).toHaveTextContent("b33 emitted 1.2 t CO2e [Q1]."));
    expect(screen.getByText("1.2 t CO2e").tagName).toBe("STRONG"); // Markdown bold, not raw asterisks
    fireEvent.click(screen.getAllByRole("button", { name: "[Q1]" })[0]);
    await waitFor(() => expect(screen.getByTestId("cited-query")).toHaveTextContent("/api/v1/emissions/totals"));
    await waitFor(() => expect(screen.getByTestId("cited-query")).toHaveTextContent("1200"));
    const body = JSON.parse(String(fetchMock.mock.calls[0][1]?.body));
    expect(body).toEqual({ message: "emissions of b33" });
  });

  it("shows a clear message when the chatbot is down", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => { throw new TypeError("Failed to fetch"); }));
    render(<DrawerProvider><ChatPanel /></DrawerProvider>);
    fireEvent.change(screen.getByLabelText("Your question"), { target: { value: "hello" } });
    fireEvent.click(screen.getByRole("button", { name: "Ask" }));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("unreachable"));
  });
});
