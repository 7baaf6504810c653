-- Written requests and complaints per day of opening (the cohort) and channel, roll-up channel 'all'.
-- Only the days in temp table rebuild_case_days are built (the runner fills it).
with cases as (
    select *
    from staging.stg_cases
    where opened_at >= staging.day_start((select min(day) from rebuild_case_days))
        and opened_at < staging.day_start((select max(day) from rebuild_case_days) + 1)
        and day in (select day from rebuild_case_days)
),

cohorts as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        count(*) as opened,
        count(*) filter (where is_complaint) as complaints,
        count(*) filter (where is_resolved) as resolved,
        count(*) filter (where reopened_count > 0) as reopened,
        quantile_cont(first_reply_h, 0.5) as first_reply_p50_h,
        quantile_cont(first_reply_h, 0.9) as first_reply_p90_h,
        quantile_cont(resolution_h, 0.5) as resolution_p50_h,
        quantile_cont(resolution_h, 0.9) as resolution_p90_h,
        count(first_reply_h) as replied,
        count(first_reply_h) filter (where is_complaint) as complaints_replied,
        count(*) filter (where is_complaint and is_resolved) as complaints_resolved,
        quantile_cont(first_reply_h, 0.5) filter (where is_complaint) as complaint_first_reply_p50_h,
        quantile_cont(first_reply_h, 0.9) filter (where is_complaint) as complaint_first_reply_p90_h,
        quantile_cont(resolution_h, 0.5) filter (where is_complaint) as complaint_resolution_p50_h,
        quantile_cont(resolution_h, 0.9) filter (where is_complaint) as complaint_resolution_p90_h
    from cases
    group by grouping sets ((day, channel), (day))
),

-- Backlog: every case is a sequence of states (open at case_opened, resolved at each case_resolved,
-- open again at each case_reopened). Each change of state is +1 / -1 on the day it happens; the
-- backlog at the end of day D is the running sum of the changes up to D (all cohorts), per channel
-- of the case. The sum starts from temp table backlog_anchors: per channel, the last cohort day
-- kept from the previous build before the first rebuilt day, and its backlog (the runner leaves it
-- empty in a full build). New events only change states from the first rebuilt day on, so only the
-- cases with an event since the earliest anchor are read, not the whole history; their changes of
-- state come from stg_cases.state_events.
since as (
    select least(
        (select min(day) from rebuild_case_days),
        (select min(anchor_day) + 1 from backlog_anchors)
    ) as first_day
),

case_list as (
    select case_id, channel, opened_at, state_events
    from staging.stg_cases
    where last_event_at >= staging.day_start((select first_day from since))
        and opened_at is not null
),

changes_of_state as (
    select case_id, channel, opened_at, unnest(state_events) as state_event
    from case_list
),

state_events as (
    select case_id, channel, opened_at as effective_at, 0 as kind, opened_at as occurred_at, 1 as open_after
    from case_list
    union all
    select
        case_id,
        channel,
        greatest(state_event.occurred_at, opened_at) as effective_at,
        1 as kind,
        state_event.occurred_at,
        state_event.open_after
    from changes_of_state
),

-- At equal instants a case_reopened follows the case_resolved (as stg_cases.is_resolved decides).
-- Events equal in all of the order below are interchangeable: the changes do not depend on their order.
state_changes as (
    select
        channel,
        staging.local_day(effective_at) as day,
        open_after - coalesce(
            lag(open_after) over (partition by case_id order by effective_at, kind, occurred_at, open_after),
            0
        ) as change
    from state_events
),

daily_changes as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        sum(change) as change
    from state_changes
    where day >= (select first_day from since)
    group by grouping sets ((day, channel), (day))
),

backlog as (
    select
        daily_changes.day,
        daily_changes.channel,
        coalesce(backlog_anchors.anchor_backlog, 0) + sum(daily_changes.change) over (
            partition by daily_changes.channel
            order by daily_changes.day
            rows between unbounded preceding and current row
        ) as backlog_end_of_day
    from daily_changes
    left join backlog_anchors using (channel)
    where daily_changes.day > coalesce(backlog_anchors.anchor_day, date '0001-01-01')
),

-- Active customers count the touchpoints of their day only: a rebuilt day that did not change keeps
-- its counts (temp table kept_active_customers, filled by the runner before the delete); the other
-- days (a changed day, or one with a row that has no kept count) are counted from raw.touchpoints.
recount_days as (
    select distinct cohorts.day
    from cohorts
    left join kept_active_customers as kept using (day, channel)
    where kept.day is null
),

-- A customer counts once in their day and once in each channel of a case they touched that day. One
-- aggregation by day and customer (not one per grouping set, each over every touchpoint) keeps their
-- case channels of the day as bits; the few distinct sets of channels are then counted per day and
-- expanded to their channels.
case_channels as (
    select
        channel,
        -- an error rather than a wrong count past the 63 bits of a bigint
        case when rank <= 63 then cast(rank - 1 as integer) else error('more than 63 case channels') end as bit
    from (
        select channel, row_number() over (order by channel) as rank
        from (select distinct channel from cases where channel is not null)
    )
),

-- the range and the list of channels in one row, joined once (two scalar subqueries and a third for
-- the list would each be a join over every touchpoint)
touchpoints as (
    select
        staging.local_day(t.occurred_at) as day,
        t.customer_key,
        coalesce(cast(1 as bigint) << (list_position(r.channels, t.channel) - 1), 0) as channel_bit
    from raw.touchpoints as t,
        (
            select
                staging.day_start(min(day)) as range_start,
                staging.day_start(max(day) + 1) as range_end,
                (select list(channel order by bit) from case_channels) as channels
            from recount_days
        ) as r
    where t.occurred_at >= r.range_start and t.occurred_at < r.range_end
),

customer_days as (
    select day, bit_or(channel_bit) as channels
    from touchpoints
    group by day, customer_key
),

channel_sets as (
    select day, channels, count(*) as customers
    from customer_days
    group by day, channels
),

-- counted per day of the range, then kept for the days to count (a filter on a few aggregated rows)
counted_customers as (
    select day, 'all' as channel, cast(sum(customers) as bigint) as active_customers
    from channel_sets
    group by day
    union all
    select channel_sets.day, case_channels.channel, cast(sum(channel_sets.customers) as bigint)
    from channel_sets
    inner join case_channels on (channel_sets.channels >> case_channels.bit) & 1 = 1
    group by channel_sets.day, case_channels.channel
),

active_customers as (
    select day, channel, active_customers
    from kept_active_customers
    where day not in (select day from recount_days)
    union all
    select day, channel, active_customers
    from counted_customers
    where day in (select day from recount_days)
),

final as (
    select
        cohorts.day,
        cohorts.channel,
        cohorts.opened,
        cohorts.complaints,
        cohorts.resolved,
        cohorts.reopened,
        cohorts.first_reply_p50_h,
        cohorts.first_reply_p90_h,
        cohorts.resolution_p50_h,
        cohorts.resolution_p90_h,
        cast(backlog.backlog_end_of_day as bigint) as backlog_end_of_day,
        cohorts.complaints / active_customers.active_customers as complaint_rate,
        active_customers.active_customers,
        cohorts.replied,
        cohorts.complaints_replied,
        cohorts.complaints_resolved,
        cohorts.complaint_first_reply_p50_h,
        cohorts.complaint_first_reply_p90_h,
        cohorts.complaint_resolution_p50_h,
        cohorts.complaint_resolution_p90_h
    from cohorts
    left join backlog using (day, channel)
    left join active_customers using (day, channel)
)

select * from final
