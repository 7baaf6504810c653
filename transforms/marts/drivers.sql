-- Key drivers (docs/warehouse.md "Key drivers"; method step C6 "Chiffrer"): per ISO week and month, scope ('all',
-- 'channel:<name>', 'segment:<name>') and outcome (nps, csat), the relative importance of each service
-- lever (Johnson's relative weights, summing to the model's R^2, with bootstrap 95 % intervals), its
-- performance and its quadrant. The weights come from temp table driver_estimates and the answers from
-- temp table answer_levers, both filled by transforms/drivers.py just before this model runs (only for
-- the periods of temp table rebuild_driver_periods); labels from temp table driver_catalogue.
-- Quadrant: importance is high when the lever's share of R^2 is at least the mean share (1 / the number
-- of levers in the model); performance is high when at least the mean performance of the model's levers
-- (the axes of the usual key-driver chart cross at the means).
with answers as (
    select * from answer_levers
),

-- each answer in its ISO week and its month
periods as (
    select 'week' as period_type, cast(date_trunc('week', day) as date) as period_start, * from answers
    union all
    select 'month', cast(date_trunc('month', day) as date), * from answers
),

-- per period and scope, each lever's share of answers at its good level and the answers that say (a lever
-- left NULL for an answer is not counted), aggregated before unpivoting: one row per period, scope and
-- lever instead of one per answer and lever
levels as (
    select
        period_type,
        period_start,
        staging.scope_of(channel, segment) as scope,
        {'performance': avg(cast(columns('_ok$') as integer)), 'n': count(columns('_ok$'))}
    from periods
    group by grouping sets ((period_type, period_start), (period_type, period_start, channel),
        (period_type, period_start, segment))
),

flags as (
    unpivot levels
    on columns('_ok$')
    into name flag value level
),

performance as (
    select
        period_type,
        period_start,
        scope,
        flag[:-4] as driver,
        level.performance as performance,
        level.n as performance_n
    from flags
    -- no scope for answers without a segment; a lever no answer of the scope measured has no performance
    where scope is not null and level.n > 0
),

estimates as (
    select
        e.*,
        e.importance / nullif(e.r2, 0) as importance_share,
        p.performance,
        p.performance_n,
        count(*) over model as levers_in_model,
        avg(p.performance) over model as mean_performance
    from driver_estimates as e
    left join performance as p using (period_type, period_start, scope, driver)
    window model as (partition by e.period_type, e.period_start, e.scope, e.outcome)
),

final as (
    select
        e.period_type,
        e.period_start,
        e.scope,
        e.outcome,
        e.driver,
        e.importance,
        e.importance_low,
        e.importance_high,
        e.performance,
        e.n,
        e.r2,
        case
            when e.importance_share >= 1.0 / e.levers_in_model and e.performance < e.mean_performance then 'focus'
            when e.importance_share >= 1.0 / e.levers_in_model then 'maintain'
            when e.performance < e.mean_performance then 'monitor'
            else 'secondary'
        end as quadrant,
        e.importance_share,
        e.performance_n,
        k.label_en,
        k.label_fr,
        k.min_n
    from estimates as e
    inner join driver_catalogue as k on k.driver = e.driver
    where e.n >= k.min_n
        and (e.period_type, e.period_start) in (select (period_type, period_start) from rebuild_driver_periods)
)

select * from final
