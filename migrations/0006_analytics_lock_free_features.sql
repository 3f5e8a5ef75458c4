-- Analytics performance (issues 4 and 5): user feature histograms merge inside the upsert, so a
-- flush never reads them first. The upsert's row lock on `user_features` (taken in user order) is
-- what serialises two flushes on the same user; no advisory lock, no read-modify-write.

-- {key: count} + {key: count}: the counts of `b` added to those of `a` (keys of `a` not in `b` kept).
-- Only `b`'s keys are visited: a flush adds a few keys to a histogram, the stored one may hold many.
create function jsonb_counts_add(a jsonb, b jsonb) returns jsonb
language sql immutable parallel safe as $$
  select a || coalesce((select jsonb_object_agg(k, coalesce((a ->> k)::bigint, 0) + v::bigint)
                        from jsonb_each_text(b) as x(k, v)), '{}'::jsonb)
$$;

-- The recommendations read a user's rows by `user_id` (the primary key's first column serves it);
-- this second index only cost one more insert per row on a hot table.
drop index user_hour_products_user;
