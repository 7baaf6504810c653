-- One row per case lifecycle event (case_opened, case_replied, case_resolved, case_reopened), with its
-- day in the reporting time zone. The base of stg_cases and of the backlog; marts filter it by day or case_id before
-- aggregating, so an incremental build reads the cases it rebuilds, not the whole history.
with events as (
    select *
    from raw.touchpoints
    where event_type in ('case_opened', 'case_replied', 'case_resolved', 'case_reopened')
),

final as (
    select
        event_id,
        event_type,
        case_id,
        customer_id,
        customer_key,
        occurred_at,
        staging.local_day(occurred_at) as day,
        channel,
        touchpoint,
        segment,
        journey,
        reason,
        coalesce(is_complaint, false) as is_complaint,
        category,
        handle_s,
        coalesce(compensation_eur, 0) as compensation_eur
    from events
)

select * from final
