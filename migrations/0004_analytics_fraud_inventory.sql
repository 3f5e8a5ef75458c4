-- Fraud scoring, inventory and the alert outbox (issue 5, seed 002 queries 3 and 4, seed 003 4.3).

-- Purchases per minute by IP and by user, for the "same IP" and "velocity" fraud rules.
create table fraud_counters (
  kind   text        not null check (kind in ('ip', 'user')),
  key    text        not null,
  bucket timestamptz not null,
  orders integer     not null,
  primary key (kind, key, bucket)
);

-- One score per purchase line (event), with the reasons that produced it. No raw IP is kept here.
create table fraud_scores (
  event_id     uuid        primary key,
  order_id     text        not null,
  user_id      text        not null,
  event_time   timestamptz not null,
  amount_cents bigint      not null,
  country      text        not null,
  score        integer     not null check (score between 0 and 100),
  reasons      text[]      not null,
  scored_at    timestamptz not null default now()
);
create index fraud_scores_time on fraud_scores (event_time);
create index fraud_scores_user on fraud_scores (user_id, event_time);

-- The risk profile of each purchasing user.
create table user_risk (
  user_id       text        primary key,
  scored_orders integer     not null default 0,
  flagged       integer     not null default 0,
  max_score     integer     not null default 0,
  last_score    integer     not null default 0,
  updated_at    timestamptz not null
);

-- Stock per product: the newest inventory_update by event time (`stock_base` at `stock_at`) minus
-- the units of purchases with a later event time (`sold_after`). Null stock = never counted.
create table inventory (
  product_id  text        primary key,
  category    text,
  stock_base  bigint,
  stock_at    timestamptz not null default '-infinity',
  sold_after  bigint      not null default 0,
  low         boolean     not null default false,
  updated_at  timestamptz not null default now()
);
create index inventory_low on inventory (product_id) where low;
create index events_purchase_product on events (product_id, event_time)
  where event_type = 'purchase';

-- Every alert, once: `dedupe_key` makes repeats of the same condition bump `repeats` instead of
-- alerting again.
create table alerts (
  alert_id   bigint generated always as identity primary key,
  kind       text        not null check (kind in ('fraud', 'inventory', 'anomaly')),
  dedupe_key text        not null unique,
  severity   text        not null,
  title      text        not null,
  details    jsonb       not null,
  created_at timestamptz not null default now(),
  repeats    integer     not null default 0
);
create index alerts_kind_time on alerts (kind, created_at desc);

-- Transactional outbox: written with the alert, delivered after commit by the alert dispatcher.
create table alert_outbox (
  alert_id        bigint      primary key references alerts (alert_id),
  kind            text        not null,
  status          text        not null default 'pending'
                    check (status in ('pending', 'delivered', 'failed', 'skipped')),
  attempts        integer     not null default 0,
  next_attempt_at timestamptz not null default now(),
  claimed_until   timestamptz,
  delivered_at    timestamptz,
  last_error      text
);
create index alert_outbox_due on alert_outbox (next_attempt_at) where status = 'pending';

-- One row per delivery attempt (the delivery record).
create table alert_deliveries (
  delivery_id  bigint generated always as identity primary key,
  alert_id     bigint      not null references alerts (alert_id),
  channel      text        not null,
  attempted_at timestamptz not null default now(),
  ok           boolean     not null,
  http_status  integer,
  error        text,
  duration_ms  integer     not null
);
create index alert_deliveries_alert on alert_deliveries (alert_id);

-- Counters are updated in place: leave room on each page for HOT updates.
alter table fraud_counters set (fillfactor = 80);
alter table user_risk set (fillfactor = 80);
alter table inventory set (fillfactor = 80);
