-- One row per journey step event (`journey_step` touchpoint: a digital or physical step of a journey),
-- typed, with its day in the reporting time zone. `touchpoint` is the step or page as the event names
-- it; marts.journey_steps maps it to the steps of transforms/journeys.yaml.
with steps as (
    select *
    from raw.touchpoints
    where event_type = 'journey_step'
),

final as (
    select
        event_id,
        customer_id,
        customer_key,
        occurred_at,
        staging.local_day(occurred_at) as day,
        channel,
        journey,
        touchpoint,
        segment,
        step_status,
        duration_s
    from steps
)

select * from final
