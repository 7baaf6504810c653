-- A full build (staging.stg_cases was just created whole): every case changes; the scopes read the
-- opening days of the changed cases from rebuilt_cases.
create or replace temp table rebuilt_cases as select case_id, day from staging.stg_cases;

create or replace temp table changed_case_ids as select * from rebuild_case_ids;
