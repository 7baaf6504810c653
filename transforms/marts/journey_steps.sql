-- Journeys step by step (docs/warehouse.md "Journeys"): per ISO week
-- and month, journey and step, how many journeys entered the step, how it ended, how many went on, the
-- answers given about the step, the step's effect on the journey's later NPS (moment of truth), channel
-- switches after leaving, and whether drop-off or failure rose significantly (rupture).
-- The journey map: temp table journey_map; its windows and thresholds: the parameters $max_span_h,
-- $survey_window_h, $switch_window_h, $moment_min_n, $baseline_weeks, $baseline_months, $rupture_min_n,
-- $rupture_alpha, $rupture_min_effect (transforms/journeys.yaml, loaded by transforms/journeys.py: constants
-- for the planner, where subqueries on the one-row journey_settings were cross products over millions of
-- rows and hid the sizes its join order needs); journey_rupture_p(): the p-value of the
-- pooled two-proportion z-test (proportions_ztest's, in closed form: a Python UDF). Only the periods in temp
-- table rebuild_journey_periods are written; the rupture test reads the baseline periods before them that are not rebuilt from their stored rows.
-- the periods to write (the baseline periods before them that are not rebuilt are read from their stored
-- rows: temp table kept_journey_baselines, transforms/rebuild/mart_state.sql)
with needed_periods as (
    select period_type, period_start from rebuild_journey_periods
),

-- Events are read `span` around the needed days: a journey lasts at most max_span_h, its steps are at
-- most max_gap_h apart, and its answers and switches come at most survey_window_h / switch_window_h later.
bounds as (
    select
        staging.day_start(min(period_start)) - to_hours(cast(s.span_h as bigint)) as read_from,
        staging.day_start(max(
            case period_type when 'week' then period_start + 7 else cast(period_start + interval 1 month as date) end
        )) + to_hours(cast(s.span_h as bigint)) as read_to
    from needed_periods
    cross join (
        select $max_span_h + greatest(max(max_gap_h), $survey_window_h, $switch_window_h) as span_h from journey_map
    ) as s
    group by s.span_h
),

events as (
    select customer_key, occurred_at, hash(event_id) as tie, channel, journey, touchpoint, step_status
    from staging.stg_journey_steps
    where occurred_at >= (select read_from from bounds)
        and occurred_at < (select read_to from bounds)
        and journey is not null
),

-- each touchpoint's step in the journey map: the step of the same name, else the first pattern it matches;
-- a touchpoint the map does not list stays a step of its own, without order (mapped once per distinct
-- journey and touchpoint, of events and answers)
touchpoints as (
    select distinct journey, touchpoint from events
    union
    select distinct journey, touchpoint
    from staging.stg_survey_responses
    where occurred_at >= (select read_from from bounds)
        and occurred_at < (select read_to from bounds)
        and journey is not null
),

step_of as (
    select
        t.journey,
        t.touchpoint,
        arg_min(m.step, (m.step <> t.touchpoint, m.step_order, m.step)) as step
    from touchpoints as t
    inner join journey_map as m on m.journey = t.journey and (m.step = t.touchpoint or t.touchpoint like m.match)
    group by t.journey, t.touchpoint
),

-- every (journey, touchpoint) of the events with its step, the step's order and final flag (from the map)
-- and the journey's max_gap_h, and small integer codes of the journey and the step: the journeys below
-- are grouped and joined on those, not on the names
touchpoint_steps as (
    select
        t.journey,
        t.touchpoint,
        coalesce(s.step, t.touchpoint) as step,
        m.step_order,
        coalesce(m.final, false) as final,
        coalesce(g.max_gap_h, (select max(max_gap_h) from journey_map)) as max_gap_h,
        dense_rank() over (order by t.journey) as journey_no,
        dense_rank() over (order by t.journey, coalesce(s.step, t.touchpoint)) as step_no
    from (select distinct journey, touchpoint from events) as t
    left join step_of as s on s.journey = t.journey and s.touchpoint = t.touchpoint
    left join journey_map as m on m.journey = t.journey and m.step = s.step
    left join (select journey, max(max_gap_h) as max_gap_h from journey_map group by journey) as g
        on g.journey = t.journey
),

steps as (
    select distinct journey_no, step_no, journey, step, step_order, final, max_gap_h from touchpoint_steps
),

-- One customer's journey: a new one starts at the first step, after a gap longer than max_gap_h, or when
-- the customer goes back to an earlier (or the same) step, except to retry a step that failed. The window
-- carries integer codes, not the step and status names, and numbers the events in its order
-- (`attempt_no`): the next window sorts on that number alone, and it tells a step's last attempt below.
ordered as (
    select
        e.customer_key,
        t.journey_no,
        t.step_no,
        t.step_order,
        t.max_gap_h,
        e.occurred_at,
        e.channel,
        e.status,
        lag(e.occurred_at) over w as prev_at,
        lag(t.step_no) over w as prev_step_no,
        lag(t.step_order) over w as prev_order,
        lag(e.status) over w as prev_status,
        row_number() over w as attempt_no
    from (
        select
            *,
            -- the step status as a small code (streams/contracts.py: 1 ok, 2 failed, 3 abandoned; 0 another,
            -- NULL none): the windows and the visits carry an integer, not a string
            case
                when step_status = 'ok' then 1
                when step_status = 'failed' then 2
                when step_status = 'abandoned' then 3
                when step_status is not null then 0
            end as status
        from events
    ) as e
    inner join touchpoint_steps as t on t.journey = e.journey and t.touchpoint = e.touchpoint
    -- ties in time broken by the event id's hash: deterministic, and cheaper to sort than the text
    window w as (partition by e.customer_key, t.journey_no order by e.occurred_at, e.tie)
),

-- an event belongs to the latest journey start before it when that is at most max_span_h before it, else it
-- starts one itself (so what a step's row depends on is bounded in time, and an incremental build reads it)
-- (Gaps are compared as an instant plus hours: the difference of two instants goes through ICU's calendar,
-- some 0.4 CPU microseconds a row, a hundred times the addition.)
latest_start as (
    select
        * exclude (prev_at, prev_step_no, prev_order, prev_status),
        max(case
            when prev_at is null
                or occurred_at > prev_at + to_hours(cast(max_gap_h as bigint))
                or coalesce(
                    step_order <= prev_order and not (step_no = prev_step_no and prev_status = 2), false
                )
                then occurred_at
        end) over (partition by customer_key, journey_no order by attempt_no rows unbounded preceding)
            as latest_start_at
    from ordered
),

instanced as (
    select
        * exclude (latest_start_at),
        case
            when occurred_at <= latest_start_at + to_hours(cast($max_span_h as bigint))
                then latest_start_at
            else occurred_at
        end as journey_start
    from latest_start
),

-- one row per journey and step: its attempts (a failed step may be retried), how the last one ended
visits as (
    select
        customer_key,
        journey_no,
        journey_start,
        step_no,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        arg_max(status, attempt_no) as status,
        bool_or(status = 2) as had_failure,
        arg_max(channel, attempt_no) as channel
    from instanced
    group by customer_key, journey_no, journey_start, step_no
),

journey_spans as (
    select customer_key, journey_no, journey_start, max(last_at) as journey_end, max(first_at) as last_step_at
    from visits
    group by customer_key, journey_no, journey_start
),

-- the latest journey step in the data (read from the start of the range on, so that a build of old periods
-- sees the same end as a full one): a journey that stopped less than max_gap_h before it may still go on
data_end as (
    select max(occurred_at) as data_end_at
    from staging.stg_journey_steps
    where occurred_at >= (select read_from from bounds)
),

-- went on: another step of the journey began after this one, or this final step ended ok (completed);
-- pending: did not go on, but its next step may still come (the data end less than max_gap_h after it);
-- the ends of its answer and switch windows as columns, so that the joins below use them as join
-- conditions (an expression with a subquery there made them nested-loop filters). The data end enters per
-- step (pending_after = data end - max_gap_h, on the few step rows), not as a scalar subquery per visit,
-- which was a cross product over every visit.
visits_continued as (
    select
        v.*,
        s.journey,
        s.step,
        staging.local_day(v.first_at) as day,
        j.last_step_at > v.first_at or (s.final and v.status = 1) as continued,
        not (j.last_step_at > v.first_at or (s.final and v.status = 1))
        and v.last_at > s.pending_after as pending,
        j.journey_end + to_hours(cast($survey_window_h as bigint)) as answers_until,
        v.last_at + to_hours(cast($switch_window_h as bigint)) as switch_until
    from visits as v
    inner join journey_spans as j using (customer_key, journey_no, journey_start)
    inner join (
        select steps.*, d.data_end_at - to_hours(cast(steps.max_gap_h as bigint)) as pending_after
        from steps cross join data_end as d
    ) as s using (journey_no, step_no)
),

-- the journey's later NPS: the first answer with an NPS (post-journey or post-contact survey of the same
-- customer and journey) after the step's first attempt and within survey_window_h after the journey's
-- last step
journey_answers as (
    select customer_key, journey, occurred_at, response_id, is_promoter, is_detractor
    from staging.stg_survey_responses
    where occurred_at >= (select read_from from bounds)
        and occurred_at < (select read_to from bounds)
        and survey in ('post_journey', 'post_contact')
        and journey is not null
        and nps is not null
),

later_nps as (
    select
        v.customer_key,
        v.journey_no,
        v.journey_start,
        v.step_no,
        any_value(v.day) as day,
        any_value(v.status) as status,
        any_value(v.had_failure) as had_failure,
        arg_min(
            case when a.is_promoter then 100 when a.is_detractor then -100 else 0 end, (a.occurred_at, a.response_id)
        ) as nps_points
    from visits_continued as v
    inner join journey_answers as a
        on a.customer_key = v.customer_key
        and a.journey = v.journey
        and a.occurred_at > v.first_at
        and a.occurred_at <= v.answers_until
    group by v.customer_key, v.journey_no, v.journey_start, v.step_no
),

-- a customer who left at this step (did not go on) and has an event on another channel within
-- switch_window_h after its last attempt: a contact, a case opened, a step of any journey. Events and
-- stops are matched on the customer and a time bucket as long as the window (an event in the window of a
-- stop falls in the stop's bucket or the next one), so that a customer's many events are not all compared
-- with each of its stops. The width, 7 x switch_window_h, a constant ($switch_window_h): as a subquery it
-- was a cross product over every event. A stop's buckets are range(first, last + 1), one or two: cheaper
-- than the distinct of a list.
other_events as (
    select
        customer_key,
        occurred_at,
        channel,
        epoch_us(occurred_at) // (7 * cast($switch_window_h as bigint) * 3600000000) as bucket
    from (
        select customer_key, occurred_at, channel
        from staging.stg_contacts
        where occurred_at >= (select read_from from bounds) and occurred_at < (select read_to from bounds)
        union all
        select customer_key, occurred_at, channel
        from staging.stg_case_events
        where event_type = 'case_opened'
            and occurred_at >= (select read_from from bounds) and occurred_at < (select read_to from bounds)
        union all
        select customer_key, occurred_at, channel
        from events
    )
),

stops as (
    select
        customer_key,
        journey_no,
        journey_start,
        step_no,
        day,
        channel,
        last_at,
        switch_until,
        unnest(range(
            epoch_us(last_at) // (7 * cast($switch_window_h as bigint) * 3600000000),
            epoch_us(switch_until) // (7 * cast($switch_window_h as bigint) * 3600000000) + 1
        )) as bucket
    from visits_continued
    where not continued and not pending
),

switches as (
    select distinct s.customer_key, s.journey_no, s.journey_start, s.step_no, s.day
    from stops as s
    inner join other_events as o
        on o.customer_key = s.customer_key
        and o.bucket = s.bucket
        and o.channel <> s.channel
        and o.occurred_at > s.last_at
        and o.occurred_at <= s.switch_until
),

-- the funnel per day first (its counts add up), then per period: the periods repeat a few hundred rows a
-- day, not every journey. The answers and switches are counted per day from their own rows, and
-- joined per day, journey and step: joining them to each visit cost two joins of every visit.
visit_days as (
    select
        day,
        journey_no,
        step_no,
        any_value(journey) as journey,
        any_value(step) as step,
        count(*) as entered,
        count(*) filter (where status = 1) as ok,
        count(*) filter (where status = 2) as failed,
        count(*) filter (where status = 3) as abandoned,
        count(*) filter (where continued) as continued,
        count(*) filter (where pending) as pending,
        count(*) filter (where status = 1 and had_failure) as recovered
    from visits_continued
    group by day, journey_no, step_no
),

switch_days as (
    select day, journey_no, step_no, count(*) as channel_switches
    from switches
    group by day, journey_no, step_no
),

nps_days as (
    select
        day,
        journey_no,
        step_no,
        count(*) filter (where had_failure) as mot_n_failed,
        sum(nps_points) filter (where had_failure) as mot_points_failed,
        count(*) filter (where not had_failure and status = 1) as mot_n_ok,
        sum(nps_points) filter (where not had_failure and status = 1) as mot_points_ok
    from later_nps
    group by day, journey_no, step_no
),

funnel_days as (
    select
        v.day,
        v.journey,
        v.step,
        v.entered,
        v.ok,
        v.failed,
        v.abandoned,
        v.continued,
        v.pending,
        v.recovered,
        coalesce(w.channel_switches, 0) as channel_switches,
        coalesce(n.mot_n_failed, 0) as mot_n_failed,
        n.mot_points_failed,
        coalesce(n.mot_n_ok, 0) as mot_n_ok,
        n.mot_points_ok
    from visit_days as v
    left join switch_days as w using (day, journey_no, step_no)
    left join nps_days as n using (day, journey_no, step_no)
),

periods as (
    select 'week' as period_type union all select 'month'
),

funnel as (
    select
        p.period_type,
        cast(date_trunc(p.period_type, d.day) as date) as period_start,
        d.journey,
        d.step,
        any_value(s.step_order) as step_order,
        bool_or(s.final) as final_step,
        cast(sum(d.entered) as bigint) as entered,
        cast(sum(d.ok) as bigint) as ok,
        cast(sum(d.failed) as bigint) as failed,
        cast(sum(d.abandoned) as bigint) as abandoned,
        cast(sum(d.continued) as bigint) as continued,
        cast(sum(d.pending) as bigint) as pending,
        cast(sum(d.recovered) as bigint) as recovered,
        cast(sum(d.channel_switches) as bigint) as channel_switches,
        cast(sum(d.mot_n_failed) as bigint) as mot_n_failed,
        sum(d.mot_points_failed) / nullif(sum(d.mot_n_failed), 0) as mot_nps_failed,
        cast(sum(d.mot_n_ok) as bigint) as mot_n_ok,
        sum(d.mot_points_ok) / nullif(sum(d.mot_n_ok), 0) as mot_nps_ok
    from funnel_days as d
    inner join (select distinct journey, step, step_order, final from steps) as s using (journey, step)
    cross join periods as p
    -- (a join on both columns: a semi join on a row value was slower)
    inner join needed_periods as np
        on np.period_type = p.period_type and np.period_start = cast(date_trunc(p.period_type, d.day) as date)
    group by all
),

-- the answers given about the step: survey responses of the journey whose touchpoint is the step (mapped
-- as the events are), counted in the period of the answer
responses as (
    select *
    from staging.stg_survey_responses
    where occurred_at >= (select read_from from bounds)
        and occurred_at < (select read_to from bounds)
        and journey is not null
),

step_answers as (
    select
        p.period_type,
        cast(date_trunc(p.period_type, r.day) as date) as period_start,
        r.journey,
        coalesce(m.step, r.touchpoint) as step,
        count(r.nps) as nps_n,
        100.0 * (count(*) filter (where r.is_promoter) - count(*) filter (where r.is_detractor))
        / nullif(count(r.nps), 0) as nps,
        count(r.csat) as csat_n,
        count(*) filter (where r.is_satisfied) / nullif(count(r.csat), 0) as csat,
        count(r.emotion) as emotion_n,
        count(*) filter (where r.is_negative_emotion) / nullif(count(r.emotion), 0) as negative_emotion_rate,
        count(*) filter (where r.emotion = 'joy') as joy,
        count(*) filter (where r.emotion = 'surprise') as surprise,
        count(*) filter (where r.emotion = 'sadness') as sadness,
        count(*) filter (where r.emotion = 'fear') as fear,
        count(*) filter (where r.emotion = 'anger') as anger,
        count(*) filter (where r.emotion = 'disgust') as disgust
    from responses as r
    cross join periods as p
    left join step_of as m on m.journey = r.journey and m.touchpoint = r.touchpoint
    where (p.period_type, cast(date_trunc(p.period_type, r.day) as date))
        in (select (period_type, period_start) from needed_periods)
    group by all
),

-- the step counts of every period a rupture test may compare with: those rebuilt here, and the stored
-- rows of the others (none in a full build)
baseline_funnel as (
    select period_type, period_start, journey, step, entered, continued, pending, failed from funnel
    union all
    select period_type, period_start, journey, step, entered, continued, pending, failed from kept_journey_baselines
),

-- the rupture test: this period against the baseline periods before it, per step
with_baseline as (
    select
        f.*,
        cast(sum(b.entered) as bigint) as baseline_entered,
        cast(sum(b.continued) as bigint) as baseline_continued,
        cast(sum(b.pending) as bigint) as baseline_pending,
        cast(sum(b.failed) as bigint) as baseline_failed
    from funnel as f
    left join baseline_funnel as b
        on b.period_type = f.period_type
        and b.journey = f.journey
        and b.step = f.step
        and b.period_start < f.period_start
        and b.period_start >= case f.period_type
            when 'week' then f.period_start - to_days(7 * $baseline_weeks)
            else f.period_start - to_months($baseline_months)
        end
    group by all
),

tests as (
    select
        period_type,
        period_start,
        journey,
        step,
        'drop_off' as measure,
        (entered - continued - pending) / (entered - pending)
        - (baseline_entered - baseline_continued - baseline_pending) / (baseline_entered - baseline_pending) as delta,
        journey_rupture_p(
            entered - continued - pending,
            entered - pending,
            baseline_entered - baseline_continued - baseline_pending,
            baseline_entered - baseline_pending
        ) as p
    from with_baseline
    where entered - pending >= $rupture_min_n and baseline_entered - baseline_pending >= $rupture_min_n
    union all
    select
        period_type,
        period_start,
        journey,
        step,
        'failure',
        failed / entered - baseline_failed / baseline_entered,
        journey_rupture_p(failed, entered, baseline_failed, baseline_entered)
    from with_baseline
    where entered >= $rupture_min_n and baseline_entered >= $rupture_min_n
),

-- Benjamini-Hochberg across the steps (and both measures) tested in the period: q_i = min over the
-- j-th smallest p-values with j >= i of p_j * m / j
ranked as (
    select
        *,
        count(*) over (partition by period_type, period_start) as m,
        row_number() over (partition by period_type, period_start order by p, journey, step, measure) as i
    from tests
    where p is not null
),

adjusted as (
    select
        *,
        least(1.0, min(p * m / i) over (
            partition by period_type, period_start order by i desc rows between unbounded preceding and current row
        )) as q
    from ranked
),

verdicts as (
    select
        period_type,
        period_start,
        journey,
        step,
        min(q) as rupture_q,
        string_agg(measure, ',' order by measure) filter (
            where q <= $rupture_alpha and delta >= $rupture_min_effect
        ) as rupture_measures
    from adjusted
    group by all
),

final as (
    select
        f.period_type,
        f.period_start,
        f.journey,
        f.step,
        f.step_order,
        f.entered,
        f.ok,
        f.failed,
        f.abandoned,
        f.continued,
        (f.entered - f.continued - f.pending) / nullif(f.entered - f.pending, 0) as drop_off_rate,
        a.nps,
        a.csat,
        a.negative_emotion_rate,
        case when a.emotion_n > 0 then {
            'joy': a.joy / a.emotion_n,
            'surprise': a.surprise / a.emotion_n,
            'sadness': a.sadness / a.emotion_n,
            'fear': a.fear / a.emotion_n,
            'anger': a.anger / a.emotion_n,
            'disgust': a.disgust / a.emotion_n
        } end as emotion_mix,
        case when least(f.mot_n_failed, f.mot_n_ok) >= $moment_min_n
            then f.mot_nps_failed - f.mot_nps_ok
        end as moment_of_truth,
        coalesce(v.rupture_measures is not null, false) as rupture,
        coalesce(m.label_en, f.step) as label_en,
        coalesce(m.label_fr, f.step) as label_fr,
        f.final_step,
        f.recovered,
        f.pending,
        f.channel_switches,
        f.channel_switches / nullif(f.entered - f.continued - f.pending, 0) as channel_switch_rate,
        f.failed / f.entered as failure_rate,
        coalesce(a.nps_n, 0) as nps_n,
        coalesce(a.csat_n, 0) as csat_n,
        coalesce(a.emotion_n, 0) as emotion_n,
        f.mot_n_failed,
        f.mot_nps_failed,
        f.mot_n_ok,
        f.mot_nps_ok,
        coalesce(b.baseline_entered, 0) as baseline_entered,
        (b.baseline_entered - b.baseline_continued - b.baseline_pending)
        / nullif(b.baseline_entered - b.baseline_pending, 0) as baseline_drop_off_rate,
        b.baseline_failed / b.baseline_entered as baseline_failure_rate,
        v.rupture_q,
        v.rupture_measures,
        coalesce(j.journey_label_en, f.journey) as journey_label_en,
        coalesce(j.journey_label_fr, f.journey) as journey_label_fr
    from funnel as f
    inner join with_baseline as b using (period_type, period_start, journey, step)
    left join step_answers as a using (period_type, period_start, journey, step)
    left join verdicts as v using (period_type, period_start, journey, step)
    left join journey_map as m on m.journey = f.journey and m.step = f.step
    left join (select distinct journey, journey_label_en, journey_label_fr from journey_map) as j
        on j.journey = f.journey
    where (f.period_type, f.period_start) in (select (period_type, period_start) from rebuild_journey_periods)
)

select * from final
