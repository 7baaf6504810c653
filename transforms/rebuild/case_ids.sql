-- The cases to (re)build in staging.stg_cases, each with the range holding all its events: its stored
-- span (stored_*, NULL for a case new to the table) widened by its events on a changed day.
create or replace temp table rebuild_case_ids (
    case_id varchar, first_event_at timestamptz, last_event_at timestamptz,
    stored_first_event_at timestamptz, stored_last_event_at timestamptz, stored_day date);
