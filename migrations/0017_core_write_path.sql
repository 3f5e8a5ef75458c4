-- The core write path (docs/exactly-once.md): one event id is one event whatever its timestamp,
-- rejects are idempotent across re-sends, geo users are exact, and derived state is computed off
-- committed batches through an outbox.

-- One row per event id ever stored, within the dedupe horizon. Partitioned by dedupe generation
-- (7 days of the database clock), so the horizon is dropped whole: a flush claims an id in the
-- current generation unless the previous one holds it, so the horizon is 7 to 14 days, at least the
-- raw retention. In the first 10 minutes of a generation a flush also claims the id in the previous
-- one, where a flush that began before the boundary claims it: their unique keys meet there.
create table event_ids (
  gen        integer     not null,
  event_id   uuid        not null,
  event_time timestamptz not null,
  batch_id   bigint      not null,
  primary key (gen, event_id)
) partition by list (gen);
create table event_ids_default partition of event_ids default;

create or replace function dedupe_generation(t timestamptz) returns integer
language sql immutable parallel safe
as $$ select floor(extract(epoch from t) / 604800)::integer $$;

-- Creates the partitions of the generation of `at`, the one before and the one after. Idempotent.
create or replace function ensure_dedupe_generations(at timestamptz default now())
returns integer language plpgsql as $$
declare
  g integer;
  made integer := 0;
begin
  for g in dedupe_generation(at) - 1 .. dedupe_generation(at) + 1 loop
    if to_regclass(format('event_ids_g%s', g)) is null then
      execute format('create table if not exists event_ids_g%s partition of event_ids for values in (%s)', g, g);
      made := made + 1;
    end if;
  end loop;
  return made;
end
$$;
select ensure_dedupe_generations();

-- Which flush stored each raw event: the id of its transaction (the outbox's key, and the lake
-- export's position). Databases that ran the lake migration have it already.
alter table events
  add column if not exists batch_id bigint not null default (pg_current_xact_id()::text::bigint);
create index if not exists events_batch_brin on events using brin (batch_id)
  with (autosummarize = on);

-- The ids already stored, in the current generation (the horizon starts now for them).
insert into event_ids (gen, event_id, event_time, batch_id)
select distinct on (event_id) dedupe_generation(now()), event_id, event_time, batch_id
from events order by event_id, event_time;

-- The raw key was (event_id, event_time): an id with another timestamp was a second event.
-- `event_ids` is the key now; raw rows are found through it (`batch_id`, BRIN) and by time.
alter table events drop constraint if exists events_pkey;
alter table events add column if not exists segment text;
create index if not exists events_time_brin on events using brin (event_time);

-- Rejects keyed by a deterministic key (the event's id, or a hash of its payload), so a re-sent
-- invalid event is one reject, whatever message carried it.
alter table rejects add column reject_key uuid;
update rejects set reject_key = md5(message_id || '/' || event_index)::uuid;
alter table rejects alter column reject_key set not null;
-- Rows written by hand (tools, tests) get a random key; the flush always sends its own.
alter table rejects alter column reject_key set default gen_random_uuid();
alter table rejects drop constraint rejects_pkey;
alter table rejects add primary key (reject_key);
alter table rejects alter column message_id drop not null;
alter table rejects alter column event_index drop not null;

-- Exact active users per region: one row per minute, user and region.
alter table active_user_minute drop constraint active_user_minute_pkey;
alter table active_user_minute add primary key (bucket, user_id, country, region);

-- The outbox: one row per committed core batch with new events, consumed by the derived stage
-- in the same transaction as its writes.
create table core_batches (
  batch_id   bigint      primary key,
  events     integer     not null,
  created_at timestamptz not null default now()
);
