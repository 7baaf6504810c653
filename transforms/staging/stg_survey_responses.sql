-- One row per survey response, typed, with its day in the reporting time zone and what each score
-- counts as. The score thresholds are defined here and only here (docs/design.md): NPS promoters 9-10,
-- passives 7-8, detractors 0-6; CSAT satisfied 4-5 (top-2 box); CES easy 5-7; negative emotions
-- sadness, fear, anger, disgust. The marts and the drift monitors count these flags (NULL when the
-- score is missing).
with responses as (
    select *
    from raw.surveys
),

final as (
    select
        response_id,
        customer_id,
        customer_key,
        occurred_at,
        staging.local_day(occurred_at) as day,
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
        language,
        nps >= 9 as is_promoter,
        nps between 7 and 8 as is_passive,
        nps <= 6 as is_detractor,
        csat >= 4 as is_satisfied,
        ces >= 5 as is_easy,
        emotion in ('sadness', 'fear', 'anger', 'disgust') as is_negative_emotion
    from responses
)

select * from final
