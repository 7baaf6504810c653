-- The touchpoints near each answer of temp table lever_answers answered in [chunk_from, chunk_to) of
-- temp table lever_chunk: its customer's touchpoints (any event; answer_levers.sql keeps the contacts,
-- case openings and failed journey steps) from the start of its window ($answer_window_h before it) to
-- the end of the repeat window of a contact in it ($fcr_window_h after it), by row id. Only their
-- customer and time are read here (the other columns of the few near an answer are read by row id in
-- answer_levers.sql). transforms/drivers.py inserts them into temp table answer_touchpoints a time
-- chunk of answers at a time: a join of each chunk's answers with its touchpoints (their sargable
-- time range skips the other row groups) keeps the hash table small: at 10M events 0.8-1.0 CPU s in
-- two-month chunks against 1.7-3.9 for one join of every answer with every touchpoint.
with answers as (
    select response_id, customer_key, occurred_at, contact_id, case_id
    from lever_answers
    where occurred_at >= (select chunk_from from lever_chunk) and occurred_at < (select chunk_to from lever_chunk)
),

touch_keys as (
    select rowid as touch_row, customer_key, occurred_at
    from raw.touchpoints
    where occurred_at >= (select chunk_from from lever_chunk) - to_hours(cast($answer_window_h as bigint))
        and occurred_at <= (select chunk_to from lever_chunk) + to_hours(cast($fcr_window_h as bigint))
),

final as (
    select
        a.response_id,
        a.occurred_at as answered_at,
        a.contact_id as named_contact_id,
        a.case_id is not null as has_case,
        k.touch_row
    from answers as a
    inner join touch_keys as k
        on k.customer_key = a.customer_key
        and k.occurred_at >= a.occurred_at - to_hours(cast($answer_window_h as bigint))
        and k.occurred_at <= a.occurred_at + to_hours(cast($fcr_window_h as bigint))
)

select * from final
