import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { billMeters, billPoints, BillsChart, modelText, type Bill } from "../components/BillsChart";

const model = { kind: "3PH", baseline_bills: 12, cvrmse: 0.081, nmbe: 0.0, meets_ashrae14: true, weather: "hourly",
                heating_base_c: 15.5, cooling_base_c: null };
function bill(month: number, kwh: number, extra: Partial<Bill> = {}): Bill {
  const m = String(month).padStart(2, "0");
  return { site: "b35", meter: "gas-bill", activity_type: "natural_gas", period_start: `2020-${m}-01T00:00:00Z`,
           period_end: `2020-${String(month + 1).padStart(2, "0")}-01T00:00:00Z`, days: 30, kwh, kg_co2e: kwh * 0.18,
           expected: null, lower: null, upper: null, level: null, weather: null, model_version: null, reason: null,
           above_upper: false, model: null, ...extra };
}
const bills: Bill[] = [
  bill(1, 30000, { reason: "no baseline: 5 bills; a degree-day model needs at least 6 before this bill" }),
  bill(2, 45000, { expected: 28000, lower: 22000, upper: 34000, level: 0.99, weather: 1, model, above_upper: true }),
  bill(3, 25000, { expected: 26000, lower: 20000, upper: 32000, level: 0.99, weather: 1, model }),
  bill(3, 900, { meter: "elec-bill", activity_type: "electricity" }),
];

describe("BillsChart", () => {
  it("splits bills by meter and turns the interval into an error bar around the expected value", () => {
    expect(billMeters(bills)).toEqual(["gas-bill|natural_gas", "elec-bill|electricity"]);
    const points = billPoints(bills, "gas-bill|natural_gas");
    expect(points.map((p) => [p.month, p.actual, p.expected, p.interval, p.flagged])).toEqual([
      ["2020-01", 30000, null, null, false],
      ["2020-02", 45000, 28000, [6000, 6000], true],
      ["2020-03", 25000, 26000, [6000, 6000], false],
    ]);
  });

  it("says what model judged a bill, or why none did", () => {
    expect(modelText(bills[1])).toBe("3PH (heating below 15.5 °C) on 12 bills, CV(RMSE) 8.1 % (meets ASHRAE 14)");
    expect(modelText(bills[0])).toMatch(/^no baseline: 5 bills/);
    expect(modelText(bills[3])).toBe("not judged yet");
    expect(modelText({ ...bills[0], model: {} as Bill["model"] })).toMatch(/^no baseline: 5 bills/);
    expect(modelText({ ...bills[1], model: { ...model, kind: "2P", heating_base_c: null, weather: "none", meets_ashrae14: false } }))
      .toBe("2P on 12 bills, CV(RMSE) 8.1 %, no weather");
  });

  it("lists the bills newest first with the flagged one marked", () => {
    render(<BillsChart bills={bills} />);
    expect(screen.getByTestId("bills-chart")).toHaveTextContent("1 above the 99 % interval");
    const rows = within(screen.getByTestId("bills-table")).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("cell")[0].textContent)).toEqual([
      "2020-03-01 – 2020-04-01", "2020-02-01 – 2020-03-01", "2020-01-01 – 2020-02-01"]);
    expect(rows[1]).toHaveTextContent("above expected");
    expect(rows[1]).toHaveTextContent("22,000 – 34,000");
    expect(rows[0]).not.toHaveTextContent("above expected");
    expect(screen.getByRole("group", { name: "Billed meter" })).toBeInTheDocument();
  });
});
