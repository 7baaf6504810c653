-- A full build: every local day with an event. The events are grouped by hour of UTC time first
-- (integer arithmetic), keeping each hour's first and last instant: an hour is shorter than any local
-- day, so an hour's events fall on at most two local days, those of its first and last instant
-- (local_day never decreases with time). The zone conversion runs on two instants per hour instead
-- of on every event.
create or replace temp table changed_days as
with hours as (
    select min(occurred_at) as first_at, max(occurred_at) as last_at
    from raw.touchpoints
    group by epoch_us(occurred_at) // 3600000000
    union all
    select min(occurred_at), max(occurred_at)
    from raw.surveys
    group by epoch_us(occurred_at) // 3600000000
)

select distinct staging.local_day(first_at) as day from hours
union
select distinct staging.local_day(last_at) from hours;
