-- The reporting calendar (docs/design.md, "KPI conventions"): every mart's day, ISO week and month is a
-- calendar period of the zone of config reporting_timezone, DST included (a day may last 23 or 25
-- hours); timestamps stay stored in UTC. Every model converts through two macros, so the zone is
-- applied in one place: staging.local_day(ts), the local date of an instant, which transforms/calendar.py
-- writes for the zone (integer arithmetic with the zone's offsets, the cost of ICU's conversion on every
-- event being a tenth of a build), and this one; staging.reporting_timezone() is created before them by
-- the runner from the validated zone name.

-- the instant (timestamptz) a local date starts at: its local midnight
create or replace macro staging.day_start(d) as timezone(staging.reporting_timezone(), cast(d as timestamp));
