/**
 * A row of the `user_features` table (migrations/0005): what the consumer's features stage writes
 * and locks to merge, what the fraud stage reads profiles from, and what
 * `GET /v1/users/{id}/features` shows. The bigint counters arrive as numbers (shared/db.ts).
 */
export interface UserFeaturesRow {
  user_id: string;
  first_seen: Date;
  last_seen: Date;
  events: number;
  purchases: number;
  monetary_cents: number;
  home_country: string;
  segment: string;
  last_device: string;
  /** Events per category, per device type and per UTC hour ("0"–"23"): jsonb count maps. */
  categories: Counts;
  devices: Counts;
  hours: Counts;
}

type Counts = Record<string, number>;
