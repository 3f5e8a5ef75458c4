/** `GET /health`: the process is up. `GET /ready`: its database answers. */
import type { Sql } from "../../shared/mod.ts";

export function health(): { status: "ok" } {
  return { status: "ok" };
}

export async function ready(
  deps: { sql: Sql },
): Promise<{ status: "ok" | "unavailable"; database: boolean }> {
  try {
    await deps.sql`select 1`;
    return { status: "ok", database: true };
  } catch {
    return { status: "unavailable", database: false };
  }
}
