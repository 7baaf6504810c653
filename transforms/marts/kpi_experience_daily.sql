-- Survey KPIs per day, channel and touchpoint, with roll-ups to 'all'. Scores count by the flags of
-- staging.stg_survey_responses (where the thresholds are defined).
-- Only the days in temp table rebuild_experience_days are built (the runner fills it).
with responses as (
    select *
    from staging.stg_survey_responses
    where occurred_at >= staging.day_start((select min(day) from rebuild_experience_days))
        and occurred_at < staging.day_start((select max(day) from rebuild_experience_days) + 1)
        and day in (select day from rebuild_experience_days)
),

aggregated as (
    select
        day,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        case when grouping(touchpoint) = 1 then 'all' else touchpoint end as touchpoint,
        count(*) as responses,
        count(nps) as nps_n,
        count(*) filter (where is_promoter) as promoters,
        count(*) filter (where is_passive) as passives,
        count(*) filter (where is_detractor) as detractors,
        count(csat) as csat_n,
        count(*) filter (where is_satisfied) as csat_satisfied,
        count(ces) as ces_n,
        sum(ces) as ces_sum,
        count(*) filter (where is_easy) as ces_easy,
        count(*) filter (where csat is not null and expected is not null) as expectation_n,
        sum(csat - expected) as expectation_gap_sum,
        count(emotion) as emotion_n,
        count(*) filter (where is_negative_emotion) as negative_emotions
    from responses
    group by grouping sets ((day, channel, touchpoint), (day, channel), (day))
),

-- Adjusted-Wald margin of error of the NPS (docs/design.md): n' = n + 3, p' and d' shifted by 0.75.
adjusted as (
    select
        *,
        nps_n + 3 as n_adj,
        (promoters + 0.75) / (nps_n + 3) as p_adj,
        (detractors + 0.75) / (nps_n + 3) as d_adj
    from aggregated
),

final as (
    select
        day,
        channel,
        touchpoint,
        responses,
        nps_n,
        promoters,
        passives,
        detractors,
        case when nps_n > 0 then 100.0 * (promoters - detractors) / nps_n end as nps,
        case
            when nps_n > 0
                then 100 * 1.96 * sqrt((p_adj + d_adj - (p_adj - d_adj) ^ 2) / n_adj)
        end as nps_moe95,
        csat_n,
        csat_satisfied / nullif(csat_n, 0) as csat,
        ces_n,
        ces_sum / nullif(ces_n, 0) as ces_mean,
        ces_easy / nullif(ces_n, 0) as ces_easy_rate,
        expectation_gap_sum / nullif(expectation_n, 0) as expectation_gap,
        negative_emotions / nullif(emotion_n, 0) as negative_emotion_rate,
        csat_satisfied,
        ces_sum,
        ces_easy,
        expectation_n,
        expectation_gap_sum,
        emotion_n,
        negative_emotions
    from adjusted
)

select * from final
