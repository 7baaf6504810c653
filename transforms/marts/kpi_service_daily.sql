-- Customer-service KPIs of live contacts per day, channel and queue, with roll-ups to 'all'.
-- Parameters: $service_level_target_s, $fcr_window_h. Only the days in temp table rebuild_service_days
-- are built (the runner fills it: new days and the days whose repeat window reaches them).
with contacts as (
    select *
    from staging.stg_contacts
    where occurred_at >= (select min(day) from rebuild_service_days)
        and occurred_at < (select max(day) from rebuild_service_days) + 1
        and day in (select day from rebuild_service_days)
),

-- Anything that shows the customer came back for the same reason: another contact or a new case.
-- Only what can fall in a repeat window of the contacts above is read.
follow_ups as (
    select customer_id, reason, occurred_at
    from staging.stg_contacts
    where occurred_at > (select min(day) from rebuild_service_days)
        and occurred_at <= (select max(day) from rebuild_service_days) + 1
            + to_hours(cast($fcr_window_h as bigint))
    union all
    select customer_id, reason, occurred_at
    from staging.stg_case_events
    where event_type = 'case_opened'
        and occurred_at > (select min(day) from rebuild_service_days)
        and occurred_at <= (select max(day) from rebuild_service_days) + 1
            + to_hours(cast($fcr_window_h as bigint))
),

-- ASOF join: for each answered contact, the first follow-up strictly later (no correlated subquery).
next_follow_up as (
    select
        contacts.event_id,
        follow_ups.occurred_at as next_at
    from contacts
    asof left join follow_ups
        on contacts.customer_id = follow_ups.customer_id
        and contacts.reason = follow_ups.reason
        and follow_ups.occurred_at > contacts.occurred_at
    where contacts.outcome = 'answered'
),

flagged as (
    select
        contacts.*,
        next_follow_up.next_at is not null
            and next_follow_up.next_at <= contacts.occurred_at + to_hours(cast($fcr_window_h as bigint))
            as is_repeated
    from contacts
    left join next_follow_up using (event_id)
),

aggregated as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        case when grouping(queue) = 1 then 'all' else queue end as queue,
        count(*) as offered,
        count(*) filter (where outcome = 'answered') as answered,
        count(*) filter (where outcome = 'abandoned') as abandoned,
        count(*) filter (where outcome = 'answered' and wait_s <= $service_level_target_s) as answered_in_target,
        count(*) filter (where outcome = 'answered' and is_repeated) as repeated,
        sum(wait_s) filter (where outcome = 'answered') as answered_wait_s_sum,
        sum(handle_s) filter (where outcome = 'answered') as handle_s_sum
    from flagged
    group by grouping sets ((day, channel, queue), (day, channel), (day))
),

final as (
    select
        day,
        channel,
        queue,
        offered,
        answered,
        abandoned,
        answered / offered as answer_rate,
        abandoned / offered as abandon_rate,
        answered_in_target / offered as service_level,
        answered_wait_s_sum / nullif(answered, 0) as asa_s,
        handle_s_sum / nullif(answered, 0) as aht_s,
        1 - repeated / nullif(answered, 0) as fcr_rate,
        false as fcr_final,
        answered_in_target,
        repeated,
        answered_wait_s_sum,
        handle_s_sum,
        cast($service_level_target_s as integer) as service_level_target_s
    from aggregated
)

select * from final
