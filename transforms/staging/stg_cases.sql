-- One row per case (written request or complaint) that has a case_opened event, with its lifecycle.
-- opened_at is the first case_opened; first_reply_at the first case_replied; resolved_at the last
-- case_resolved. A case is resolved (is_resolved) when that last case_resolved is not followed by a
-- case_reopened (a reopened case is open again until solved again). Durations from opening are
-- clamped at 0 (an event stamped before its case_opened by a skewed clock counts as immediate).
with events as (
    select *
    from staging.stg_case_events
),

opened as (
    select
        case_id,
        arg_min(customer_id, occurred_at) as customer_id,
        arg_min(channel, occurred_at) as channel,
        arg_min(touchpoint, occurred_at) as touchpoint,
        arg_min(segment, occurred_at) as segment,
        arg_min(reason, occurred_at) as reason,
        arg_min(is_complaint, occurred_at) as is_complaint,
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
        max(occurred_at) filter (where event_type = 'case_resolved') as resolved_at,
        max(occurred_at) filter (where event_type = 'case_reopened') as last_reopened_at,
        count(*) filter (where event_type = 'case_reopened') as reopened_count,
        coalesce(sum(handle_s) filter (where event_type in ('case_replied', 'case_resolved')), 0) as handle_s,
        coalesce(sum(compensation_eur) filter (where event_type = 'case_resolved'), 0) as compensation_eur
    from events
    group by case_id
),

joined as (
    select
        opened.*,
        cast(opened.opened_at as date) as day,
        lifecycle.first_reply_at,
        lifecycle.resolved_at,
        lifecycle.last_reopened_at,
        lifecycle.resolved_at is not null
            and (lifecycle.last_reopened_at is null or lifecycle.last_reopened_at < lifecycle.resolved_at)
            as is_resolved,
        lifecycle.reopened_count,
        lifecycle.handle_s,
        lifecycle.compensation_eur
    from opened
    inner join lifecycle using (case_id)
),

final as (
    select
        *,
        case when first_reply_at is not null
            then epoch(greatest(first_reply_at, opened_at) - opened_at) / 3600 end as first_reply_h,
        case when is_resolved then epoch(greatest(resolved_at, opened_at) - opened_at) / 3600 end
            as resolution_h
    from joined
)

select * from final
