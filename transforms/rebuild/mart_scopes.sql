-- The rebuild scope of each mart (the `rebuild: scope` of its schema.yaml entry), from temp tables
-- changed_days (the changed local days, or every day when full), changed_case_ids and rebuilt_cases
-- (their new rows), once staging.stg_cases holds them. A mart deletes the slices its scope lists
-- (rows whose `rebuild: key` columns match) and inserts them again.

-- kpi_service_daily: the changed days and every day with a contact whose repeat window
-- ($fcr_window_h, a duration) reaches the start of a changed day. Counted back in local days from the
-- instant that window opens, so a 23-hour DST day is covered. ($window_days bounds the range.)
create or replace temp table rebuild_service_days as
select distinct cast(changed_days.day - cast(back.k as integer) as date) as day
from changed_days, range(0, $window_days + 2) as back(k)
where changed_days.day - cast(back.k as integer)
    >= staging.local_day(staging.day_start(changed_days.day) - to_hours(cast($fcr_window_h as bigint)));

create or replace temp table rebuild_experience_days as select day from changed_days;

-- the cohort days of the changed cases, before (a case can leave a cohort) and after
create or replace temp table touched_case_days as
select stored_day as day from changed_case_ids where stored_day is not null
union
select day
from rebuilt_cases
where day is not null and case_id in (select case_id from changed_case_ids);

-- kpi_cases_daily: the backlog changes from the first changed day within the span (stored or new)
-- of a changed case on: an event of it was added or deleted there
create or replace temp table rebuild_case_days as
with backlog_start as (
    select min(c.day) as day
    from changed_case_ids as r
    asof inner join changed_days as c on c.day >= staging.local_day(r.first_event_at)
    where c.day <= staging.local_day(r.last_event_at)
)

select day from changed_days
union
select day from touched_case_days
union
select day
from staging.stg_cases
where opened_at >= staging.day_start((select day from backlog_start));

-- complaints_pareto: the months of the opening days of the changed cases
create or replace temp table rebuild_months as
select distinct cast(date_trunc('month', day) as date) as month from touched_case_days;

-- progress_dashboard: the ISO weeks and months of every day rebuilt above, and the period after each
-- (its previous_value and delta follow)
create or replace temp table rebuild_periods as
with days as (
    select day from rebuild_service_days
    union select day from rebuild_experience_days
    union select day from touched_case_days
),

periods as (
    select distinct 'week' as period_type, cast(date_trunc('week', day) as date) as period_start from days
    union
    select distinct 'month', cast(date_trunc('month', day) as date) from days
)

select period_type, period_start from periods
union
select period_type, cast(case period_type
        when 'week' then period_start + interval 7 day
        else period_start + interval 1 month
    end as date)
from periods;

-- experience_economics: the months of every changed day (contacts, surveys and journey steps count in
-- the month they happen) and the opening months of the changed cases (a case's handling and
-- compensation count in the month it was opened, as in complaints_pareto)
create or replace temp table rebuild_economics_months as
select distinct cast(date_trunc('month', day) as date) as month
from (select day from changed_days union select day from touched_case_days);

-- drivers: the periods above (their days reach back over the FCR window of the contacts that answers
-- follow, and the period after each covers the answer window, at most 168 h), and the periods of the
-- answers linked to a changed case (whether it is a complaint may have changed)
create or replace temp table rebuild_driver_periods as
with linked_days as (
    select distinct day
    from staging.stg_survey_responses
    where case_id in (select case_id from changed_case_ids)
)

select period_type, period_start from rebuild_periods
union
select 'week', cast(date_trunc('week', day) as date) from linked_days
union
select 'month', cast(date_trunc('month', day) as date) from linked_days;

-- journey_steps: a step's row depends on the events of its journey (followed for at most max_span_h,
-- steps at most max_gap_h apart) and on the answers and channel switches up to survey_window_h /
-- switch_window_h after them (temp table journey_settings, transforms/journeys.yaml). So a changed day
-- reaches the ISO weeks and months of the days within `reach` days around it, and, as a period's
-- rupture compares it with the baseline_weeks / baseline_months before it, the periods after those.
create or replace temp table rebuild_journey_periods as
with reach as (
    select
        cast(ceil((max_span_h + greatest((select max(max_gap_h) from journey_map), survey_window_h, switch_window_h))
            / 24.0) as integer) + 1 as days,
        baseline_weeks,
        baseline_months
    from journey_settings
),

periods as (
    select distinct
        'week' as period_type,
        cast(unnest(generate_series(
            date_trunc('week', c.day - r.days), date_trunc('week', c.day + r.days) + to_days(7 * r.baseline_weeks),
            interval 7 day
        )) as date) as period_start
    from changed_days as c, reach as r
    union
    select distinct
        'month',
        cast(unnest(generate_series(
            date_trunc('month', c.day - r.days), date_trunc('month', c.day + r.days) + to_months(r.baseline_months),
            interval 1 month
        )) as date)
    from changed_days as c, reach as r
)

select period_type, period_start from periods;
