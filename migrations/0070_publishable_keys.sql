-- Publishable keys (issue 17): ingest-only keys that web pages embed, each bound to the origins
-- (scheme://host[:port]) it may be used from. `origins` is null for a secret key; a publishable key
-- has at least one origin and exactly the `ingest` scope, so a leaked page key can only send events,
-- and only where a browser says it is on a listed site.
alter table api_keys add column origins text[];
alter table api_keys add constraint api_keys_publishable_check check (
  origins is null or (
    scopes = array['ingest']::text[]
    and cardinality(origins) between 1 and 100
    and array_position(origins, null) is null
  )
);
