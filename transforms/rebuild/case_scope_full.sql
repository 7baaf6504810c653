-- A full build: every case, over all its events.
create or replace temp table touched_case_events (case_id varchar, day date, occurred_at timestamptz);

insert into rebuild_case_ids
select case_id, min(occurred_at), max(occurred_at), null, null, null
from staging.stg_case_events
where case_id is not null
group by case_id;
