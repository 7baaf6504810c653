-- What an incremental build keeps from the rows of kpi_cases_daily it is about to replace, and the stored
-- rows of journey_steps it reads instead of recomputing them.

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

-- journey_steps: the step counts of the baseline periods of its rupture test (the baseline_weeks /
-- baseline_months before each rebuilt period) that are not rebuilt. No change reaches them (else they
-- would be rebuilt: mart_scopes.sql), so their stored rows are what a full build computes: read, not
-- recomputed from months of events.
create or replace temp table kept_journey_baselines as
with first_rebuilt as (
    select period_type, min(period_start) as period_start from rebuild_journey_periods group by period_type
)

select s.period_type, s.period_start, s.journey, s.step, s.entered, s.continued, s.pending, s.failed
from marts.journey_steps as s
inner join first_rebuilt as f using (period_type)
cross join journey_settings as j
where s.period_start >= case s.period_type
        when 'week' then f.period_start - to_days(7 * j.baseline_weeks)
        else f.period_start - to_months(j.baseline_months)
    end
    and (s.period_type, s.period_start) not in (select (period_type, period_start) from rebuild_journey_periods);
