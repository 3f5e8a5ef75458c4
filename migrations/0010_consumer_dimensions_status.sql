-- Consumer: enrichment dimensions (seed 002, function 1) and one live status row per worker.

-- Product catalogue. Loaded by `deno task dims load` locally; a catalogue feed in production.
create table dim_products (
  product_id  text        primary key,
  category    text        not null,
  price_cents bigint      not null check (price_cents >= 0),
  name        text,
  updated_at  timestamptz not null default now()
);

-- User profiles. segment is one of 'new', 'returning', 'loyal' (or whatever the CRM sends).
create table dim_users (
  user_id      text        primary key,
  segment      text        not null,
  home_country text,
  home_region  text,
  device_type  text,
  updated_at   timestamptz not null default now()
);

-- Upserted about every two seconds by each consumer; read by the API's /v1/pipeline/status.
create table consumer_status (
  worker_id         text             primary key,
  started_at        timestamptz      not null,
  updated_at        timestamptz      not null,
  inflight_messages integer          not null default 0,
  inflight_events   integer          not null default 0,
  -- now − SentTimestamp of the oldest message of the last flush
  lag_ms            bigint           not null default 0,
  events_per_s      double precision not null default 0,
  stored            bigint           not null default 0,
  duplicates        bigint           not null default 0
);
