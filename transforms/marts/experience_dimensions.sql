-- The four dimensions of an experience (relational, service, experiential, emotional) per ISO week and
-- month, for scope 'all', 'channel:<name>' and 'segment:<name>'. Each component is measured here from
-- the marts or staging views that define it, then normalised and averaged with the scales, targets and
-- min_n of temp table dimension_components (the `dimensions:` block of transforms/kpis.yaml, loaded
-- by the runner). Only the periods of temp table rebuild_periods are built.
-- Service components come from kpi_service_daily (as progress_dashboard rolls it up) and kpi_cases_daily,
-- which are kept per channel and not per segment: a segment's service dimension has no measured component (score NULL, no_data),
-- rather than a second definition of service level, FCR and complaint rate.
with periods as (
    select 'week' as period_type union all select 'month'
),

needed_range as (
    select min(period_start) as first_day, cast(max(period_start) + interval 1 month as date) as end_day
    from rebuild_periods
),

-- service level and FCR per period and scope: the catalogue KPIs as marts.progress_dashboard rolls them
-- up from kpi_service_daily (built before this mart, for the same periods): one roll-up of both
service as (
    select period_type, period_start, scope, kpi, value, n
    from marts.progress_dashboard
    where kpi in ('service_level', 'fcr_rate')
        and (period_type, period_start) in (select (period_type, period_start) from rebuild_periods)
),

cases as (
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, c.day) as date) as period_start,
        case when c.channel = 'all' then 'all' else 'channel:' || c.channel end as scope,
        sum(c.complaints) as complaints,
        sum(c.active_customers) as active_customer_days
    from marts.kpi_cases_daily as c
    cross join periods
    where c.day >= (select first_day from needed_range)
        and c.day < (select end_day from needed_range)
    group by all
),

-- the journey steps of the periods, read once for the step counts and the consistency
steps as (
    select day, customer_id, channel, segment, touchpoint, step_status = 'ok' as went_well
    from staging.stg_journey_steps
    where occurred_at >= staging.day_start((select first_day from needed_range))
        and occurred_at < staging.day_start((select end_day from needed_range))
),

-- the survey answers and the journey steps of each period (is_step), to count per scope in one pass
observations as (
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, r.day) as date) as period_start,
        r.channel,
        r.segment,
        false as is_step,
        r.survey,
        r.nps,
        r.csat,
        r.expected,
        r.emotion,
        r.is_promoter,
        r.is_detractor,
        r.is_negative_emotion,
        null as went_well
    from staging.stg_survey_responses as r
    cross join periods
    where r.occurred_at >= staging.day_start((select first_day from needed_range))
        and r.occurred_at < staging.day_start((select end_day from needed_range))
    union all
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, steps.day) as date),
        steps.channel,
        steps.segment,
        true, null, null, null, null, null, null, null, null,
        steps.went_well
    from steps
    cross join periods
),

measures as (
    select
        period_type,
        period_start,
        staging.scope_of(channel, segment) as scope,
        count(nps) filter (where survey = 'relationship') as relationship_nps_n,
        count(*) filter (where survey = 'relationship' and is_promoter) as relationship_promoters,
        count(*) filter (where survey = 'relationship' and is_detractor) as relationship_detractors,
        count(csat - expected) as expectation_n,
        sum(csat - expected) as expectation_gap_sum,
        count(emotion) as emotion_n,
        count(*) filter (where is_negative_emotion) as negative_emotions,
        count(*) filter (where emotion = 'joy') as joys,
        count(*) filter (where is_step) as steps,
        count(*) filter (where went_well) as steps_ok
    from observations
    group by grouping sets ((period_type, period_start), (period_type, period_start, channel),
        (period_type, period_start, segment))
),

-- every touchpoint a customer went through (live contacts and journey steps), once, with its ISO week and
-- month, and whether it went well: a contact answered, a step ended ok. Customers and touchpoints are
-- keyed by the 64-bit hash of their id (integers sort and compare faster than strings). Two ids with one
-- hash would count as one: with K distinct ids, the chance that any two collide is about K^2 / 2^65
-- (3e-8 for a million customers), and a collision could change a count by one customer per period
-- and scope where both have touches (docs/warehouse.md).
touches as (
    select
        day,
        cast(date_trunc('week', day) as date) as week_start,
        cast(date_trunc('month', day) as date) as month_start,
        hash(customer_id) as customer_key,
        channel,
        segment,
        hash(touchpoint) as touchpoint_key,
        went_well
    from (
        select day, customer_id, channel, segment, touchpoint, went_well
        from steps
        union all
        select day, customer_id, channel, segment, queue, outcome = 'answered'
        from staging.stg_contacts
        where occurred_at >= staging.day_start((select first_day from needed_range))
            and occurred_at < staging.day_start((select end_day from needed_range))
    )
),

-- In a customer's touches in time order, those of one week (month) follow each other: a touch shares
-- its week (month) with the touch before or after it exactly when the customer had two touches at
-- least in that week (month). One sort finds them, instead of grouping every touch per customer and
-- period (most customers have one touch in a week, and are left out here).
neighbours as (
    select
        week_start,
        month_start,
        customer_key,
        channel,
        segment,
        touchpoint_key,
        went_well,
        week_start = lag(week_start) over by_customer or week_start = lead(week_start) over by_customer
            as shares_week,
        month_start = lag(month_start) over by_customer or month_start = lead(month_start) over by_customer
            as shares_month
    from touches
    window by_customer as (partition by customer_key order by day)
),

