import { useMemo, useState, type ReactNode } from "react";

export interface Column<T> {
  key: string;
  title: string;
  value: (row: T) => number | string | null;
  render?: (row: T) => ReactNode;
  numeric?: boolean;
}

/** A table whose headers sort it (click or Enter/Space); nulls always sort last. */
export function SortableTable<T>({ rows, columns, rowKey, initial, testId }: {
  rows: T[]; columns: Column<T>[]; rowKey: (r: T) => string; initial: { key: string; desc: boolean }; testId?: string;
}) {
  const [sort, setSort] = useState(initial);
  const sorted = useMemo(() => {
    const col = columns.find((c) => c.key === sort.key) ?? columns[0];
    return [...rows].sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      const d = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return sort.desc ? -d : d;
    });
  }, [rows, columns, sort]);
  return (
    <div className="table-wrap">
      <table className="data" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((c) => {
              const active = c.key === sort.key;
              return (
                <th key={c.key} className={c.numeric ? "num" : undefined}
                    aria-sort={active ? (sort.desc ? "descending" : "ascending") : "none"}>
                  <button type="button" className="sort"
                          onClick={() => setSort({ key: c.key, desc: active ? !sort.desc : c.numeric === true })}>
                    {c.title} <span aria-hidden="true">{active ? (sort.desc ? "▼" : "▲") : "↕"}</span>
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={rowKey(r)}>
              {columns.map((c) => <td key={c.key} className={c.numeric ? "num" : undefined}>{c.render ? c.render(r) : String(c.value(r) ?? "–")}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
