-- A full build keeps nothing: the backlog runs from the first day, every day is counted, every journey
-- baseline is computed.
create or replace temp table backlog_anchors (channel varchar, anchor_day date, anchor_backlog bigint);

create or replace temp table kept_active_customers (day date, channel varchar, active_customers bigint);

create or replace temp table kept_journey_baselines (
    period_type varchar, period_start date, journey varchar, step varchar,
    entered bigint, continued bigint, pending bigint, failed bigint
);
