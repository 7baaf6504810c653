-- Written requests and complaints per day of opening (cohort) and channel, with a roll-up to 'all'.
with cases as (
    select *
    from staging.stg_cases
),

cohorts as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        count(*) as opened,
        count(*) filter (where is_complaint) as complaints,
        count(*) filter (where resolved_at is not null) as resolved,
        count(*) filter (where reopened_count > 0) as reopened,
        quantile_cont(epoch(first_reply_at - opened_at) / 3600, 0.5) as first_reply_p50_h,
        quantile_cont(epoch(first_reply_at - opened_at) / 3600, 0.9) as first_reply_p90_h,
        quantile_cont(epoch(resolved_at - opened_at) / 3600, 0.5) as resolution_p50_h,
        quantile_cont(epoch(resolved_at - opened_at) / 3600, 0.9) as resolution_p90_h
    from cases
    group by grouping sets ((day, channel), (day))
),

-- Backlog at the end of day D = opened up to D minus resolved up to D (all cohorts).
movements as (
    select day, channel, 1 as opened, 0 as closed from cases
    union all
    select cast(greatest(resolved_at, opened_at) as date), channel, 0, 1 from cases where resolved_at is not null
),

daily_movements as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        sum(opened) as opened,
        sum(closed) as closed
    from movements
    group by grouping sets ((day, channel), (day))
),

backlog as (
    select
        day,
        channel,
        sum(opened - closed) over (partition by channel order by day) as backlog_end_of_day
    from daily_movements
),

active_customers as (
    select
        cast(occurred_at as date) as day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        count(distinct customer_id) as active_customers
    from raw.touchpoints
    group by grouping sets ((cast(occurred_at as date), channel), (cast(occurred_at as date)))
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
        cohorts.complaints / nullif(active_customers.active_customers, 0) as complaint_rate,
        active_customers.active_customers
    from cohorts
    left join backlog using (day, channel)
    left join active_customers using (day, channel)
)

select * from final
