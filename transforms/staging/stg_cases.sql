-- One row per case (written request or complaint): every case_id of a case event, with its lifecycle,
-- the span of its events (first_event_at, last_event_at) and its changes of state (state_events: the
-- instant of each case_resolved and case_reopened and whether the case is open after it, in time
-- order, a case_resolved first at equal instants; the backlog replays them).
-- The opening columns (channel ... opened_at, day) come from the first case_opened and are NULL while
-- none has arrived: such a case belongs to no cohort. first_reply_at is the first case_replied;
-- resolved_at the last case_resolved. A case is resolved (is_resolved) when that last case_resolved
-- is not followed by a case_reopened (a reopened case is open again until solved again). Durations
-- from opening are clamped at 0 (an event stamped before its case_opened by a skewed clock counts as
-- immediate). No customer_id: this table keeps no personal data (an erasure empties raw.*).
--
-- A table, incremental by case (the runner keeps it): only the cases in temp table rebuild_case_ids
-- are built, each from all its events, which lie between the first_event_at and last_event_at the
-- runner put there (their stored span widened by their new events). That range is sargable on
-- raw.touchpoints.occurred_at, so a build reads the row groups of those days, not the whole history.
with events as (
    select *
    from staging.stg_case_events
    where occurred_at >= (select min(first_event_at) from rebuild_case_ids)
        and occurred_at <= (select max(last_event_at) from rebuild_case_ids)
        and case_id in (select case_id from rebuild_case_ids)
),

-- the opening columns from the case_opened events only (NULL when there is none)
lifecycle as (
    select
        case_id,
        arg_min(channel, occurred_at) filter (where event_type = 'case_opened') as channel,
        arg_min(touchpoint, occurred_at) filter (where event_type = 'case_opened') as touchpoint,
        arg_min(segment, occurred_at) filter (where event_type = 'case_opened') as segment,
        arg_min(journey, occurred_at) filter (where event_type = 'case_opened') as journey,
        arg_min(reason, occurred_at) filter (where event_type = 'case_opened') as reason,
        arg_min(is_complaint, occurred_at) filter (where event_type = 'case_opened') as is_complaint,
        arg_min(category, occurred_at) filter (where event_type = 'case_opened') as category,
        min(occurred_at) filter (where event_type = 'case_opened') as opened_at,
        min(occurred_at) filter (where event_type = 'case_replied') as first_reply_at,
        max(occurred_at) filter (where event_type = 'case_resolved') as resolved_at,
        max(occurred_at) filter (where event_type = 'case_reopened') as last_reopened_at,
        count(*) filter (where event_type = 'case_reopened') as reopened_count,
        coalesce(sum(handle_s) filter (where event_type in ('case_replied', 'case_resolved')), 0) as handle_s,
        coalesce(sum(compensation_eur) filter (where event_type = 'case_resolved'), 0) as compensation_eur,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        -- sorted by instant, then open_after: a case_resolved before a case_reopened at equal instants
        list_sort(
            list({'occurred_at': occurred_at, 'open_after': case when event_type = 'case_reopened' then 1 else 0 end})
                filter (where event_type in ('case_resolved', 'case_reopened'))
        ) as state_events
    from events
    group by case_id
),

resolved as (
    select
        *,
        resolved_at is not null and (last_reopened_at is null or last_reopened_at < resolved_at) as is_resolved
    from lifecycle
),

final as (
    select
        case_id,
        channel,
        touchpoint,
        segment,
        journey,
        reason,
        is_complaint,
        category,
        opened_at,
        staging.local_day(opened_at) as day,
        first_reply_at,
        resolved_at,
        last_reopened_at,
        is_resolved,
        reopened_count,
        handle_s,
        compensation_eur,
        first_event_at,
        last_event_at,
        state_events,
        case when first_reply_at is not null
            then epoch(greatest(first_reply_at, opened_at) - opened_at) / 3600 end as first_reply_h,
        case when is_resolved then epoch(greatest(resolved_at, opened_at) - opened_at) / 3600 end
            as resolution_h
    from resolved
)

select * from final
