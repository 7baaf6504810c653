-- A full build keeps nothing: the backlog runs from the first day, every day is counted.
create or replace temp table backlog_anchors (channel varchar, anchor_day date, anchor_backlog bigint);

create or replace temp table kept_active_customers (day date, channel varchar, active_customers bigint);
