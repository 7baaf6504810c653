-- Pareto of complaints per month and category, with their handling and compensation cost.
-- Parameter: $hourly_cost_eur.
with complaints as (
    select
        cast(date_trunc('month', opened_at) as date) as month,
        category,
        handle_s,
        compensation_eur
    from staging.stg_cases
    where is_complaint
),

by_category as (
    select
        month,
        category,
        count(*) as complaints,
        sum(handle_s) / 3600 * $hourly_cost_eur as handling_cost_eur,
        sum(compensation_eur) as compensation_eur
    from complaints
    group by month, category
),

ranked as (
    select
        *,
        complaints / sum(complaints) over (partition by month) as share,
        row_number() over (partition by month order by complaints desc, category asc) as rank
    from by_category
),

cumulated as (
    select
        *,
        sum(share) over (partition by month order by rank rows between unbounded preceding and current row)
            as cumulative_share
    from ranked
),

-- Vital few: every category up to and including the first one whose cumulative share reaches 80 %.
-- Shares are summed in integer counts to avoid a 0.79999 that should be 0.8.
cut as (
    select
        *,
        sum(complaints) over (partition by month order by rank rows between unbounded preceding and 1 preceding)
            as complaints_before,
        sum(complaints) over (partition by month) as month_complaints
    from cumulated
),

final as (
    select
        month,
        category,
        complaints,
        share,
        cumulative_share,
        cast(rank as integer) as rank,
        coalesce(complaints_before, 0) * 10 < month_complaints * 8 as vital_few,
        handling_cost_eur,
        compensation_eur,
        handling_cost_eur + compensation_eur as cost_eur,
        (handling_cost_eur + compensation_eur)
            / nullif(sum(handling_cost_eur + compensation_eur) over (partition by month), 0) as cost_share
    from cut
)

select * from final
