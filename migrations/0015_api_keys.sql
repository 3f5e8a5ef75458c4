-- API keys (issue 6): only SHA-256 hashes of keys are stored; a key is shown once, when created by
-- `deno task apikey create`. Revoked keys stay for the record.
create table api_keys (
  name       text        primary key check (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
  key_hash   text        not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  scopes     text[]      not null
             check (cardinality(scopes) > 0 and scopes <@ array['read', 'ingest', 'admin']::text[]),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
