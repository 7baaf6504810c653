-- One row per survey answer with an NPS or a CSAT in the periods of temp table rebuild_driver_periods,
-- joined to the interaction it follows, with its service levers (the predictors of marts.drivers) and,
-- per lever, whether it was at the catalogue's "good" level (`<lever>_ok`, the base of `performance`).
-- Built as temp table answer_levers by transforms/drivers.py, never stored: it is per answer (erasure
-- has nothing to chase), and the lever definitions of transforms/kpis.yaml (`drivers:`) describe each
-- column. Reads temp tables lever_answers (the answers, lever_answers.sql) and answer_touchpoints (the
-- touchpoints near each answer, by row id, answer_touchpoints.sql).
--
-- The interaction an answer follows: the customer's touchpoints within $answer_window_h hours before
-- the answer (its window). In it, the contact named by the answer's contact_id; for an answer linked to
-- no case and no contact, the customer's last contact of the window. An answer linked to a case
-- (case_id) takes the case as its interaction (stg_cases, whatever its age). A contact_id naming a
-- contact outside the window is not followed (the survey came too late to be about it).
--
-- A lever that does not apply to an answer is NULL (wait, handling time and FCR without a live contact;
-- effort without a CES; expectation gap without both csat and expected; the verbatim levers without an
-- analysed verbatim): marts.drivers correlates each pair of columns over the answers where both are present.
--
-- Verbatim levers (`topic_<topic>`, one per topic of transforms/verbatims/taxonomy.yaml, whose keys are
-- fixed): 1 when the answer's verbatim mentions the topic and its sentiment is negative (the analysis of
-- staging.verbatim_analysis has one sentiment per answer), else 0; NULL for an answer without a verbatim.
with answers as (
    select * from lever_answers
),

near as (
    select * from answer_touchpoints
),

-- The touchpoints that can make a lever: contacts, case openings and failed journey steps, read from
-- the raw rows as staging.stg_contacts and stg_case_events select them, for those near an answer only
-- (by row id: the scan skips the others)
touchpoints as (
    select
        rowid as touch_row,
        occurred_at,
        event_type,
        -- as in staging.stg_contacts (a case opening has no contact, outcome, wait nor handling time)
        case when event_type = 'contact' then contact_id end as contact_id,
        case when event_type = 'contact' then outcome end as outcome,
        case when event_type = 'contact' then wait_s end as wait_s,
        case when event_type = 'contact' and outcome = 'answered' then talk_s + hold_s + acw_s end as handle_s,
        reason,
        event_type = 'case_opened' and coalesce(is_complaint, false) as is_complaint
    from raw.touchpoints
    where rowid in (select touch_row from near)
        and (event_type in ('contact', 'case_opened') or (event_type = 'journey_step' and step_status = 'failed'))
),

near_touchpoints as (
    select
        n.response_id,
        n.named_contact_id,
        n.has_case,
        t.*,
        t.occurred_at <= n.answered_at
            and t.occurred_at >= n.answered_at - to_hours(cast($answer_window_h as bigint)) as in_window
    from near as n
    inner join touchpoints as t using (touch_row)
),

-- what each answer's window holds (answers with no touchpoint near have no row: 0 and NULL below)
window_summary as (
    select
        response_id,
        count(*) filter (where in_window and outcome = 'abandoned') as abandoned,
        count(*) filter (where in_window and is_complaint) as complaints,
        count(*) filter (where in_window and event_type in ('contact', 'case_opened')) as contacts,
        arg_max(contact_id, occurred_at) filter (where in_window and event_type = 'contact') as last_contact_id,
        count(*) filter (where in_window and event_type = 'journey_step') as failed,
        any_value(named_contact_id) as named_contact_id,
        bool_or(has_case) as has_case
    from near_touchpoints
    group by response_id
),

-- the live contact an answer follows: the one it names, else (no case link) the window's last one
contact_levers as (
    select
        w.response_id,
        t.outcome,
        t.wait_s,
        t.handle_s,
        t.occurred_at,
        t.reason
    from window_summary as w
    inner join near_touchpoints as t
        on t.response_id = w.response_id
        and t.in_window
        and t.event_type = 'contact'
        and t.contact_id = case
            when w.named_contact_id is not null then w.named_contact_id
            when not w.has_case then w.last_contact_id
        end
),

