-- Which cases to rebuild, from temp table changed_days: those with an event on a changed day, and the
-- stored ones whose span covers a changed day (some of their events may have been deleted).

-- case events on a changed day (sargable range first: zone maps skip the other row groups)
create or replace temp table touched_case_events as
select case_id, day, occurred_at
from staging.stg_case_events
where occurred_at >= staging.day_start((select min(day) from changed_days))
    and occurred_at < staging.day_start((select max(day) from changed_days) + 1)
    and day in (select day from changed_days)
    and case_id is not null;

-- the stored rows of the cases whose span covers a changed day (a filter on two timestamps first)
create or replace temp table stored_cases as
select *
from staging.stg_cases as s
where s.last_event_at >= staging.day_start((select min(day) from changed_days))
    and s.first_event_at < staging.day_start((select max(day) from changed_days) + 1)
    and exists (
        select 1 from changed_days as c
        where c.day >= staging.local_day(s.first_event_at) and c.day <= staging.local_day(s.last_event_at)
    );

-- each case's range: its stored span (from its stored row, or from staging.stg_cases for a case
-- whose span covers no changed day) widened by its events on changed days
insert into rebuild_case_ids
with new_spans as (
    select case_id, min(occurred_at) as first_event_at, max(occurred_at) as last_event_at
    from touched_case_events
    group by case_id
),

stored_spans as (
    select case_id, first_event_at, last_event_at, day
    from stored_cases
    union all
    select case_id, first_event_at, last_event_at, day
    from staging.stg_cases
    where case_id in (select case_id from new_spans)
        and case_id not in (select case_id from stored_cases)
),

final as (
    select
        case_id,
        least(new_spans.first_event_at, stored_spans.first_event_at) as first_event_at,
        greatest(new_spans.last_event_at, stored_spans.last_event_at) as last_event_at,
        stored_spans.first_event_at as stored_first_event_at,
        stored_spans.last_event_at as stored_last_event_at,
        stored_spans.day as stored_day
    from new_spans
    full outer join stored_spans using (case_id)
)

select * from final;
