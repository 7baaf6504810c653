-- One row per case (written request or complaint) with its lifecycle timings.
-- A case counts as resolved when its last case_resolved is not followed by a case_reopened.
with events as (
    select *
    from raw.touchpoints
    where event_type in ('case_opened', 'case_replied', 'case_resolved', 'case_reopened')
),

opened as (
    select
        case_id,
        arg_min(customer_id, occurred_at) as customer_id,
        arg_min(channel, occurred_at) as channel,
        arg_min(touchpoint, occurred_at) as touchpoint,
        arg_min(segment, occurred_at) as segment,
        arg_min(reason, occurred_at) as reason,
        arg_min(coalesce(is_complaint, false), occurred_at) as is_complaint,
        arg_min(category, occurred_at) as category,
        min(occurred_at) as opened_at
    from events
    where event_type = 'case_opened'
    group by case_id
),

lifecycle as (
    select
        case_id,
        min(occurred_at) filter (where event_type = 'case_replied') as first_reply_at,
        max(occurred_at) filter (where event_type = 'case_resolved') as last_resolved_at,
        max(occurred_at) filter (where event_type = 'case_reopened') as last_reopened_at,
        count(*) filter (where event_type = 'case_reopened') as reopened_count,
        coalesce(sum(handle_s) filter (where event_type in ('case_replied', 'case_resolved')), 0)
            as handle_s,
        coalesce(sum(compensation_eur) filter (where event_type = 'case_resolved'), 0) as compensation_eur
    from events
    group by case_id
),

final as (
    select
        opened.*,
        cast(opened.opened_at as date) as day,
        lifecycle.first_reply_at,
        case
            when lifecycle.last_resolved_at is not null
                and (lifecycle.last_reopened_at is null or lifecycle.last_reopened_at < lifecycle.last_resolved_at)
                then lifecycle.last_resolved_at
        end as resolved_at,
        coalesce(lifecycle.reopened_count, 0) as reopened_count,
        coalesce(lifecycle.handle_s, 0) as handle_s,
        coalesce(lifecycle.compensation_eur, 0) as compensation_eur
    from opened
    left join lifecycle using (case_id)
)

select * from final
