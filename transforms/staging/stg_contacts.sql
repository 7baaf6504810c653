-- One row per live contact (call, chat, callback) offered, typed, with its day (in the reporting
-- time zone: transforms/macros/calendar.sql).
with contacts as (
    select *
    from raw.touchpoints
    where event_type = 'contact'
),

final as (
    select
        event_id,
        contact_id,
        customer_id,
        customer_key,
        occurred_at,
        staging.local_day(occurred_at) as day,
        channel,
        touchpoint as queue,
        segment,
        journey,
        outcome,
        wait_s,
        talk_s,
        hold_s,
        acw_s,
        case when outcome = 'answered' then talk_s + hold_s + acw_s end as handle_s,
        reason,
        agent_id
    from contacts
)

select * from final
