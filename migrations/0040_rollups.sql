-- Serving layer (issue 15): exact hour and day rollups of the minute tables, for the series the API
-- serves. Only the roll-up job writes them (consumer/roll_up.ts): it recomputes the hours marked in
-- `rollup_dirty` from the minute rows, and their days from the hours, replacing rows, never adding.
-- The API reads a rollup row only for an hour (or a day) with no mark, and the minute rows
-- otherwise, so every answer equals a recount whichever table it came from. Buckets are UTC
-- (`date_bin(…, timestamptz 'epoch')`).

-- Hours the roll-up job has rolled. The planner reads an hour's rollups only when the hour is here
-- and has no mark in rollup_dirty: an hour never rolled (or a flush that leaves no mark) can never
-- make it read an empty rollup.
create table rollup_hours (
  hour      timestamptz primary key,
  rolled_at timestamptz not null default now()
);

-- Every dimension the dashboard filters on, per hour and per day (columns of agg_minute_dims).
create table agg_dims_hour (like agg_minute_dims including defaults including constraints,
  primary key (bucket, event_type, category, device_type, country, segment));
create table agg_dims_day (like agg_minute_dims including defaults including constraints,
  primary key (bucket, event_type, category, device_type, country, segment));

-- The unfiltered series (the dashboard's default view) per event type only: a 7-day hourly answer
-- reads 168 × 9 rows instead of every dimension combination. `agg_type_minute` holds rolled hours
-- only; the minutes of a marked hour are read from agg_minute_dims.
create table agg_type_minute (
  bucket                  timestamptz not null,
  event_type              text        not null,
  events                  bigint      not null default 0,
  units                   bigint      not null default 0,
  revenue_cents           bigint      not null default 0,
  orders                  bigint      not null default 0,
  cancelled_orders        bigint      not null default 0,
  cancelled_revenue_cents bigint      not null default 0,
  primary key (bucket, event_type)
);
create table agg_type_hour (like agg_type_minute including defaults including constraints,
  primary key (bucket, event_type));
create table agg_type_day (like agg_type_minute including defaults including constraints,
  primary key (bucket, event_type));

create table agg_geo_hour (like agg_geo_minute including defaults including constraints,
  primary key (bucket, country, region));
create table agg_geo_day (like agg_geo_minute including defaults including constraints,
  primary key (bucket, country, region));

create table agg_product_hour (like agg_product_minute including defaults including constraints,
  primary key (bucket, product_id));
create table agg_product_day (like agg_product_minute including defaults including constraints,
  primary key (bucket, product_id));

-- Exact presence: one row per hour (day) and user and attribute combination the user had in some
-- minute of it, so distinct users over any union of hours, days and minutes stay a recount.
create table active_user_hour (
  bucket      timestamptz not null,
  user_id     text        not null,
  device_type text        not null,
  country     text        not null,
  region      text        not null,
  segment     text        not null,
  primary key (bucket, user_id, device_type, country, region, segment)
);
create table active_user_day (like active_user_hour including defaults including constraints,
  primary key (bucket, user_id, device_type, country, region, segment));

-- Distinct users per hour (day) for every combination of the filters the API takes, '*' = any
-- (GROUP BY CUBE): an hourly series over a week reads 168 rows, not millions of presence rows.
create table active_count_hour (
  bucket      timestamptz not null,
  device_type text        not null,
  country     text        not null,
  segment     text        not null,
  users       bigint      not null,
  primary key (bucket, device_type, country, segment)
);
create table active_count_day (like active_count_hour including defaults including constraints,
  primary key (bucket, device_type, country, segment));

-- Planner statistics: the aggregate tables grow by a few percent an hour, far below autovacuum's
-- default 10% (analyze) / 20% (vacuum) thresholds, so the planner would estimate a 60-minute read
-- from statistics of a much smaller table. Analyse after 1% of new rows (or 5,000), vacuum at 5%.
do $$
declare t text;
begin
  foreach t in array array['agg_minute', 'agg_minute_dims', 'agg_geo_minute', 'agg_product_minute',
    'active_user_minute', 'agg_dims_hour', 'agg_dims_day', 'agg_type_minute', 'agg_type_hour',
    'agg_type_day', 'agg_geo_hour', 'agg_geo_day', 'agg_product_hour', 'agg_product_day',
    'active_user_hour', 'active_user_day', 'active_count_hour', 'active_count_day'] loop
    execute format('alter table %I set (autovacuum_analyze_scale_factor = 0.01, '
      'autovacuum_analyze_threshold = 5000, autovacuum_vacuum_scale_factor = 0.05, '
      'autovacuum_vacuum_threshold = 5000)', t);
  end loop;
end $$;
