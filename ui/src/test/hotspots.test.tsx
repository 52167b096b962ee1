import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { faultName, faultOf, HotspotEvidence, magnitude, VerdictPanel, verdictTable, type HotspotFacts } from "../components/HotspotEvidence";

afterEach(() => vi.unstubAllGlobals());

const drop: HotspotFacts = {
  kind: "level_shift", period_start: "2020-03-02T00:00:00Z", period_end: "2020-03-12T00:00:00Z", excess_kwh: 0, excess_kg: null,
  evidence: { fault: "level_shift_down", expectation: "reference", actual_kwh: 700, reference_kwh: 1000, z: 6.1,
    also: [{ fault: "spike", expectation: "day_ahead", start: "2020-03-03T10:00:00Z", end: "2020-03-03T11:00:00Z" }] },
};

describe("a hotspot in words", () => {
  it("names the fault from evidence.fault, else from the stored kind (old and new kinds alike)", () => {
    expect(faultOf(drop)).toBe("level_shift_down");
    expect(faultName(faultOf({ kind: "level_shift_down", evidence: {} }))).toBe("Level shift down");
    expect(faultName(faultOf({ kind: "level_shift", evidence: null }))).toBe("Level shift");
    expect(faultName(faultOf({ kind: "stuck_meter" }))).toBe("Stuck or flat meter");
    expect(faultName("some_new_kind")).toBe("Some new kind");
  });

  it("shows the expectation, the signed magnitude, the window and the merged detections", () => {
    expect(magnitude(drop).share).toBeCloseTo(-0.3);
    render(<HotspotEvidence h={drop} />);
    expect(screen.getByTestId("fault")).toHaveTextContent("Level shift down");
    expect(screen.getByTestId("expectation")).toHaveTextContent("flagged by the reference baseline");
    expect(screen.getByTestId("magnitude")).toHaveTextContent("−30 % against the reference baseline (700 kWh metered, 1,000 kWh expected)");
    expect(screen.getByTestId("window")).toHaveTextContent("(10 days)");
    expect(screen.getByTestId("merged")).toHaveTextContent("Spike (day-ahead forecast)");
  });
});

describe("VerdictPanel", () => {
  const verdict = { verdict: "confirmed" as const, by: "dashboard", note: null, created_at: "2020-03-13T09:00:00Z" };

  it("shows a read-only user the verdict and no buttons", () => {
    render(<VerdictPanel hotspotId="h1" since={drop.period_start} verdict={verdict} canWrite={false} onVerdict={() => undefined} />);
    expect(screen.getByTestId("verdict-current")).toHaveTextContent("Marked a confirmed fault by dashboard");
    expect(within(screen.getByTestId("verdict")).queryAllByRole("button")).toHaveLength(0);
  });

  it("asks before accepting the new normal, says it re-baselines the meter, then posts the verdict", async () => {
    const fetchMock = vi.fn(async (_url: string, _init?: RequestInit) => new Response(JSON.stringify(
      { hotspot_id: "h1", verdict: "new_normal", by: "dashboard", note: null, created_at: "2020-03-13T09:00:00Z", rebaseline_from: drop.period_start }),
      { status: 200, headers: { "Content-Type": "application/json" } }));
    vi.stubGlobal("fetch", fetchMock);
    const given = vi.fn();
    render(<VerdictPanel hotspotId="h 1" since={drop.period_start} verdict={null} canWrite onVerdict={given} />);
    expect(screen.getAllByRole("button").map((b) => b.textContent)).toEqual(["False alarm", "Confirmed", "Accept as new normal"]);
    fireEvent.click(screen.getByRole("button", { name: "Accept as new normal" }));
    expect(fetchMock).not.toHaveBeenCalled();
    expect(screen.getByTestId("new-normal-confirm")).toHaveTextContent("re-baselines the meter");
    fireEvent.click(screen.getByRole("button", { name: "Accept and re-baseline" }));
    await waitFor(() => expect(given).toHaveBeenCalledOnce());
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toMatch(/\/api\/v1\/hotspots\/h%201\/verdict$/);
    expect(JSON.parse(String(init?.body))).toEqual({ verdict: "new_normal", by: "dashboard" });
  });
});

describe("verdict counts", () => {
  it("totals per verdict and per fault and expectation", () => {
    const t = verdictTable({ judged: 4, false_alarms: 3, false_alarm_share: 0.75, counts: [
      { verdict: "false_alarm", kind: "spike", fault: "spike", expectation: "day_ahead", count: 2 },
      { verdict: "false_alarm", kind: "level_shift", fault: "level_shift_down", expectation: "reference", count: 1 },
      { verdict: "new_normal", kind: "level_shift", fault: "level_shift_down", expectation: "reference", count: 1 }] });
    expect(t.totals).toEqual({ false_alarm: 3, confirmed: 0, new_normal: 1 });
    expect(t.rows.map((r) => [r.fault, r.n.false_alarm, r.n.new_normal])).toEqual([["level_shift_down", 1, 1], ["spike", 2, 0]]);
  });
});
