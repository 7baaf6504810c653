-- The reporting calendar (docs/design.md, "KPI conventions"): every mart's day, ISO week and month is a
-- calendar period of the zone of config reporting_timezone, DST included (a day may last 23 or 25
-- hours); timestamps stay stored in UTC. Every model converts through these two macros, so the zone
-- is applied in one place; staging.reporting_timezone() is created before them by the runner
-- (transforms/calendar.py) from the validated zone name.

-- the local date of an instant (timestamptz)
create or replace macro staging.local_day(ts) as cast(timezone(staging.reporting_timezone(), ts) as date);

-- the instant (timestamptz) a local date starts at: its local midnight
create or replace macro staging.day_start(d) as timezone(staging.reporting_timezone(), cast(d as timestamp));
