/** A query result as an aligned text table, CSV (RFC 4180) or JSON (an array of row objects). */
import type { QueryResult } from "./duckdb_lake.ts";

export type OutputFormat = "table" | "csv" | "json";

const text = (v: unknown): string =>
  v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);

function csvField(v: unknown): string {
  const s = text(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Renders `result`; the table right-aligns numeric columns and shows NULL as `NULL`. */
export function formatResult(result: QueryResult, format: OutputFormat): string {
  if (format === "json") {
    const objects = result.rows.map((r) =>
      Object.fromEntries(result.columns.map((c, i) => [c, r[i] ?? null]))
    );
    return JSON.stringify(objects, null, 2) + "\n";
  }
  if (format === "csv") {
    const lines = [result.columns.map(csvField).join(",")];
    for (const r of result.rows) lines.push(r.map(csvField).join(","));
    return lines.join("\r\n") + "\r\n";
  }
  const cells = result.rows.map((r) =>
    r.map((v) => v === null || v === undefined ? "NULL" : text(v).replaceAll("\n", "\\n"))
  );
  const widths = result.columns.map((c, i) =>
    Math.max(c.length, ...cells.map((r) => [...r[i]!].length))
  );
  const numeric = result.types.map((t) => /INT|DECIMAL|DOUBLE|FLOAT|REAL/.test(t));
  const pad = (s: string, i: number) => {
    const fill = " ".repeat(widths[i]! - [...s].length);
    return numeric[i] ? fill + s : s + fill;
  };
  const line = (parts: string[]) => parts.map(pad).join(" │ ");
  const rule = widths.map((w) => "─".repeat(w)).join("─┼─");
  const out = [line(result.columns), rule, ...cells.map(line)];
  const n = result.rows.length;
  out.push(`(${n} row${n === 1 ? "" : "s"})`);
  return out.join("\n") + "\n";
}
