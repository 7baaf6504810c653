-- One row per survey response, typed, with its UTC day.
with responses as (
    select *
    from raw.surveys
),

final as (
    select
        response_id,
        customer_id,
        occurred_at,
        cast(occurred_at as date) as day,
        channel,
        touchpoint,
        segment,
        journey,
        survey,
        contact_id,
        case_id,
        nps,
        csat,
        ces,
        expected,
        emotion,
        verbatim,
        language
    from responses
)

select * from final
