-- A full build: every local day with an event.
create or replace temp table changed_days as
select distinct staging.local_day(occurred_at) as day from raw.touchpoints
union
select distinct staging.local_day(occurred_at) from raw.surveys;
