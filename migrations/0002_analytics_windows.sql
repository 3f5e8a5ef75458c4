-- Analytics windows (issue 5): per-minute aggregates by event time over every dimension the
-- dashboard filters on, orders with their cancellation state, active users, products.
-- All rows are written by the consumer's flush stages from newly inserted events only, in the
-- flush transaction; 5-minute and 1-hour views are rollups of these minutes at query time.

-- One row per minute and dimension combination. Revenue and units are per purchase line (at the
-- line's dimensions); orders and cancellations are per order (at its first line's dimensions).
create table agg_minute_dims (
  bucket                  timestamptz not null,
  event_type              text        not null,
  category                text        not null,
  device_type             text        not null,
  country                 text        not null,
  segment                 text        not null,
  events                  bigint      not null default 0,
  units                   bigint      not null default 0,
  revenue_cents           bigint      not null default 0,
  orders                  bigint      not null default 0,
  cancelled_orders        bigint      not null default 0,
  cancelled_revenue_cents bigint      not null default 0,
  primary key (bucket, event_type, category, device_type, country, segment)
);

-- Geography at region level: events, purchases and revenue per minute.
create table agg_geo_minute (
  bucket        timestamptz not null,
  country       text        not null,
  region        text        not null,
  events        bigint      not null default 0,
  purchases     bigint      not null default 0,
  revenue_cents bigint      not null default 0,
  primary key (bucket, country, region)
);

-- Per product per minute: views (product_click), carts, purchases, units and revenue.
create table agg_product_minute (
  bucket        timestamptz not null,
  product_id    text        not null,
  category      text        not null,
  views         bigint      not null default 0,
  carts         bigint      not null default 0,
  purchases     bigint      not null default 0,
  units         bigint      not null default 0,
  revenue_cents bigint      not null default 0,
  primary key (bucket, product_id)
);
create index agg_product_minute_product on agg_product_minute (product_id, bucket);

-- Exact active users: one row per minute and user (attributes of the user's first event stored
-- that minute). `events` counts the user's events in the minute, which also feeds bot detection.
create table active_user_minute (
  bucket      timestamptz not null,
  user_id     text        not null,
  device_type text        not null,
  country     text        not null,
  region      text        not null,
  segment     text        not null,
  events      integer     not null default 0,
  primary key (bucket, user_id)
);

-- Orders keyed by orderId, so an order_cancelled finds its purchase's revenue whichever arrives
-- first. `lines` = 0 marks a cancellation that arrived before any purchase line.
create table orders (
  order_id      text        primary key,
  user_id       text,
  bucket        timestamptz,
  category      text,
  device_type   text,
  country       text,
  segment       text,
  lines         integer     not null default 0,
  units         bigint      not null default 0,
  revenue_cents bigint      not null default 0,
  purchased_at  timestamptz,
  cancelled     boolean     not null default false,
  cancelled_at  timestamptz
);
create index orders_user on orders (user_id, purchased_at);

-- Counters are updated in place: leave room on each page for HOT updates.
alter table agg_minute_dims set (fillfactor = 80);
alter table agg_geo_minute set (fillfactor = 80);
alter table agg_product_minute set (fillfactor = 80);
alter table active_user_minute set (fillfactor = 80);
alter table orders set (fillfactor = 80);
