-- Tableau de bord du progrès continu: each catalogue KPI per ISO week and month, scopes 'all' and
-- 'channel:<name>'. Values are recomputed from the period's counts and sums (never averages of
-- daily ratios). Labels, targets, tolerances, noise bands and min_n come from temp table
-- kpi_catalogue (loaded from transforms/kpis.yaml by the runner). Only the periods in temp table
-- rebuild_periods are built; their previous periods are computed too, for previous_value.
with periods as (
    select 'week' as period_type union all select 'month'
),

-- The periods to build and the periods before them.
needed_periods as (
    select period_type, period_start from rebuild_periods
    union
    select
        period_type,
        cast(case period_type
            when 'week' then period_start - interval 7 day
            else period_start - interval 1 month
        end as date)
    from rebuild_periods
),

needed_range as (
    select min(period_start) as first_day, cast(max(period_start) + interval 1 month as date) as end_day
    from needed_periods
),

service as (
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, s.day) as date) as period_start,
        staging.channel_scope(s.channel) as scope,
        sum(s.offered) as offered,
        sum(s.answered) as answered,
        sum(s.answered_in_target) as answered_in_target,
        sum(s.repeated) as repeated,
        sum(s.answered_wait_s_sum) as answered_wait_s_sum,
        sum(s.handle_s_sum) as handle_s_sum
    from marts.kpi_service_daily as s
    cross join periods
    where s.queue = 'all'
        and s.day >= (select first_day from needed_range)
        and s.day < (select end_day from needed_range)
    group by all
),

experience as (
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, e.day) as date) as period_start,
        staging.channel_scope(e.channel) as scope,
        sum(e.nps_n) as nps_n,
        sum(e.promoters) as promoters,
        sum(e.detractors) as detractors,
        sum(e.csat_n) as csat_n,
        sum(e.csat_satisfied) as csat_satisfied,
        sum(e.ces_n) as ces_n,
        sum(e.ces_easy) as ces_easy,
        sum(e.emotion_n) as emotion_n,
        sum(e.negative_emotions) as negative_emotions
    from marts.kpi_experience_daily as e
    cross join periods
    where e.touchpoint = 'all'
        and e.day >= (select first_day from needed_range)
        and e.day < (select end_day from needed_range)
    group by all
),

-- Percentiles cannot be combined from daily percentiles: they are recomputed from the cases.
complaints as (
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, c.day) as date) as period_start,
        c.channel,
        c.first_reply_h,
        c.resolution_h
    from staging.stg_cases as c
    cross join periods
    where c.is_complaint
        and c.opened_at >= staging.day_start((select first_day from needed_range))
        and c.opened_at < staging.day_start((select end_day from needed_range))
),

complaint_times as (
    select
        period_type,
        period_start,
        case when grouping(channel) = 1 then 'all' else staging.channel_scope(channel) end as scope,
        count(first_reply_h) as replied,
        count(resolution_h) as resolved,
        quantile_cont(first_reply_h, 0.5) as first_reply_p50_h,
        quantile_cont(first_reply_h, 0.9) as first_reply_p90_h,
        quantile_cont(resolution_h, 0.9) as resolution_p90_h
    from complaints
    group by grouping sets ((period_type, period_start, channel), (period_type, period_start))
),

values_long as (
    select period_type, period_start, scope, 'answer_rate' as kpi, answered / offered as value, offered as n
    from service
    union all
    select period_type, period_start, scope, 'service_level', answered_in_target / offered, offered from service
    union all
    select period_type, period_start, scope, 'asa_s', answered_wait_s_sum / nullif(answered, 0), answered
    from service
    union all
    select period_type, period_start, scope, 'aht_s', handle_s_sum / nullif(answered, 0), answered from service
    union all
    select period_type, period_start, scope, 'fcr_rate', 1 - repeated / nullif(answered, 0), answered
    from service
    union all
    select period_type, period_start, scope, 'nps', 100.0 * (promoters - detractors) / nullif(nps_n, 0), nps_n
    from experience
    union all
    select period_type, period_start, scope, 'csat', csat_satisfied / nullif(csat_n, 0), csat_n from experience
    union all
    select period_type, period_start, scope, 'ces_easy_rate', ces_easy / nullif(ces_n, 0), ces_n from experience
    union all
    select period_type, period_start, scope, 'negative_emotion_rate', negative_emotions / nullif(emotion_n, 0),
        emotion_n
    from experience
    union all
    select period_type, period_start, scope, 'complaint_first_reply_p50_h', first_reply_p50_h, replied
    from complaint_times
    union all
    select period_type, period_start, scope, 'complaint_acknowledgement_p90_h', first_reply_p90_h, replied
    from complaint_times
    union all
    select period_type, period_start, scope, 'complaint_resolution_p90_h', resolution_p90_h, resolved
    from complaint_times
    -- new KPIs: one union all branch each, above this line
),

with_previous as (
    select
        cur.*,
        prev.value as previous_value
    from values_long as cur
    left join values_long as prev
        on prev.kpi = cur.kpi
        and prev.scope = cur.scope
        and prev.period_type = cur.period_type
        and prev.period_start = cast(
            case cur.period_type
                when 'week' then cur.period_start - interval 7 day
                else cur.period_start - interval 1 month
            end as date)
),

final as (
    select
        v.period_type,
        v.period_start,
        v.kpi,
        v.scope,
        k.label_en,
        k.label_fr,
        v.value,
        cast(v.n as bigint) as n,
        k.target,
        k.higher_is_better as direction,
        v.previous_value,
        v.value - v.previous_value as delta,
        case
            when v.value is null or v.previous_value is null then null
            when abs(v.value - v.previous_value) < k.noise_band then 'flat'
            when v.value > v.previous_value then 'up'
            else 'down'
        end as trend,
        case
            when v.value is null or v.n < k.min_n then 'no_data'
            when k.higher_is_better and v.value >= k.target then 'green'
            when not k.higher_is_better and v.value <= k.target then 'green'
            when k.higher_is_better and v.value >= k.target - k.tolerance then 'amber'
            when not k.higher_is_better and v.value <= k.target + k.tolerance then 'amber'
            else 'red'
        end as status,
        k.unit,
        k.min_n
    from with_previous as v
    inner join kpi_catalogue as k using (kpi)
    where (v.period_type, v.period_start) in (select (period_type, period_start) from rebuild_periods)
)

select * from final
