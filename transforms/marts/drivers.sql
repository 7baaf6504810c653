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

periods as (
    select 'week' as period_type, cast(date_trunc('week', day) as date) as period_start, * from answers
    union all
    select 'month', cast(date_trunc('month', day) as date), * from answers
),

scoped as (
    select *, 'all' as scope from periods
    union all
    select *, 'channel:' || channel from periods
    union all
    select *, 'segment:' || segment from periods where segment is not null
),

flags as (
    unpivot (
        select period_type, period_start, scope, columns('_ok$') from scoped
    )
    on columns('_ok$')
    into name flag value ok
),

performance as (
    select
        period_type,
        period_start,
        scope,
        flag[:-4] as driver,
        avg(cast(ok as integer)) as performance,
        count(*) as performance_n
    from flags
    group by all
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
