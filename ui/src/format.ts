export const nf0 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
export const nf1 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 });
export const nf2 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 2 });

/** kg CO2e as the most readable unit (kg, t, kt). */
export function co2e(kg: number | null | undefined): string {
  if (kg === null || kg === undefined || !Number.isFinite(kg)) return "–";
  const a = Math.abs(kg);
  if (a >= 1e6) return `${nf2.format(kg / 1e6)} kt`;
  if (a >= 1e3) return `${nf1.format(kg / 1e3)} t`;
  return `${nf0.format(kg)} kg`;
}

export function pct(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return `${x > 0 ? "+" : ""}${(x * 100).toFixed(digits)} %`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
}

export function day(iso: string): string {
  return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

export function label(s: string | null | undefined): string {
  return (s ?? "").replace(/_/g, " ");
}

export function yearRange(year: number): { start: string; end: string } {
  return { start: `${year}-01-01T00:00:00Z`, end: `${year + 1}-01-01T00:00:00Z` };
}
