/**
 * PostgreSQL array literals built in one pass, sent as one text parameter and cast in SQL
 * (`${pgArray(xs)}::text[]`): cheaper than letting the driver escape every element of every array
 * parameter on its own. Strings are always quoted (backslash and double quote escaped), `null` is
 * NULL, numbers are written as they are.
 */
const NEEDS_ESCAPE = /[\\"]/;
const ESCAPE = /[\\"]/g;

export function pgArray(values: readonly (string | number | null | undefined)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = "NULL";
    else if (typeof v === "number") parts[i] = String(v);
    else parts[i] = NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPE, "\\$&")}"` : `"${v}"`;
  }
  return `{${parts.join(",")}}`;
}

/** The array literal of `rows.map(pick)`. */
export function column<T>(
  rows: readonly T[],
  pick: (row: T) => string | number | null | undefined,
): string {
  return pgArray(rows.map(pick));
}
