-- Anomalies, per-user features and item-to-item recommendations (issue 5, seed 002, seed 003).

create table anomalies (
  anomaly_id  bigint generated always as identity primary key,
  kind        text        not null,
  series      text        not null,
  bucket      timestamptz not null,
  value       double precision not null,
  baseline    double precision,
  z_score     double precision,
  reason      text        not null,
  detected_at timestamptz not null default now(),
  unique (kind, series, bucket)
);
create index anomalies_time on anomalies (bucket desc);

-- Rolling EWMA baseline per series, advanced one closed minute at a time.
create table anomaly_baselines (
  series      text primary key,
  last_bucket timestamptz not null,
  mean        double precision not null,
  variance    double precision not null,
  n           integer not null
);

-- Per-user feature store: recency, frequency, monetary value, category affinity, device and
-- time-of-day context. Histograms are jsonb {key: count}.
create table user_features (
  user_id        text        primary key,
  first_seen     timestamptz not null,
  last_seen      timestamptz not null,
  events         bigint      not null,
  purchases      bigint      not null,
  monetary_cents bigint      not null,
  home_country   text        not null,
  segment        text        not null,
  last_device    text        not null,
  categories     jsonb       not null,
  devices        jsonb       not null,
  hours          jsonb       not null
);

-- Products a user interacted with per event-time hour; pairs within the same user-hour are the
-- co-occurrences (order independent, so exact under redelivery and reordering).
create table user_hour_products (
  user_id    text        not null,
  hour       timestamptz not null,
  kind       text        not null check (kind in ('view', 'purchase')),
  product_id text        not null,
  primary key (user_id, hour, kind, product_id)
);
create index user_hour_products_user on user_hour_products (user_id, kind, hour desc);

create table item_pairs (
  product_a    text   not null,
  product_b    text   not null,
  co_views     bigint not null default 0,
  co_purchases bigint not null default 0,
  primary key (product_a, product_b)
);

-- Counters are updated in place: leave room on each page for HOT updates.
alter table user_features set (fillfactor = 80);
alter table item_pairs set (fillfactor = 80);
