-- Analytics performance (issues 4 and 5): every raw event wrote four index entries; two of them
-- served no query. Per-user and per-session reads go to `sessions`, `user_features` and the other
-- aggregates the consumer maintains, never to raw `events` by user or client session id. Dropping
-- them cut the PostgreSQL CPU of a 5,000-event flush without analytics by about a quarter (README,
-- "Analytics" → "Performance"). Kept: the primary key (idempotent inserts, event status) and
-- `events_purchase_product` (inventory recount). Should a read by user ever be needed on raw
-- events, add the index back for that read (on a large table: `create index concurrently` per
-- partition, then attach).
drop index events_session;
drop index events_user_time;
