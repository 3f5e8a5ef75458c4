/**
 * The simulated shop's catalog and its stock. Products have a category, a price drawn from the
 * category's price range, a popularity from a long-tailed (Zipf-like) distribution, and stock that
 * purchases consume and restocks refill. Deterministic for a given random source.
 */
import { createWeightedPicker, intBetween, logNormal, pick, type Random } from "./random.ts";

/** Categories with a typical price (median, currency units) and some search terms. */
export const CATEGORY_PROFILES = {
  electronics: { median: 180, terms: ["headphones", "usb-c charger", "4k monitor", "laptop"] },
  fashion: { median: 45, terms: ["sneakers", "winter jacket", "jeans", "summer dress"] },
  home: { median: 60, terms: ["desk lamp", "coffee maker", "bed sheets", "storage box"] },
  beauty: { median: 25, terms: ["moisturizer", "lipstick", "shampoo", "perfume"] },
  sports: { median: 55, terms: ["yoga mat", "running shoes", "dumbbells", "bike helmet"] },
  toys: { median: 30, terms: ["lego", "board game", "puzzle", "plush"] },
  books: { median: 18, terms: ["thriller", "cookbook", "manga", "biography"] },
  grocery: { median: 8, terms: ["coffee beans", "olive oil", "green tea", "chocolate"] },
} as const;

export type Category = keyof typeof CATEGORY_PROFILES;
export const CATEGORIES = Object.keys(CATEGORY_PROFILES) as Category[];

/** One product. `stock` is the live level; purchases lower it, restocks raise it. */
export interface Product {
  productId: string;
  name: string;
  category: Category;
  price: number;
  stock: number;
  /** Stock level at which a restock is ordered. */
  reorderPoint: number;
  /** Relative popularity; a few products get most of the views. */
  popularity: number;
}

export interface Catalog {
  readonly products: readonly Product[];
  /** A product by popularity, optionally within one category. */
  pickProduct(random: Random, category?: Category): Product;
  byId(productId: string): Product | undefined;
}

const ADJECTIVES = ["Classic", "Pro", "Eco", "Ultra", "Mini", "Smart", "Deluxe", "Everyday"];

/** Builds `count` products; prices have two decimals and end mostly in .99 or .49, like shops'. */
export function createCatalog(random: Random, count: number): Catalog {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Catalog size must be a positive integer, got "${count}"`);
  }
  const products: Product[] = [];
  for (let i = 0; i < count; i++) {
    const category = CATEGORIES[i % CATEGORIES.length]!;
    const profile = CATEGORY_PROFILES[category];
    const whole = Math.max(1, Math.round(logNormal(random, profile.median, 0.6)));
    const cents = random() < 0.7 ? 99 : 49;
    const stock = intBetween(random, 20, 400);
    products.push({
      productId: `p-${i + 1}`,
      name: `${pick(random, ADJECTIVES)} ${pick(random, profile.terms)}`,
      category,
      price: Math.round((Math.min(whole, 9_999) - 1) * 100 + cents) / 100,
      stock,
      reorderPoint: Math.max(5, Math.floor(stock / 5)),
      // Zipf with s ≈ 1 over a shuffled rank, so popularity is not tied to the category order.
      popularity: 1 / (1 + Math.floor(random() * count)),
    });
  }
  const all = createWeightedPicker(products.map((p) => p.popularity));
  const inCategory = new Map<Category, { items: Product[]; pick: (r: Random) => number }>();
  for (const category of CATEGORIES) {
    const items = products.filter((p) => p.category === category);
    if (items.length > 0) {
      inCategory.set(category, {
        items,
        pick: createWeightedPicker(items.map((p) => p.popularity)),
      });
    }
  }
  const index = new Map(products.map((p) => [p.productId, p]));
  return {
    products,
    pickProduct(random, category) {
      const c = category === undefined ? undefined : inCategory.get(category);
      return c ? c.items[c.pick(random)]! : products[all(random)]!;
    },
    byId: (id) => index.get(id),
  };
}
