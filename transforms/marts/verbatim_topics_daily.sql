-- What customers write about, per day (of the reporting time zone), channel, topic and language of the
-- verbatim, with roll-ups 'all' for channel and language: how many answers mention the topic, how
-- negative they are, and the NPS of those answers. Only the days in temp table
-- rebuild_experience_days are built. Topic labels come from the taxonomy (temp table
-- verbatim_taxonomy, transforms/verbatims/taxonomy.yaml).
with mentions as (
    select *
    from staging.stg_verbatim_topics
    where occurred_at >= staging.day_start((select min(day) from rebuild_experience_days))
        and occurred_at < staging.day_start((select max(day) from rebuild_experience_days) + 1)
        and day in (select day from rebuild_experience_days)
),

aggregated as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        topic,
        case when grouping(language) = 1 then 'all' else language end as language,
        count(*) as mentions,
        -- a sum of whole numbers: exact whatever order the answers are added in (incremental = full)
        sum(cast(round(sentiment_score * 10000) as bigint)) / 10000.0 / count(*) as sentiment_mean,
        count(*) filter (where is_negative) as negatives,
        count(nps) as nps_n,
        count(*) filter (where is_promoter) as promoters,
        count(*) filter (where is_detractor) as detractors
    from mentions
    group by grouping sets ((day, channel, topic, language), (day, channel, topic), (day, topic, language), (day, topic))
),

final as (
    select
        a.day,
        a.channel,
        a.topic,
        a.language,
        a.mentions,
        a.sentiment_mean,
        a.negatives / a.mentions as negative_share,
        100.0 * (a.promoters - a.detractors) / nullif(a.nps_n, 0) as nps,
        a.negatives,
        a.nps_n,
        a.promoters,
        a.detractors,
        t.label_en,
        t.label_fr
    from aggregated as a
    left join verbatim_taxonomy as t on t.topic = a.topic
)

select * from final
