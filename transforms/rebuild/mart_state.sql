-- What an incremental build of kpi_cases_daily keeps from the rows it is about to replace.

-- Where the running backlog restarts: per channel, the last kept cohort day before the first rebuilt
-- one (its backlog is final: new events change states from the first rebuilt day on).
create or replace temp table backlog_anchors as
select channel, max(day) as anchor_day, arg_max(backlog_end_of_day, day) as anchor_backlog
from marts.kpi_cases_daily
where day < (select min(day) from rebuild_case_days)
group by channel;

-- The active customers of the rebuilt cohort days that did not change (they count the touchpoints
-- of their day only): kept, not counted again from raw.touchpoints.
create or replace temp table kept_active_customers as
select day, channel, active_customers
from marts.kpi_cases_daily
where day in (select day from rebuild_case_days) and day not in (select day from changed_days);
