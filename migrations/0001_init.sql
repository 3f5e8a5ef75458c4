-- ScaleStream core schema: raw events partitioned by day of event time, per-minute aggregates,
-- rejects and ingestion counters. Every write path is idempotent (see docs/exactly-once.md).

-- Raw events. The primary key includes the partition key, as PostgreSQL requires; an event id is
-- therefore unique within its event time, which is what an exact re-send carries.
create table events (
  event_id     uuid        not null,
  event_time   timestamptz not null,
  event_type   text        not null,
  user_id      text        not null,
  session_id   text        not null,
  product_id   text,
  category     text,
  price_cents  bigint,
  quantity     integer,
  device_type  text        not null,
  country      text        not null,
  region       text        not null,
  order_id     text,
  ip_address   text,
  attrs        jsonb,
  received_at  timestamptz not null default now(),
  primary key (event_id, event_time)
) partition by range (event_time);

-- Catches anything outside the created daily partitions, so an insert never fails for want of one.
create table events_default partition of events default;

-- Creates the daily partitions covering [from_day, to_day], moving any rows that the default
-- partition already holds for a new day into it. Idempotent; safe to run concurrently with inserts
-- (it takes a short exclusive lock on the default partition only when it has rows to move).
create or replace function ensure_event_partitions(from_day date, to_day date) returns integer
language plpgsql as $$
declare
  d date;
  part text;
  created integer := 0;
begin
  perform pg_advisory_xact_lock(hashtext('scalestream.ensure_event_partitions'));
  d := from_day;
  while d <= to_day loop
    part := 'events_p' || to_char(d, 'YYYYMMDD');
    if to_regclass(quote_ident(part)) is null then
      if exists (select 1 from events_default where event_time >= d and event_time < d + 1) then
        execute format('create table %I (like events including defaults including constraints)', part);
        execute format(
          'with moved as (delete from events_default where event_time >= %L and event_time < %L returning *)
           insert into %I select * from moved', d, d + 1, part);
        execute format('alter table events attach partition %I for values from (%L) to (%L)', part, d, d + 1);
      else
        execute format('create table %I partition of events for values from (%L) to (%L)', part, d, d + 1);
      end if;
      created := created + 1;
    end if;
    d := d + 1;
  end loop;
  return created;
end;
$$;

select ensure_event_partitions(current_date - 8, current_date + 3);

create index events_user_time on events (user_id, event_time);
create index events_session on events (session_id);

-- Per-minute aggregates by event time. Incremented only from rows actually inserted into events,
-- in the same transaction, so a redelivered message never counts twice.
create table agg_minute (
  bucket        timestamptz not null,
  event_type    text        not null,
  category      text        not null,
  device_type   text        not null,
  segment       text        not null,
  events        bigint      not null,
  units         bigint      not null,
  revenue_cents bigint      not null,
  primary key (bucket, event_type, category, device_type, segment)
);

-- Events that failed validation (kind 'invalid') or fell outside the accepted event-time range
-- (kinds 'too_old', 'too_new'); keyed by where they arrived, so redeliveries do not add rows.
create table rejects (
  message_id  text        not null,
  event_index integer     not null,
  kind        text        not null check (kind in ('invalid', 'too_old', 'too_new')),
  reason      text        not null,
  event_id    text,
  event_type  text,
  payload     text        not null,
  received_at timestamptz not null default now(),
  primary key (message_id, event_index)
);
create index rejects_event_id on rejects (event_id) where event_id is not null;
create index rejects_received on rejects (received_at);

-- Ingestion counters per arrival minute and worker (one row per worker avoids a hot row).
create table ingest_stats (
  bucket       timestamptz not null,
  worker_id    text        not null,
  flushes      bigint      not null default 0,
  messages     bigint      not null default 0,
  received     bigint      not null default 0,
  stored       bigint      not null default 0,
  duplicates   bigint      not null default 0,
  rejected     bigint      not null default 0,
  out_of_range bigint      not null default 0,
  primary key (bucket, worker_id)
);
