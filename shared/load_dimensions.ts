/**
 * Upserts product and user dimension rows (`dim_products`, `dim_users`) in chunks, one statement per
 * chunk. Whoever owns a catalogue feeds it: `deno task dims load` and `deno task dev` the
 * simulator's (producer/dimensions.ts), so local runs have the dimensions the simulated traffic
 * refers to.
 */
import type { Sql } from "./db.ts";

export interface ProductDim {
  productId: string;
  category: string;
  /** Price in currency units (the event contract's unit). */
  price: number;
  name?: string;
}

export interface UserDim {
  userId: string;
  segment: string;
  country?: string;
  region?: string;
  device?: string;
}

const CHUNK = 5000;

/** Upserts the given rows; returns how many of each were written. */
export async function loadDimensions(
  input: { products?: readonly ProductDim[]; users?: readonly UserDim[] },
  deps: { sql: Sql },
): Promise<{ products: number; users: number }> {
  const { sql } = deps;
  const products = input.products ?? [];
  const users = input.users ?? [];
  for (let i = 0; i < products.length; i += CHUNK) {
    const c = [...products.slice(i, i + CHUNK)].sort((a, b) => a.productId < b.productId ? -1 : 1);
    await sql`
      insert into dim_products (product_id, category, price_cents, name)
      select * from unnest(${c.map((p) => p.productId)}::text[],
                           ${c.map((p) => p.category)}::text[],
                           ${c.map((p) => Math.round(p.price * 100))}::bigint[],
                           ${c.map((p) => p.name ?? null)}::text[])
      on conflict (product_id) do update set
        category = excluded.category, price_cents = excluded.price_cents, name = excluded.name,
        updated_at = now()`;
  }
  for (let i = 0; i < users.length; i += CHUNK) {
    const c = [...users.slice(i, i + CHUNK)].sort((a, b) => a.userId < b.userId ? -1 : 1);
    await sql`
      insert into dim_users (user_id, segment, home_country, home_region, device_type)
      select * from unnest(${c.map((u) => u.userId)}::text[], ${c.map((u) => u.segment)}::text[],
                           ${c.map((u) => u.country ?? null)}::text[],
                           ${c.map((u) => u.region ?? null)}::text[],
                           ${c.map((u) => u.device ?? null)}::text[])
      on conflict (user_id) do update set
        segment = excluded.segment, home_country = excluded.home_country,
        home_region = excluded.home_region, device_type = excluded.device_type, updated_at = now()`;
  }
  return { products: products.length, users: users.length };
}
