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
        staging.channel_scope(c.channel) as scope,
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
    select day, customer_key, channel, segment, touchpoint, step_status = 'ok' as went_well
    from staging.stg_journey_steps
    where occurred_at >= staging.day_start((select first_day from needed_range))
        and occurred_at < staging.day_start((select end_day from needed_range))
),

-- the survey answers and the journey steps counted per day, channel and segment first (a few thousand
-- rows), then per period and scope: counts and integer sums add up exactly whatever the order
survey_days as (
    select
        day,
        channel,
        segment,
        count(nps) filter (where survey = 'relationship') as relationship_nps_n,
        count(*) filter (where survey = 'relationship' and is_promoter) as relationship_promoters,
        count(*) filter (where survey = 'relationship' and is_detractor) as relationship_detractors,
        count(csat - expected) as expectation_n,
        sum(csat - expected) as expectation_gap_sum,
        count(emotion) as emotion_n,
        count(*) filter (where is_negative_emotion) as negative_emotions,
        count(*) filter (where emotion = 'joy') as joys
    from staging.stg_survey_responses
    where occurred_at >= staging.day_start((select first_day from needed_range))
        and occurred_at < staging.day_start((select end_day from needed_range))
    group by day, channel, segment
),

step_days as (
    select day, channel, segment, count(*) as steps, count(*) filter (where went_well) as steps_ok
    from steps
    group by day, channel, segment
),

observation_days as (
    select
        day, channel, segment, relationship_nps_n, relationship_promoters, relationship_detractors, expectation_n,
        expectation_gap_sum, emotion_n, negative_emotions, joys, null as steps, null as steps_ok
    from survey_days
    union all
    select day, channel, segment, null, null, null, null, null, null, null, null, steps, steps_ok
    from step_days
),

measures as (
    select
        periods.period_type,
        cast(date_trunc(periods.period_type, o.day) as date) as period_start,
        staging.scope_of(o.channel, o.segment) as scope,
        coalesce(sum(o.relationship_nps_n), 0)::bigint as relationship_nps_n,
        coalesce(sum(o.relationship_promoters), 0)::bigint as relationship_promoters,
        coalesce(sum(o.relationship_detractors), 0)::bigint as relationship_detractors,
        coalesce(sum(o.expectation_n), 0)::bigint as expectation_n,
        sum(o.expectation_gap_sum) as expectation_gap_sum,
        coalesce(sum(o.emotion_n), 0)::bigint as emotion_n,
        coalesce(sum(o.negative_emotions), 0)::bigint as negative_emotions,
        coalesce(sum(o.joys), 0)::bigint as joys,
        coalesce(sum(o.steps), 0)::bigint as steps,
        coalesce(sum(o.steps_ok), 0)::bigint as steps_ok
    from observation_days as o
    cross join periods
    group by grouping sets ((periods.period_type, period_start), (periods.period_type, period_start, o.channel),
        (periods.period_type, period_start, o.segment))
),

-- every touchpoint a customer went through (live contacts and journey steps), once, with its ISO week and
-- month, and whether it went well: a contact answered, a step ended ok. Customers are followed by their
-- customer_key (integers sort and compare faster than ids), touchpoints by the 64-bit hash of their name:
-- two names with one hash would count as one touchpoint, a chance of about K^2 / 2^65 for K names (3e-14
-- for a thousand touchpoints; docs/warehouse.md).
touches as (
    select
        day,
        cast(date_trunc('week', day) as date) as week_start,
        cast(date_trunc('month', day) as date) as month_start,
        customer_key,
        channel,
        segment,
        hash(touchpoint) as touchpoint_key,
        went_well
    from (
        select day, customer_key, channel, segment, touchpoint, went_well
        from steps
        union all
        select day, customer_key, channel, segment, queue, outcome = 'answered'
        from staging.stg_contacts
        where occurred_at >= staging.day_start((select first_day from needed_range))
            and occurred_at < staging.day_start((select end_day from needed_range))
    )
),

-- In a customer's touches in time order, those of one week (month) follow each other: the two touches
-- before and the two after each one tell whether the customer had one touch in its week (month), two,
-- or more. One sort finds them, instead of grouping every touch per customer and period (most customers
-- have one touch in a week, and are left out here). The touch before also comes along: a customer with
-- exactly two touches in a period is then settled on the second one, without grouping.
neighbours as (
    select
        week_start,
        month_start,
        customer_key,
        channel,
        segment,
        touchpoint_key,
        went_well,
        lag(week_start) over by_customer as week_1, lag(week_start, 2) over by_customer as week_2,
        lead(week_start) over by_customer as next_week_1, lead(week_start, 2) over by_customer as next_week_2,
        lag(month_start) over by_customer as month_1, lag(month_start, 2) over by_customer as month_2,
        lead(month_start) over by_customer as next_month_1, lead(month_start, 2) over by_customer as next_month_2,
        lag(channel) over by_customer as channel_1,
        lag(segment) over by_customer as segment_1,
        lag(touchpoint_key) over by_customer as touchpoint_key_1,
        lag(went_well) over by_customer as went_well_1
    from touches
    window by_customer as (partition by customer_key order by day)
),

-- the touches of customers with two touches at least in their week or month; `*_pair`: the second of
-- exactly two in the period, `*_more`: one of three or more
classified as materialized (
    select
        *,
        week_start = week_1 and week_start is distinct from week_2 and week_start is distinct from next_week_1
            as week_pair,
        (week_start = week_1 and (week_start = week_2 or week_start = next_week_1))
            or (week_start = next_week_1 and week_start = next_week_2) as week_more,
        month_start = month_1 and month_start is distinct from month_2 and month_start is distinct from next_month_1
            as month_pair,
        (month_start = month_1 and (month_start = month_2 or month_start = next_month_1))
            or (month_start = next_month_1 and month_start = next_month_2) as month_more
    from neighbours
    where week_start = week_1 or week_start = next_week_1 or month_start = month_1 or month_start = next_month_1
),

-- the touches of the customers with three touches or more in a period, to group per customer
several_touches as (
    select 'week' as period_type, week_start as period_start, customer_key, channel, segment, touchpoint_key,
        went_well
    from classified
    where week_more
    union all
    select 'month', month_start, customer_key, channel, segment, touchpoint_key, went_well
    from classified
    where month_more
),

-- one row per customer with exactly two touches in a period, at two distinct touchpoints: both went well
-- (least: the bool_and of the two, NULL skipped)
pairs as (
    select 'week' as period_type, week_start as period_start, channel, segment, channel_1, segment_1,
        least(went_well, went_well_1) as all_went_well
    from classified
    where week_pair and touchpoint_key <> touchpoint_key_1
    union all
    select 'month', month_start, channel, segment, channel_1, segment_1, least(went_well, went_well_1)
    from classified
    where month_pair and touchpoint_key <> touchpoint_key_1
),

-- one row per customer and scope (all, channel, segment) with two distinct touchpoints at least in the
-- period (min < max: the same as count(distinct touchpoint) >= 2, for less work): did every one go well.
-- A customer's pair counts in the channel (segment) scope when both touches share the channel (segment).
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
    union all
    select period_type, period_start, 'all', all_went_well from pairs
    union all
    select period_type, period_start, staging.channel_scope(channel), all_went_well from pairs where channel = channel_1
    union all
    select period_type, period_start, staging.segment_scope(segment), all_went_well from pairs
    where segment is not distinct from segment_1
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
