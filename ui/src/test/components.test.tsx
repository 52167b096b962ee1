import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ConnectionBadge } from "../components/ConnectionBadge";
import { SortableTable } from "../components/SortableTable";
import { ReportView, type IngestReport } from "../pages/Data";
import { applyAlertEvent, type Alert } from "../pages/Alerts";
import { RunProgress, scheduleText, type FlowRun } from "../pages/Pipelines";
import { siteRows } from "../pages/Sites";
import { chartPoints } from "../components/ExpectedChart";

describe("ConnectionBadge", () => {
  it("says what the connection is doing", () => {
    const { rerender } = render(<ConnectionBadge state="live" />);
    expect(screen.getByTestId("connection-state")).toHaveTextContent("Live");
    rerender(<ConnectionBadge state="reconnecting" onRetry={() => undefined} />);
    expect(screen.getByTestId("connection-state")).toHaveTextContent("Reconnecting");
    expect(screen.getByRole("button", { name: "retry now" })).toBeInTheDocument();
  });
});

describe("Sites", () => {
  const sites = [
    { id: "a", name: "A", country: "GB", floor_area_m2: 100, renewable_share: 0, tags: [] },
    { id: "b", name: "B", country: "GB", floor_area_m2: null, renewable_share: 0, tags: [] },
  ];
  it("joins emissions, area, change and open hotspots per site", () => {
    const rows = siteRows(sites, [{ site: "a", kg_co2e: 500, share: 1, cumulative_share: 1, pareto: true, kg_prev: 400, change_pct: 25 }],
      [{ site: "a" }, { site: "a" }, { site: "b" }]);
    expect(rows).toEqual([
      { id: "a", name: "A", country: "GB", kg: 500, intensity: 5, change: 0.25, open: 2 },
      { id: "b", name: "B", country: "GB", kg: 0, intensity: null, change: null, open: 1 },
    ]);
  });

  it("sorts by a column when its header is clicked, nulls last", () => {
    const rows = [{ id: "x", v: 2 }, { id: "y", v: null }, { id: "z", v: 9 }];
    render(<SortableTable rows={rows} rowKey={(r) => r.id} initial={{ key: "id", desc: false }}
      columns={[{ key: "id", title: "Id", value: (r) => r.id }, { key: "v", title: "Value", numeric: true, value: (r) => r.v }]} />);
    const order = () => screen.getAllByRole("row").slice(1).map((r) => within(r).getAllByRole("cell")[0].textContent);
    expect(order()).toEqual(["x", "y", "z"]);
    fireEvent.click(screen.getByRole("button", { name: /Value/ }));
    expect(order()).toEqual(["z", "x", "y"]);
    expect(screen.getByRole("columnheader", { name: /Value/ })).toHaveAttribute("aria-sort", "descending");
    fireEvent.click(screen.getByRole("button", { name: /Value/ }));
    expect(order()).toEqual(["x", "z", "y"]);
  });
});

describe("Data", () => {
  it("shows the rejected rows with their reasons next to what was kept", () => {
    const report: IngestReport = {
      batch_id: "b1", status: "committed", received: 5, accepted: 3, duplicates: 0, rejected: 2, rejects_total: 2, rejects_truncated: false,
      rejects: [{ row: 2, column: "quantity", reason: "not a number", value: "abc" }, { row: 4, column: "unit", reason: "unknown unit", value: "parsec" }],
      kg_co2e: 12.5, sites: ["b0"], period_start: "2020-01-01T00:00:00", period_end: "2020-01-02T00:00:00", ledger_version: 1,
    };
    render(<ReportView report={report} replayed={false} />);
    expect(screen.getByTestId("accepted")).toHaveTextContent("3");
    expect(screen.getByTestId("rejected")).toHaveTextContent("2");
    const rejects = screen.getByTestId("rejects");
    expect(within(rejects).getByText("not a number")).toBeInTheDocument();
    expect(within(rejects).getByText("parsec")).toBeInTheDocument();
  });
});

describe("Alerts", () => {
  const base = { hotspot_id: "h", rule: "r", severity: "high", title: "t", created_at: "2020-01-01T00:00:00Z", updated_at: "",
    acknowledged_by: null, resolved_by: null, note: null } as const;
  it("replaces an alert by its newest event and keeps newest first", () => {
    let list: Alert[] = [{ ...base, id: "1", status: "open" }];
    list = applyAlertEvent(list, "alert.raised", { ...base, id: "2", status: "open", created_at: "2020-02-01T00:00:00Z" });
    list = applyAlertEvent(list, "alert.acknowledged", { ...base, id: "1", status: "acknowledged" });
    list = applyAlertEvent(list, "hotspot.opened", { ...base, id: "3", status: "open" });
    expect(list.map((a) => [a.id, a.status])).toEqual([["2", "open"], ["1", "acknowledged"]]);
  });
});

describe("Pipelines", () => {
  it("describes schedules and shows a run's progress", () => {
    expect(scheduleText({ active: true, cron: "15 * * * *", timezone: "UTC" })).toBe("cron 15 * * * * (UTC)");
    expect(scheduleText({ active: false, interval: 300 })).toBe("every 5 min · inactive");
    const run: FlowRun = { id: "r", name: "brave-fox", deployment: "ingest/ingest", state: "Running", state_type: "RUNNING",
      expected_start_time: null, start_time: null, end_time: null, duration_s: null, ui: "http://x" };
    render(<RunProgress run={run} />);
    expect(screen.getByTestId("run-progress")).toHaveAttribute("data-state", "RUNNING");
    expect(screen.getByText("running")).toHaveClass("current");
    expect(screen.getByText("scheduled")).toHaveClass("done");
  });
});

describe("ExpectedChart", () => {
  it("turns aggregated rows into chart points with a band", () => {
    const points = chartPoints([
      { period_start: "2020-01-01T00:00:00Z", activity_type: "electricity", unit: "kWh", actual: 10, expected: 8, lower: 6, upper: 9, hours: 24, hours_above: 2, hours_below: 0 },
      { period_start: "2020-01-01T00:00:00Z", activity_type: "natural_gas", unit: "kWh", actual: 1, expected: 1, lower: null, upper: null, hours: 24, hours_above: 0, hours_below: 0 },
    ], "electricity");
    expect(points).toEqual([{ t: Date.parse("2020-01-01T00:00:00Z"), actual: 10, expected: 8, band: [6, 9], above: 2 }]);
  });
});