several_touches as (
    select 'week' as period_type, week_start as period_start, customer_key, channel, segment, touchpoint_key,
        went_well
    from neighbours
    where shares_week
    union all
    select 'month', month_start, customer_key, channel, segment, touchpoint_key, went_well
    from neighbours
    where shares_month
),

-- one row per customer and scope (all, channel, segment) with two distinct touchpoints at least in the
-- period (min < max: the same as count(distinct touchpoint) >= 2, for less work): did every one go well
customer_touches as (
    select
        period_type,
        period_start,
        staging.scope_of(channel, segment) as scope,
        bool_and(went_well) as all_went_well
    from several_touches
    group by grouping sets ((period_type, period_start, customer_key),
        (period_type, period_start, channel, customer_key), (period_type, period_start, segment, customer_key))
    having min(touchpoint_key) < max(touchpoint_key)
),

consistency as (
    select
        period_type,
        period_start,
        scope,
        count(*) as customers,
        count(*) filter (where all_went_well) as consistent
    from customer_touches
    group by all
),

-- every component: its value and the observations behind it (n); a value with n = 0 is NULL
components_long as (
    select period_type, period_start, scope, 'service_level' as component, value, n
    from service where kpi = 'service_level'
    union all
    select period_type, period_start, scope, 'fcr_rate', value, n from service where kpi = 'fcr_rate'
    union all
    select period_type, period_start, scope, 'complaint_rate', complaints / nullif(active_customer_days, 0),
        active_customer_days
    from cases
    union all
    select period_type, period_start, scope, 'relationship_nps',
        100.0 * (relationship_promoters - relationship_detractors) / nullif(relationship_nps_n, 0),
        relationship_nps_n
    from measures
    union all
    select period_type, period_start, scope, 'expectation_gap', expectation_gap_sum / nullif(expectation_n, 0),
        expectation_n
    from measures
    union all
    select period_type, period_start, scope, 'negative_emotion_rate', negative_emotions / nullif(emotion_n, 0),
        emotion_n
    from measures
    union all
    select period_type, period_start, scope, 'joy_rate', joys / nullif(emotion_n, 0), emotion_n from measures
    union all
    select period_type, period_start, scope, 'consistency_rate', consistent / customers, customers
    from consistency
    union all
    select period_type, period_start, scope, 'journey_success_rate', steps_ok / nullif(steps, 0), steps
    from measures
),

-- the periods to build and their scopes: every scope with a measured component
scopes as (
    select distinct period_type, period_start, scope
    from components_long
    where scope is not null
        and (period_type, period_start) in (select (period_type, period_start) from rebuild_periods)
),

-- every catalogue component of every scope, measured or not (n = 0)
scored as (
    select
        s.period_type,
        s.period_start,
        s.scope,
        d.dimension,
        d.dimension_label_en,
        d.dimension_label_fr,
        d.tolerance,
        d.component,
        d.min_n,
        c.value,
        coalesce(cast(c.n as bigint), 0) as n,
        -- (greatest and least skip NULLs: an unmeasured value must stay NULL)
        case when c.value is not null
            then 100 * greatest(0, least(1, (c.value - d.worst) / (d.best - d.worst))) end as score,
        100 * greatest(0, least(1, (d.target - d.worst) / (d.best - d.worst))) as target_score
    from scopes as s
    cross join dimension_components as d
    left join components_long as c
        on c.period_type = s.period_type
        and c.period_start = s.period_start
        and c.scope = s.scope
        and c.component = d.component
),

-- A component with no observation in the scope (n = 0: no live contact on email, no case filed by
-- phone, no journey step in the data) does not apply there and is left out; every component that
-- applies must reach its min_n. Lists in component order, so that the sums are added in one order
-- whatever the build.
dimensions as (
    select
        period_type,
        period_start,
        scope,
        dimension,
        any_value(dimension_label_en) as label_en,
        any_value(dimension_label_fr) as label_fr,
        any_value(tolerance) as tolerance,
        count(*) filter (where n > 0) as applicable,
        count(*) filter (where n > 0 and n >= min_n) as counted,
        coalesce(min(n) filter (where n > 0), 0) as n,
        list_sum(list(score order by component) filter (where n > 0)) / count(*) filter (where n > 0) as mean_score,
        coalesce(
            list_sum(list(target_score order by component) filter (where n > 0)) / count(*) filter (where n > 0),
            list_sum(list(target_score order by component)) / count(*)
        ) as target,
        list(
            {'component': component, 'value': value, 'score': score, 'n': n, 'min_n': min_n} order by component
        ) as component_list
    from scored
    group by period_type, period_start, scope, dimension
),

final as (
    select
        period_type,
        period_start,
        scope,
        dimension,
        label_en,
        label_fr,
        case when applicable > 0 and counted = applicable then mean_score end as score,
        n,
        cast(to_json(component_list) as varchar) as components,
        target,
        case
            when applicable = 0 or counted < applicable then 'no_data'
            when mean_score >= target then 'green'
            when mean_score >= target - tolerance then 'amber'
            else 'red'
        end as status
    from dimensions
)

select * from final
