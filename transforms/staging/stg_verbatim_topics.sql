-- One row per (survey answer, topic its verbatim mentions), with the answer's day, channel, scores and
-- the sentiment of the verbatim (staging.verbatim_analysis, written by the analysis step of the build:
-- transforms/verbatims/). Answers whose verbatim mentions no topic of the taxonomy have no row.
with analysed as (
    select
        response_id,
        language,
        sentiment_score,
        sentiment,
        model_version,
        unnest(topics) as topic
    from staging.verbatim_analysis
),

final as (
    select
        r.response_id,
        r.customer_id,
        r.occurred_at,
        r.day,
        r.channel,
        r.touchpoint,
        a.language,
        a.topic,
        a.sentiment_score,
        a.sentiment,
        a.sentiment = 'negative' as is_negative,
        r.nps,
        r.is_promoter,
        r.is_detractor,
        a.model_version
    from analysed as a
    inner join staging.stg_survey_responses as r on r.response_id = a.response_id
)

select * from final
