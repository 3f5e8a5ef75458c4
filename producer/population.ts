/**
 * The simulated shoppers: segments (new, returning, loyal) with different habits, a home country and
 * region, a preferred device and an IP address that belongs to the home country. Deterministic for a
 * given random source.
 */
import type { DeviceType } from "../shared/mod.ts";
import { pick, type Random } from "./random.ts";

export type Segment = "new" | "returning" | "loyal";
export const SEGMENTS: readonly Segment[] = ["new", "returning", "loyal"];

/** How each segment behaves: share of the population, purchase propensity, session length. */
export const SEGMENT_PROFILES: Readonly<
  Record<Segment, { share: number; conversion: number; meanSteps: number }>
> = {
  // conversion multiplies the purchase weight of a session step (see shopper_sessions.ts).
  new: { share: 0.5, conversion: 0.5, meanSteps: 6 },
  returning: { share: 0.35, conversion: 1, meanSteps: 9 },
  loyal: { share: 0.15, conversion: 2.2, meanSteps: 14 },
};

/** Countries with regions, a documentation-range IP prefix per country, and a rough position. */
export const COUNTRIES = [
  { country: "US", regions: ["CA", "NY", "TX", "WA", "FL"], net: 11, lat: 38, lon: -97, w: 30 },
  { country: "GB", regions: ["ENG", "SCT", "WLS"], net: 12, lat: 54, lon: -2, w: 10 },
  { country: "DE", regions: ["BE", "BY", "HH"], net: 13, lat: 51, lon: 10, w: 10 },
  { country: "FR", regions: ["IDF", "ARA", "PAC"], net: 14, lat: 46, lon: 2, w: 8 },
  { country: "IN", regions: ["MH", "KA", "DL"], net: 15, lat: 21, lon: 78, w: 12 },
  { country: "BR", regions: ["SP", "RJ"], net: 16, lat: -14, lon: -51, w: 8 },
  { country: "JP", regions: ["13", "27"], net: 17, lat: 36, lon: 138, w: 8 },
  { country: "AU", regions: ["NSW", "VIC"], net: 18, lat: -25, lon: 133, w: 5 },
  { country: "NG", regions: ["LA", "FC"], net: 19, lat: 9, lon: 8, w: 3 },
  { country: "VN", regions: ["HN", "SG"], net: 20, lat: 14, lon: 108, w: 3 },
  { country: "MX", regions: ["CMX", "JAL"], net: 21, lat: 23, lon: -102, w: 3 },
] as const;
export type CountryInfo = typeof COUNTRIES[number];

const DEVICE_SHARES: readonly [DeviceType, number][] = [
  ["mobile", 0.58],
  ["desktop", 0.34],
  ["tablet", 0.08],
];

const USER_AGENTS: Readonly<Record<DeviceType, readonly string[]>> = {
  mobile: [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
  ],
  desktop: [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
  ],
  tablet: [
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
  ],
};

/** One simulated shopper. */
export interface User {
  userId: string;
  segment: Segment;
  country: string;
  region: string;
  device: DeviceType;
  userAgent: string;
  ipAddress: string;
}

/** A user agent string for a device, for events and injected bots alike. */
export function userAgentFor(random: Random, device: DeviceType): string {
  return pick(random, USER_AGENTS[device]);
}

/** An IP address inside the country's (made-up, stable) /8. */
export function ipIn(random: Random, country: CountryInfo): string {
  const o = () => Math.floor(random() * 256);
  return `${country.net}.${o()}.${o()}.${1 + Math.floor(random() * 254)}`;
}

function weighted<T>(random: Random, items: readonly T[], weightOf: (t: T) => number): T {
  const total = items.reduce((s, t) => s + weightOf(t), 0);
  let r = random() * total;
  for (const t of items) {
    r -= weightOf(t);
    if (r < 0) return t;
  }
  return items[items.length - 1]!;
}

/** Builds `count` users with segments in the proportions of `SEGMENT_PROFILES`. */
export function createPopulation(random: Random, count: number): User[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Population size must be a positive integer, got "${count}"`);
  }
  const users: User[] = [];
  for (let i = 0; i < count; i++) {
    const home = weighted(random, COUNTRIES, (c) => c.w);
    const segment = weighted(random, SEGMENTS, (s) => SEGMENT_PROFILES[s].share);
    const device = weighted(random, DEVICE_SHARES, ([, w]) => w)[0];
    users.push({
      userId: `u-${i + 1}`,
      segment,
      country: home.country,
      region: pick(random, home.regions),
      device,
      userAgent: userAgentFor(random, device),
      ipAddress: ipIn(random, home),
    });
  }
  return users;
}

/** The country furthest from `country` (great-circle), for "bought from a far country" patterns. */
export function farCountry(country: string): CountryInfo {
  const home = COUNTRIES.find((c) => c.country === country) ?? COUNTRIES[0];
  let best: CountryInfo = COUNTRIES[0];
  let bestD = -1;
  for (const c of COUNTRIES) {
    const d = distanceKm(home.lat, home.lon, c.lat, c.lon);
    if (d > bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** Great-circle distance in kilometres. */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
    Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(a));
}
