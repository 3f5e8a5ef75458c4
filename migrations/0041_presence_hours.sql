-- Serving (issue 15): the hours of the day in which a user was present, as a 24-bit mask on the day
-- presence row (bit h = hour h UTC). Distinct users over a range that covers part of a day then
-- read one row per user of that day (`hours & mask <> 0`) instead of one row per user and hour.
-- The roll-up job writes the mask with the day's rows; a marked hour is never in a mask the
-- planner asks for (its minutes are read instead), so the mask of a clean hour is exact.
alter table active_user_day add column hours integer not null default 0;

update active_user_day d set hours = h.hours
from (
  select date_bin('1 day', bucket, timestamptz 'epoch') as day, user_id, device_type, country,
         region, segment,
         bit_or(1 << extract(hour from bucket at time zone 'UTC')::int) as hours
  from active_user_hour group by 1, 2, 3, 4, 5, 6) h
where d.bucket = h.day and d.user_id = h.user_id and d.device_type = h.device_type
  and d.country = h.country and d.region = h.region and d.segment = h.segment;
