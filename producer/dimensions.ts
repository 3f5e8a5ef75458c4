import type { ProductDim, UserDim } from "../shared/mod.ts";
import type { Generator } from "./shopper_sessions.ts";

/** The dimension rows of a generator's catalogue and user population, for `loadDimensions`. */
export function dimensionsOf(gen: Pick<Generator, "products" | "users">): {
  products: ProductDim[];
  users: UserDim[];
} {
  return {
    products: gen.products.map((p) => ({
      productId: p.productId,
      category: p.category,
      price: p.price,
    })),
    users: gen.users.map((u) => ({
      userId: u.userId,
      segment: u.segment,
      country: u.country,
      region: u.region,
      device: u.device,
    })),
  };
}
