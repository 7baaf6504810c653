-- The cases whose row changes (a case left without events has no rebuilt row), from temp table
-- rebuilt_cases (their new rows). The marts read cases through these rows only: a case whose row is
-- the same changes no mart. A case without a row in stored_cases changes: it is new, or its events on
-- changed days are new (they lie outside its stored span), which moves first_event_at or last_event_at.
create or replace temp table changed_case_ids as
select r.*
from rebuild_case_ids as r
left join rebuilt_cases as n on n.case_id = r.case_id
left join stored_cases as s on s.case_id = r.case_id
where s.case_id is null or n is distinct from s;

-- a stored row of a changed case starts at its stored_first_event_at: a sargable bound first
delete from staging.stg_cases
where first_event_at >= (select min(stored_first_event_at) from changed_case_ids)
    and case_id in (select case_id from changed_case_ids);

insert into staging.stg_cases by name
select * from rebuilt_cases where case_id in (select case_id from changed_case_ids);