-- FCR as in kpi_service_daily: an answered contact is repeated when the same customer has another
-- contact or case_opened with the same reason strictly later and at most $fcr_window_h after it (all
-- of them are among the answer's near touchpoints: the contact is at most answer_window_h before it)
repeats as (
    select c.response_id, count(t.occurred_at) > 0 as repeated
    from contact_levers as c
    left join near_touchpoints as t
        on t.response_id = c.response_id
        and t.event_type in ('contact', 'case_opened')
        and t.reason = c.reason
        and t.occurred_at > c.occurred_at
        and t.occurred_at <= c.occurred_at + to_hours(cast($fcr_window_h as bigint))
    where c.outcome = 'answered'
    group by c.response_id
),

followed as (
    select c.*, r.repeated
    from contact_levers as c
    left join repeats as r using (response_id)
),

linked_cases as (
    select a.response_id, coalesce(c.is_complaint, false) as is_complaint
    from answers as a
    inner join staging.stg_cases as c using (case_id)
    where a.case_id is not null
),

-- the answers' analysed verbatims (transforms/verbatims/store.py): the verbatim levers
verbatim_levers as (
    select
        response_id,
        cast(negative and list_contains(topics, 'waiting') as integer) as topic_waiting,
        cast(negative and list_contains(topics, 'billing') as integer) as topic_billing,
        cast(negative and list_contains(topics, 'delivery') as integer) as topic_delivery,
        cast(negative and list_contains(topics, 'staff_attitude') as integer) as topic_staff_attitude,
        cast(negative and list_contains(topics, 'resolution') as integer) as topic_resolution,
        cast(negative and list_contains(topics, 'effort') as integer) as topic_effort,
        cast(negative and list_contains(topics, 'product') as integer) as topic_product,
        cast(negative and list_contains(topics, 'price') as integer) as topic_price,
        cast(negative and list_contains(topics, 'digital') as integer) as topic_digital,
        cast(negative and list_contains(topics, 'communication') as integer) as topic_communication,
        cast(negative and list_contains(topics, 'store') as integer) as topic_store,
        not (negative and list_contains(topics, 'waiting')) as topic_waiting_ok,
        not (negative and list_contains(topics, 'billing')) as topic_billing_ok,
        not (negative and list_contains(topics, 'delivery')) as topic_delivery_ok,
        not (negative and list_contains(topics, 'staff_attitude')) as topic_staff_attitude_ok,
        not (negative and list_contains(topics, 'resolution')) as topic_resolution_ok,
        not (negative and list_contains(topics, 'effort')) as topic_effort_ok,
        not (negative and list_contains(topics, 'product')) as topic_product_ok,
        not (negative and list_contains(topics, 'price')) as topic_price_ok,
        not (negative and list_contains(topics, 'digital')) as topic_digital_ok,
        not (negative and list_contains(topics, 'communication')) as topic_communication_ok,
        not (negative and list_contains(topics, 'store')) as topic_store_ok
    from (
        select response_id, topics, sentiment = 'negative' as negative
        from staging.verbatim_analysis
        where response_id in (select response_id from answers)
    )
),

final as (
    select
        a.response_id,
        a.occurred_at,
        a.day,
        a.channel,
        a.segment,
        a.nps,
        a.csat,
        case
            when a.case_id is not null then 'case'
            when a.contact_id is not null and c.response_id is not null then 'contact'
            when c.response_id is not null then 'window'
            else 'none'
        end as link,
        c.wait_s as wait,
        cast(coalesce(w.abandoned, 0) > 0 as integer) as abandonment,
        case when c.outcome = 'answered' then cast(not c.repeated as integer) end as first_contact_resolution,
        case when c.outcome = 'answered' then c.handle_s end as handling_time,
        a.ces as effort,
        a.csat - a.expected as expectation_gap,
        cast(coalesce(w.complaints, 0) > 0 or coalesce(lc.is_complaint, false) as integer) as complaint,
        greatest(coalesce(w.contacts, 0) - 1, 0) as repeat_contacts,
        coalesce(w.failed, 0) as failed_steps,
        c.wait_s <= $service_level_target_s as wait_ok,
        coalesce(w.abandoned, 0) = 0 as abandonment_ok,
        case when c.outcome = 'answered' then not c.repeated end as first_contact_resolution_ok,
        case when c.outcome = 'answered' then c.handle_s <= $aht_target_s end as handling_time_ok,
        a.is_easy as effort_ok,
        a.csat >= a.expected as expectation_gap_ok,
        not (coalesce(w.complaints, 0) > 0 or coalesce(lc.is_complaint, false)) as complaint_ok,
        coalesce(w.contacts, 0) <= 1 as repeat_contacts_ok,
        coalesce(w.failed, 0) = 0 as failed_steps_ok,
        v.* exclude (response_id)
    from answers as a
    left join window_summary as w using (response_id)
    left join followed as c using (response_id)
    left join linked_cases as lc using (response_id)
    left join verbatim_levers as v using (response_id)
)

select * from final
