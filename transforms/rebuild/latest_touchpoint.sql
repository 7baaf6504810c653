-- max(occurred_at) of raw.touchpoints (fcr_final compares every day with it). The rows from the day
-- before the last changed day on hold it when there are any (a sargable range: the last row groups
-- only; a day earlier because a UTC dirty day reaches into the local day before its last one);
-- otherwise the second statement reads the whole table.
select max(occurred_at)
from raw.touchpoints
where occurred_at >= staging.day_start((select max(day) from changed_days) - 1);

select max(occurred_at) from raw.touchpoints;
