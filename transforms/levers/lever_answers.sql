-- The answers of marts.drivers: each survey answer with an NPS or a CSAT in the periods of temp table
-- rebuild_driver_periods (its ISO week or its month). Built as temp table lever_answers by
-- transforms/drivers.py, read by answer_touchpoints.sql and answer_levers.sql.
with answers as (
    select *
    from staging.stg_survey_responses
    where occurred_at >= staging.day_start((select min(period_start) from rebuild_driver_periods))
        and occurred_at < staging.day_start((select max(period_start) from rebuild_driver_periods) + 31)
        and (nps is not null or csat is not null)
        and (
            cast(date_trunc('week', day) as date) in (select period_start from rebuild_driver_periods where period_type = 'week')
            or cast(date_trunc('month', day) as date) in (
                select period_start from rebuild_driver_periods where period_type = 'month'
            )
        )
),

final as (
    select
        response_id, customer_key, occurred_at, day, channel, segment, contact_id, case_id, nps, csat, ces,
        expected, is_easy
    from answers
)

select * from final
