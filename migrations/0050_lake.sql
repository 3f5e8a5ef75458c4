-- The data lake (docs/lake.md): committed raw events exported to Parquet on S3 exactly once, the
-- batch view's checks of the stream's rollups against the lake, and reports computed from it.

-- Which flush stored each raw event: the id of the inserting transaction. Every id below the
-- xmin of a current snapshot belongs to a finished transaction, so the range [watermark, xmin)
-- never gains rows later: that is what makes the incremental export exact. The core write path
-- sets `batch_id` itself; where it does not exist yet, the column default records the same id.
do $$
begin
  if not exists (
    select 1 from information_schema.columns
    where table_schema = current_schema() and table_name = 'events' and column_name = 'batch_id'
  ) then
    alter table events
      add column batch_id bigint not null default (pg_current_xact_id()::text::bigint);
  end if;
end
$$;
create index if not exists events_batch_brin on events using brin (batch_id)
  with (autosummarize = on);

-- The export position: every event with batch_id < watermark is in the lake, none above it.
create table lake_state (
  singleton  boolean     primary key default true check (singleton),
  watermark  bigint      not null default 0,
  updated_at timestamptz not null default now()
);
insert into lake_state default values;

-- The manifest: one row per export batch [from_batch, to_batch). A batch is recorded as pending
-- before its first upload, so a run that dies after uploading resumes the same range and rewrites
-- the same object names; it becomes committed together with the watermark, in one transaction.
create table lake_exports (
  export_id    bigserial   primary key,
  from_batch   bigint      not null unique,
  to_batch     bigint      not null check (to_batch > from_batch),
  state        text        not null check (state in ('pending', 'committed')),
  rows         bigint      not null default 0,
  bytes        bigint      not null default 0,
  -- [{ key, dt, hour, rows, bytes }]
  objects      jsonb       not null default '[]',
  started_at   timestamptz not null default now(),
  committed_at timestamptz
);
create unique index lake_exports_one_pending on lake_exports ((true)) where state = 'pending';
create index lake_exports_committed on lake_exports (committed_at);

-- The batch view: one row per day checked (the latest check wins), with the keys that differ.
create table lake_batch_checks (
  day         date        primary key,
  checked_at  timestamptz not null,
  watermark   bigint      not null,
  keys        integer     not null,
  differences integer     not null,
  lake_events bigint      not null,
  -- [{ hour, eventType, field, stream, lake }]
  details     jsonb       not null default '[]'
);

-- Reports computed from the lake (cohorts, experiments): the latest of each, served by the API.
create table lake_reports (
  kind        text        not null,
  name        text        not null,
  computed_at timestamptz not null,
  watermark   bigint      not null,
  body        jsonb       not null,
  primary key (kind, name)
);
