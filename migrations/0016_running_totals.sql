-- Totals kept as running sums by the core flush, in the same transaction as the rows they count,
-- so `GET /v1/pipeline/totals` reads at most 64 shards × kinds rows whatever the history. A flush
-- adds to the shard of its worker (hash of the worker id), so concurrent consumers do not queue on
-- one hot row. `kind` is an event type, or 'rejected', 'too_old', 'too_new', 'duplicates'.
create table pipeline_totals (
  shard         smallint not null check (shard between 0 and 63),
  kind          text     not null,
  n             bigint   not null default 0,
  units         bigint   not null default 0,
  revenue_cents bigint   not null default 0,
  primary key (shard, kind)
);

-- What the minute tables and counters held before this migration, into shard 0.
insert into pipeline_totals (shard, kind, n, units, revenue_cents)
select 0, event_type, sum(events), sum(units), sum(revenue_cents)
from agg_minute group by event_type;
insert into pipeline_totals (shard, kind, n)
select 0, case kind when 'invalid' then 'rejected' else kind end, count(*)
from rejects group by kind;
insert into pipeline_totals (shard, kind, n)
select 0, 'duplicates', coalesce(sum(duplicates), 0) from ingest_stats
having coalesce(sum(duplicates), 0) > 0;

-- Hours whose minute rows changed since they were last rolled into hour/day rollups: one row per
-- flush and hour its new events touched (insert-only: a flush never waits on another here). The
-- roll-up job reads the marks in one snapshot, recomputes those hours from the minute tables and
-- deletes exactly the marks it read; a flush that commits meanwhile leaves a new mark. An hour with
-- no mark is clean: its rollup rows equal the sum of its minutes.
create table rollup_dirty (
  hour     timestamptz not null,
  batch_id bigint      not null,
  primary key (hour, batch_id)
);
insert into rollup_dirty (hour, batch_id)
select distinct date_trunc('hour', bucket), 0 from agg_minute;
