-- The scopes of the marts' rows, defined once: 'all', 'channel:<c>', 'segment:<s>' (the `scope` column of
-- marts.progress_dashboard, marts.drivers and marts.experience_dimensions).

-- A channel's scope; the channel roll-up rows of the daily KPI tables (channel 'all') are scope 'all'.
create or replace macro staging.channel_scope(channel) as
    case when channel = 'all' then 'all' else 'channel:' || channel end;

create or replace macro staging.segment_scope(segment) as 'segment:' || segment;

-- The scope of a row of `group by grouping sets (..., (... channel), (... segment))`: the set grouped by
-- neither is 'all'. DuckDB binds grouping() where the macro is expanded, inside the caller's grouping sets.
create or replace macro staging.scope_of(channel, segment) as
    case
        when grouping(channel) = 0 then staging.channel_scope(channel)
        when grouping(segment) = 0 then staging.segment_scope(segment)
        else 'all'
    end;
