-- Customer-service KPIs of live contacts per day, channel and queue, with roll-ups to 'all'.
-- Parameters: $service_level_target_s, $fcr_window_h. Only the days in temp table rebuild_service_days
-- are built (the runner fills it: new days and the days whose repeat window reaches them).
-- Every event that can show a customer came back for the same reason (another contact, a new case)
-- and falls in a repeat window of a rebuilt contact: from the first rebuilt day to fcr_window_h after
-- the last one (a sargable range). The contacts carry what the measures need along (is_contact;
-- the outcome as flags, the answered contacts' wait and handling), so that they are aggregated
-- straight from the window below, without joining back. The customer's integer customer_key partitions
-- the window (cheaper to sort than the id).
-- the range as one row joined once (a scalar subquery per bound was a join each over every event)
with follow_up_range as (
    select
        staging.day_start(min(day)) as range_start,
        staging.day_start(max(day) + 1) + to_hours(cast($fcr_window_h as bigint)) as range_end
    from rebuild_service_days
),

follow_ups as (
    select
        customer_key, reason, occurred_at,
        day, channel, queue,
        outcome = 'answered' as is_answered,
        outcome = 'abandoned' as is_abandoned,
        case when outcome = 'answered' then wait_s end as answered_wait_s,
        case when outcome = 'answered' then handle_s end as answered_handle_s,
        true as is_contact
    from staging.stg_contacts, follow_up_range
    where occurred_at >= range_start and occurred_at <= range_end
    union all
    select
        customer_key, reason, occurred_at,
        null, null, null, null, null, null, null, false as is_contact
    from staging.stg_case_events, follow_up_range
    where event_type = 'case_opened' and occurred_at >= range_start and occurred_at <= range_end
),

-- For each event, the next event of the same customer and reason (lead: one sort per (customer_key,
-- reason); a frame counting the events in the window cost ~1 CPU s more at 10M events): when it is
-- strictly later, the contact is repeated if it comes at most fcr_window_h after. A (customer_key, reason)
-- with a next event at the same instant is flagged exactly below instead (the next strictly later event
-- may come after it).
later_events as materialized (
    select
        *,
        lead(occurred_at) over by_customer as next_at
    from follow_ups
    window by_customer as (partition by customer_key, reason order by occurred_at)
),

inexact_keys as (
    select distinct customer_key, reason from later_events where next_at = occurred_at
),

inexact_events as materialized (
    select *
    from later_events as e
    where exists (
        select 1 from inexact_keys as k where k.customer_key = e.customer_key and k.reason is not distinct from e.reason
    )
),

-- the contacts (of the rebuilt days and of the window after them: the days not rebuilt are dropped
-- once aggregated)
flagged as (
    select *, coalesce(next_at <= occurred_at + to_hours(cast($fcr_window_h as bigint)), false) as is_repeated
    from later_events as e
    where is_contact and not exists (
        select 1 from inexact_keys as k where k.customer_key = e.customer_key and k.reason is not distinct from e.reason
    )
    union all
    select
        *,
        exists (
            select 1
            from inexact_events as later
            where later.customer_key = contact.customer_key
                and later.reason is not distinct from contact.reason
                and later.occurred_at > contact.occurred_at
                and later.occurred_at <= contact.occurred_at + to_hours(cast($fcr_window_h as bigint))
        ) as is_repeated
    from inexact_events as contact
    where contact.is_contact
),

aggregated as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        case when grouping(queue) = 1 then 'all' else queue end as queue,
        count(*) as offered,
        count(*) filter (where is_answered) as answered,
        count(*) filter (where is_abandoned) as abandoned,
        count(*) filter (where answered_wait_s <= $service_level_target_s) as answered_in_target,
        count(*) filter (where is_answered and is_repeated) as repeated,
        sum(answered_wait_s) as answered_wait_s_sum,
        sum(answered_handle_s) as handle_s_sum
    from flagged
    group by grouping sets ((day, channel, queue), (day, channel), (day))
    having day in (select day from rebuild_service_days)
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
