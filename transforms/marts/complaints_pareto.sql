-- Pareto of complaints per month and category, with their handling and compensation cost.
-- Parameter: $hourly_cost_eur. Only the months in temp table rebuild_months are built.
with complaints as (
    select
        cast(date_trunc('month', day) as date) as month,
        coalesce(category, 'uncategorised') as category,
        handle_s,
        compensation_eur
    from staging.stg_cases
    where is_complaint
        and opened_at >= staging.day_start((select min(month) from rebuild_months))
        and opened_at < staging.day_start((select cast(max(month) + interval 1 month as date) from rebuild_months))
        and cast(date_trunc('month', day) as date) in (select month from rebuild_months)
),

by_category as (
    select
        month,
        category,
        count(*) as complaints,
        sum(handle_s) as handle_s,
        sum(handle_s) / 3600 * $hourly_cost_eur as handling_cost_eur,
        sum(compensation_eur) as compensation_eur
    from complaints
    group by month, category
),

ranked as (
    select
        *,
        sum(complaints) over (partition by month) as month_complaints,
        -- the month's cost from its exact sums (not a sum of rounded per-category costs)
        sum(handle_s) over (partition by month) / 3600 * $hourly_cost_eur
            + sum(compensation_eur) over (partition by month) as month_cost_eur,
        row_number() over (partition by month order by complaints desc, category asc) as rank
    from by_category
),

-- Shares are computed from integer counts (cumulative complaints / month's complaints), so that a
-- cumulative share of exactly 80 % is 0.8 and not 0.7999999.
cumulated as (
    select
        *,
        sum(complaints) over (partition by month order by rank rows between unbounded preceding and current row)
            as cumulative_complaints
    from ranked
),

final as (
    select
        month,
        category,
        complaints,
        complaints / month_complaints as share,
        cumulative_complaints / month_complaints as cumulative_share,
        cast(rank as integer) as rank,
        -- vital few: up to and including the first category where the cumulative share reaches 0.8,
        -- i.e. those whose preceding categories stay below 0.8
        (cumulative_complaints - complaints) * 10 < month_complaints * 8 as vital_few,
        handling_cost_eur,
        compensation_eur,
        handling_cost_eur + compensation_eur as cost_eur,
        (handling_cost_eur + compensation_eur) / nullif(month_cost_eur, 0) as cost_share
    from cumulated
)

select * from final
