-- The local days an incremental build rebuilds: those overlapped by the UTC days that the loader and
-- erasures recorded in ops.dirty_days (in UTC a UTC day is one local day; elsewhere it overlaps two).
create or replace temp table changed_days as
select distinct staging.local_day(timezone('UTC', cast(day as timestamp))) as day
from ops.dirty_days
union
select distinct staging.local_day(timezone('UTC', cast(day + 1 as timestamp)) - interval 1 microsecond)
from ops.dirty_days;
