-- Server-side sessions (issue 5, seed 002 query 2): per user, a session is a maximal run of events
-- whose event-time gaps are at most the inactivity timeout (30 minutes by default). An event that
-- lands between two sessions within the timeout of both merges them (see docs/analytics.md).
create table sessions (
  session_id        uuid        primary key,
  user_id           text        not null,
  started_at        timestamptz not null,
  last_at           timestamptz not null,
  events            integer     not null,
  page_views        integer     not null,
  purchases         integer     not null,
  converted         boolean     not null,
  entry_page        text,
  entry_page_at     timestamptz,
  exit_page         text,
  exit_page_at      timestamptz,
  device_type       text        not null,
  country           text        not null,
  client_session_id text        not null,
  closed            boolean     not null default false,
  closed_at         timestamptz
);
-- No index covers last_at or the counters, so extending a session is a HOT update (fillfactor
-- leaves room on the page). The sweep finds open sessions by start: last_at < cutoff implies
-- started_at < cutoff.
alter table sessions set (fillfactor = 80);
create index sessions_user on sessions (user_id, started_at);
create index sessions_open on sessions (started_at) where not closed;
