-- Serving (issue 15): distinct users over long ranges from compact per-day user sets instead of
-- one presence row per user and day (a week = ~160,000 rows hashed per answer at 20,000 shoppers).
--
-- `user_ordinal` gives every user a dense integer per scope: scope ('*', '*') numbers all users,
-- scope (country, region) numbers the users ever seen in that region, so a region's bitmap is as
-- long as that region's users, not all users. Ordinals are assigned by the roll-up job only (one
-- at a time: its advisory lock) and never change.
create table user_ordinal (
  country text not null,
  region  text not null,
  user_id text not null,
  ordinal integer not null,
  primary key (country, region, user_id),
  unique (country, region, ordinal)
);

-- One bitmap (bit i of byte i >> 3, least significant bit first, = user ordinal i) per UTC day,
-- scope and hour span [from_hour, to_hour) of that day: the whole day (0, 24), every prefix (0, h)
-- and every suffix (h, 24), h = 1..23. A range at hour boundaries reads, per day, the one span that
-- covers its part of that day, so a week is 8 bitmaps per scope: the first day's suffix, whole
-- days, the last day's prefix. Trailing zero bytes are left out (lengths differ; the API ORs them).
-- Written by the roll-up job in the transaction that rewrites the day's presence rows
-- (active_user_day), from those rows: a span whose hours are all clean (rolled, no mark since) is
-- exact, as the hour masks of migration 0041 are. Scope ('*', '*') has all 47 rows of every day
-- it computed (empty bitmaps included): their presence says the day's sets exist; a region with
-- no user in a span has no row.
create table user_set_day (
  bucket    timestamptz not null,
  country   text        not null,
  region    text        not null,
  from_hour smallint    not null,
  to_hour   smallint    not null,
  bits      bytea       not null,
  primary key (bucket, from_hour, to_hour, country, region)
);
alter table user_set_day set (autovacuum_analyze_scale_factor = 0.01,
  autovacuum_analyze_threshold = 5000, autovacuum_vacuum_scale_factor = 0.05,
  autovacuum_vacuum_threshold = 5000);
